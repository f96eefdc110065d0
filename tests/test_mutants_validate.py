"""The config checks of trainer/config/validate.py, message by message: each refusal names its key
in a message checked in full, each bound is tried on both sides, each condition of an `or` alone.
Configs come from ``config.from_dict`` (the loaded path) or, for values the typed loader already
refuses (a boolean for a number), from a ``Config`` changed by hand and checked directly. Pure,
milliseconds each."""
from __future__ import annotations

import sys
import types

import pytest

from trainer import config
from trainer.config import Config, ConfigError, SlurmConfig, check_attack, check_perturb, check_slurm, time_seconds
from trainer.tasks import TASKS

NOT_A_SLURM_TIME = "is not a Slurm time (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)"
PATTERN_HELP = ("is not a valid pattern (it may hold {lang} and nothing else in braces; hub sources are "
                "hub:ID[:CONFIG[:SPLIT]])")


def refusal(data: dict) -> str:
    """The message ``config.from_dict(data)`` refuses ``data`` with."""
    with pytest.raises(ConfigError) as err:
        config.from_dict(data)
    return str(err.value)


def refused_by(check, *args) -> str:
    with pytest.raises(ConfigError) as err:
        check(*args)
    return str(err.value)


def attack_cfg(**change) -> Config:
    """A config with one attack kind on, ``change`` set on ``eval.attack`` as given (no type
    conversion), as tests/test_attack_io.py builds them."""
    cfg = Config()
    cfg.eval.attack.kinds = ["char_greedy"]
    for key, value in change.items():
        setattr(cfg.eval.attack, key, value)
    return cfg


def one_phase(**phase) -> dict:
    return {"phases": [{"name": "p", **phase}]}


# ---------------------------------------------------------------- enums and plain bounds


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_each_deepspeed_precision_is_accepted(precision):
    assert config.from_dict({"deepspeed": {"precision": precision}}).deepspeed.precision == precision


@pytest.mark.parametrize("kind", ["proportional", "capped", "temperature", "uniform"])
def test_each_sampler_kind_is_accepted(kind):
    assert config.from_dict({"sampler": {"kind": kind}}).sampler.kind == kind


def test_data_source_hub_is_accepted_and_another_is_refused_by_name():
    assert config.from_dict({"data": {"source": "hub"}}).data.source == "hub"
    assert refusal({"data": {"source": "s3"}}) == "data.source: expected local or hub, got 's3'"


def test_data_prefetch_of_minus_1_is_auto_and_minus_2_is_refused():
    assert config.from_dict({"data": {"prefetch": -1}}).data.prefetch == -1
    assert refusal({"data": {"prefetch": -2}}) == \
        "data.prefetch: expected -1 (auto), 0 (off) or a number of steps, got -2"


def test_a_negative_micro_batch_is_refused_and_0_means_auto():
    assert config.from_dict({"deepspeed": {"micro_batch": 0}}).deepspeed.micro_batch == 0
    assert refusal({"deepspeed": {"micro_batch": -1}}) == \
        "deepspeed.micro_batch: expected 0 (auto) or a positive number of rows, got -1"


def test_an_empty_model_name_needs_an_init_config():
    assert refusal({"model": {"name": ""}}) == "model.name: empty name needs model.init_config to build an encoder"
    cfg = config.from_dict({"model": {"name": "", "init_config": {"hidden_size": 64}}})
    assert cfg.model.init_config == {"hidden_size": 64}


# ---------------------------------------------------------------- the phase graph


def test_a_phase_without_a_name_is_refused():
    assert refusal({"phases": [{"tasks": ["xnli"]}]}) == "phases.0.name: every phase needs a name"


def test_an_unknown_init_lists_the_earlier_phases_sorted():
    data = {"phases": [{"name": "mid", "tasks": ["mnli"]}, {"name": "b", "tasks": ["squad_v1"], "init": "mid"},
                       {"name": "c", "init": "nowhere", "tasks": ["xnli"]}]}
    assert refusal(data) == "phases.2.init: 'nowhere' is not `pretrained` or an earlier phase (earlier: b, mid, pretrained)"


TASKLESS = ("a phase needs tasks to train (or only `retrieval`, to score its starting point; a phase with no "
            "tasks that a later phase starts from hands its starting point on)")


def test_a_phase_with_nothing_to_do_is_refused():
    assert refusal(one_phase()) == f"phases.0.tasks: {TASKLESS}"


def test_a_taskless_phase_that_no_later_phase_starts_from_is_refused():
    data = {"phases": [{"name": "a"}, {"name": "b", "init": "pretrained", "tasks": ["xnli"]}]}
    assert refusal(data) == f"phases.0.tasks: {TASKLESS}"


def test_a_taskless_phase_that_a_middle_phase_starts_from_is_accepted():
    data = {"phases": [{"name": "a"}, {"name": "b", "init": "a", "tasks": ["xnli"]},
                       {"name": "c", "init": "b", "tasks": ["mnli"]}]}
    assert [p.init for p in config.from_dict(data).phases] == ["pretrained", "a", "b"]


def test_a_phase_with_only_align_tasks_is_accepted():
    assert config.from_dict(one_phase(align=["tatoeba"])).phases[0].align == ["tatoeba"]


PARALLEL = "is not a task with parallel sentences (tatoeba, bucc2018, xnli, their XTREME-R and synthetic versions)"


@pytest.mark.parametrize("name", ["xquad", "no_such_task"])
def test_align_refuses_a_task_without_parallel_sentences_and_an_unknown_task(name):
    assert refusal(one_phase(tasks=["mnli"], align=[name])) == f"phases.0.align: {name!r} {PARALLEL}"


@pytest.mark.parametrize("name", ["tatoeba", "bucc2018", "xnli"])
def test_align_accepts_each_kind_of_parallel_task(name):
    assert config.from_dict(one_phase(tasks=["mnli"], align=[name])).phases[0].align == [name]


def test_tasks_that_train_nothing_in_a_joint_phase_are_named_together():
    assert refusal(one_phase(tasks=["mnli", "tatoeba", "bucc2018"])) == (
        "phases.0.tasks: tatoeba, bucc2018 train nothing: score them from the phase's export with `retrieval`")


def test_a_per_task_phase_refuses_retrieval():
    assert refusal(one_phase(tasks=["xnli"], per_task=True, retrieval=["tatoeba"])) == (
        "phases.0.retrieval: a per-task phase has one export per target; score retrieval from a joint phase "
        "(or a phase with no tasks)")


def test_a_per_task_phase_refuses_align():
    assert refusal(one_phase(tasks=["xnli"], per_task=True, align=["tatoeba"])) == (
        "phases.0.align: a per-task phase has one export per target; measure alignment on a joint phase "
        "(or a phase with no tasks)")


@pytest.mark.parametrize("dropout", [-1, 0, 0.5, 0.999])
def test_a_dropout_of_minus_1_or_in_0_1_is_accepted(dropout):
    assert config.from_dict({"model": {"dropout": dropout}}).model.dropout == dropout


@pytest.mark.parametrize("dropout", [1, 1.5, -0.5, -2])
def test_a_dropout_of_1_or_outside_is_refused(dropout):
    assert refusal({"model": {"dropout": dropout}}) == \
        f"model.dropout: expected -1 (the pretrained config's) or a rate in [0, 1), got {float(dropout)!r}"


def test_a_boolean_dropout_is_refused():
    cfg = Config()
    cfg.model.dropout = False
    assert refused_by(config.validate, cfg) == \
        "model.dropout: expected -1 (the pretrained config's) or a rate in [0, 1), got False"


TWO_PHASES = [{"name": "a", "tasks": ["xnli"]}, {"name": "b", "init": "a", "tasks": ["mnli"]}]


def test_run_until_a_phase_of_the_recipe_is_accepted():
    assert config.from_dict({"phases": TWO_PHASES, "run": {"until": "a"}}).run.until == "a"


def test_run_until_an_unknown_phase_lists_the_phases():
    assert refusal({"phases": TWO_PHASES, "run": {"until": "c"}}) == "run.until: no phase named 'c' (phases: a, b)"


def test_run_until_pretrained_is_refused():
    # `pretrained` is a phase's starting point, not a phase: stopping there would run every phase
    assert refusal({"phases": TWO_PHASES, "run": {"until": "pretrained"}}) == \
        "run.until: no phase named 'pretrained' (phases: a, b)"


def test_the_run_slurm_table_is_checked_under_slurm():
    assert refusal({"slurm": {"nodes": 0}}) == "slurm.nodes: expected at least 1, got 0"
    assert refusal({"slurm": {"time": "4h"}}) == f"slurm.time: '4h' {NOT_A_SLURM_TIME}"


# ---------------------------------------------------------------- languages, lengths, selection


def test_an_unknown_language_code_is_refused_listing_the_plain_codes_only():
    message = refusal({"eval": {"languages": ["de", "xx"]}})
    plain = sorted({code for t in TASKS.values() for code in t.languages if "-" not in code})
    assert {"de", "en", "sw", "zh"} <= set(plain)
    assert message == (f"eval.languages: unknown language code(s) ['xx']; tasks know {', '.join(plain)} "
                       f"(and MLQA pairs such as de-en)")
    listed = message.split("tasks know ")[1].split(" (and")[0]
    assert "-" not in listed and listed.startswith("af, ar, az, bg, bn, de, el, en, ")


def test_a_task_length_of_8_is_accepted_and_7_is_refused():
    assert config.from_dict({"data": {"task_max_length": {"xnli": 8}}}).data.task_max_length == {"xnli": 8}
    assert refusal({"data": {"task_max_length": {"xnli": 7}}}) == \
        "data.task_max_length.xnli: expected a number of tokens (at least 8), got 7"


@pytest.mark.parametrize("n", [16.0, True, "16"])
def test_a_task_length_that_is_not_an_integer_is_refused(n):
    assert refusal({"data": {"task_max_length": {"xnli": n}}}) == \
        f"data.task_max_length.xnli: expected a number of tokens (at least 8), got {n!r}"


def test_an_init_config_is_ignored_when_a_pretrained_name_is_given():
    cfg = config.from_dict({"model": {"name": "xlm-roberta-base", "init_config": {"max_position_embeddings": 64}},
                            "data": {"max_length": 128}})
    assert cfg.data.max_length == 128


def _built(arch: str, positions: int, max_length: int, **lengths) -> dict:
    return {"model": {"name": "", "arch": arch, "init_config": {"max_position_embeddings": positions}},
            "data": {"max_length": max_length, "task_max_length": lengths}}


def test_an_arch_without_a_position_offset_may_use_every_position():
    assert config.from_dict(_built("bert", 128, 128)).data.max_length == 128
    assert refusal(_built("bert", 128, 129)) == ("data.max_length = 129 exceeds what the model allows "
                                                 "(128 tokens: model.init_config.max_position_embeddings = 128)")


def test_roberta_archs_lose_two_positions_to_the_padding_offset():
    assert config.from_dict(_built("xlm-roberta", 130, 128, xnli=128)).data.task_max_length == {"xnli": 128}
    assert refusal(_built("xlm-roberta", 130, 128, xnli=129)) == (
        "data.task_max_length.xnli = 129 exceeds what the model allows "
        "(128 tokens: model.init_config.max_position_embeddings = 130)")


def test_patience_with_dev_evaluations_every_step_is_accepted():
    ev = config.from_dict({"eval": {"patience": 2, "every": 1, "select_best": True}}).eval
    assert (ev.patience, ev.every) == (2, 1)
    assert refusal({"eval": {"patience": 2, "every": 0, "select_best": True}}) == (
        "eval.patience = 2 stops on the English dev score: it needs eval.every > 0 (now 0) and "
        "eval.select_best = true (now True)")


# ---------------------------------------------------------------- per-task tables of a phase


def _per_task(**tables) -> dict:
    return one_phase(tasks=["mnli", "xnli"], per_task=True, **tables)


def test_an_unknown_task_in_a_task_table_lists_the_phase_tasks():
    assert refusal(_per_task(task_batch={"nope": 8})) == \
        "phases.0.task_batch.nope: unknown task (tasks of this phase: mnli, xnli)"


def test_a_float_task_batch_is_refused_but_float_epochs_and_rates_are_accepted():
    assert refusal(_per_task(task_batch={"xnli": 8.0})) == \
        "phases.0.task_batch.xnli: expected a positive number of rows, got 8.0"
    phase = config.from_dict(_per_task(task_batch={"xnli": 8}, task_epochs={"xnli": 1.5},
                                       task_lr={"xnli": 2e-5})).phases[0]
    assert (phase.task_batch, phase.task_epochs, phase.task_lr) == ({"xnli": 8}, {"xnli": 1.5}, {"xnli": 2e-5})


@pytest.mark.parametrize("key, what", [("task_batch", "number of rows"), ("task_epochs", "number of epochs"),
                                       ("task_lr", "learning rate")])
@pytest.mark.parametrize("n", [0, True, "8"])
def test_a_task_table_refuses_zero_booleans_and_text(key, what, n):
    assert refusal(_per_task(**{key: {"xnli": n}})) == f"phases.0.{key}.xnli: expected a positive {what}, got {n!r}"


# ---------------------------------------------------------------- task-keyed tables of the run


def _train_files(where) -> dict:
    return {"phases": [{"name": "p", "tasks": ["xnli"]}], "data": {"train_files": {"xnli": where}}}


@pytest.mark.parametrize("where", ["", "hub:", 5])
def test_an_empty_or_non_text_train_file_is_refused(where):
    assert refusal(_train_files(where)) == f"data.train_files.xnli: expected a path or hub:ID, got {where!r}"


@pytest.mark.parametrize("where", ["{lang}.jsonl", "rows", "tr/{lang}.tsv", "hub:org/xnli-{lang}:default:train"])
def test_a_plain_path_is_not_read_as_a_hub_source(where):
    assert config.from_dict(_train_files(where)).data.train_files == {"xnli": where}


@pytest.mark.parametrize("where, fields", [
    ("data/{lang[1]}.jsonl", "{lang[1]}"), ("hub:org/ds-{lang[2]}", "{lang[2]}"),
    ("data/{lang:{lang}}.jsonl", "{lang:{lang}}"), ("d/{lang!r}-{lang:>4}.tsv", "{lang!r}, {lang:>4}"),
    ("d/{}/{lang}.tsv", "{}"), ("d/{0}.tsv", "{0}"), ("d/{lang.upper}.tsv", "{lang.upper}")])
def test_a_pattern_field_other_than_a_plain_lang_is_refused(where, fields):
    # an index, attribute, conversion or format spec would hold for some language codes only
    assert refusal(_train_files(where)) == \
        f"data.train_files.xnli: {where!r} {PATTERN_HELP}: ValueError('fields other than {{lang}}: {fields}')"


# ---------------------------------------------------------------- torch.compile backends


def test_an_unknown_compile_backend_lists_the_known_ones_sorted(monkeypatch):
    import torch

    stand_in = types.ModuleType("torch._dynamo")
    stand_in.list_backends = lambda exclude_tags=("debug",): ["inductor", "eager", "aot_eager"]
    monkeypatch.setitem(sys.modules, "torch._dynamo", stand_in)
    monkeypatch.setattr(torch, "_dynamo", stand_in, raising=False)
    assert refusal({"model": {"compile": "inductr"}}) == \
        "model.compile: unknown torch.compile backend 'inductr' (known: aot_eager, eager, inductor; empty = off)"
    assert config.from_dict({"model": {"compile": "eager"}}).model.compile == "eager"


# ---------------------------------------------------------------- eval.perturb


def test_perturb_kinds_without_rates_are_refused():
    cfg = Config()
    cfg.eval.perturb.kinds, cfg.eval.perturb.rates = ["char_swap"], []
    assert refused_by(check_perturb, cfg) == "eval.perturb.rates: give at least one rate"


def test_code_switching_without_a_lexicon_is_refused():
    assert refusal({"eval": {"perturb": {"kinds": ["code_switch"]}}}) == \
        "eval.perturb.lexicon: code_switch needs a lexicon file"
    cfg = config.from_dict({"eval": {"perturb": {"kinds": ["code_switch"], "lexicon": "lex.tsv"}}})
    assert cfg.eval.perturb.lexicon == "lex.tsv"


def test_a_perturb_rate_outside_0_1_is_refused_with_the_noise_module_message():
    assert refusal({"eval": {"perturb": {"kinds": ["char_swap"], "rates": [1.5]}}}) == \
        "eval.perturb: perturbation rate must be in (0, 1], got 1.5"


# ---------------------------------------------------------------- eval.attack


def test_attack_kinds_without_budgets_are_refused():
    assert refused_by(check_attack, attack_cfg(budgets=[])) == \
        "eval.attack.budgets: give at least one budget (share of words, in (0, 1])"


def test_an_attack_kind_given_twice_is_refused():
    assert refused_by(check_attack, attack_cfg(kinds=["char_greedy", "char_greedy"])) == \
        "eval.attack: a kind or budget given twice (['char_greedy', 'char_greedy'], [0.2])"


def test_an_attack_budget_given_twice_is_refused():
    assert refused_by(check_attack, attack_cfg(budgets=[0.2, 0.5, 0.2])) == \
        "eval.attack: a kind or budget given twice (['char_greedy'], [0.2, 0.5, 0.2])"


def test_attack_max_examples_of_0_is_accepted_and_minus_1_refused():
    check_attack(attack_cfg(max_examples=0))
    assert refused_by(check_attack, attack_cfg(max_examples=-1)) == \
        "eval.attack.max_examples: expected an integer >= 0, got -1"


def test_attack_chunk_examples_of_1_is_accepted_and_0_refused_with_its_own_bound():
    check_attack(attack_cfg(chunk_examples=1))
    assert refused_by(check_attack, attack_cfg(chunk_examples=0)) == \
        "eval.attack.chunk_examples: expected an integer >= 1, got 0"


@pytest.mark.parametrize("key, bound", [("max_examples", 0), ("chunk_examples", 1)])
@pytest.mark.parametrize("value", [True, False, 2.0, "4"])
def test_attack_example_counts_refuse_booleans_floats_and_text(key, bound, value):
    assert refused_by(check_attack, attack_cfg(**{key: value})) == \
        f"eval.attack.{key}: expected an integer >= {bound}, got {value!r}"


@pytest.mark.parametrize("min_f1", [1, 1.0, 0.5, 1e-9])
def test_attack_min_f1_of_exactly_1_is_accepted(min_f1):
    check_attack(attack_cfg(min_f1=min_f1))


@pytest.mark.parametrize("min_f1", [0, 0.0, -0.5, 1.0000001, 1.5, 2, True, "0.5"])
def test_attack_min_f1_outside_0_1_or_not_a_number_is_refused(min_f1):
    assert refused_by(check_attack, attack_cfg(min_f1=min_f1)) == \
        f"eval.attack.min_f1: expected a number in (0, 1], got {min_f1!r}"


def test_code_mixing_attacks_without_a_lexicon_are_named_together():
    cfg = attack_cfg(kinds=["char_greedy", "codemix_greedy", "random_codemix"])
    assert refused_by(check_attack, cfg) == (
        "eval.attack.lexicon: codemix_greedy, random_codemix needs a bilingual dictionary (MUSE SRC-TGT.txt "
        "files or a concept<TAB>language<TAB>form lexicon)")


# ---------------------------------------------------------------- slurm


@pytest.mark.parametrize("key", ["gpus_per_node", "tasks_per_node", "cpus_per_task", "signal_s"])
def test_a_negative_slurm_count_is_refused_with_its_value(key):
    assert refused_by(check_slurm, SlurmConfig(**{key: -3}), "slurm") == f"slurm.{key}: expected 0 or more, got -3"
    check_slurm(SlurmConfig(**{key: 0}), "slurm")


@pytest.mark.parametrize("evaluate", ["after", "watch", "inline"])
def test_each_slurm_evaluate_mode_is_accepted(evaluate):
    check_slurm(SlurmConfig(evaluate=evaluate), "slurm")


@pytest.mark.parametrize("launcher", ["srun", "deepspeed"])
def test_each_slurm_launcher_is_accepted(launcher):
    check_slurm(SlurmConfig(launcher=launcher), "slurm")


def test_an_unknown_slurm_launcher_is_refused_by_name():
    assert refused_by(check_slurm, SlurmConfig(launcher="mpirun"), "slurm") == \
        "slurm.launcher: expected srun or deepspeed, got 'mpirun'"


def test_slurm_names_may_hold_upper_case_letters():
    check_slurm(SlurmConfig(partition="GPU-A100", account="Proj_X.1", mem="64G"), "slurm")
    assert refused_by(check_slurm, SlurmConfig(mem="64 G"), "slurm") == \
        "slurm.mem: '64 G' holds characters a Slurm name does not"


def test_slurm_times_are_checked_under_the_prefix_given():
    assert refused_by(check_slurm, SlurmConfig(time="4h"), "sweep.slurm") == f"sweep.slurm.time: '4h' {NOT_A_SLURM_TIME}"
    assert refused_by(check_slurm, SlurmConfig(eval_time="2h"), "slurm") == f"slurm.eval_time: '2h' {NOT_A_SLURM_TIME}"
    assert refused_by(check_slurm, SlurmConfig(eval_time="2h"), "sweep.slurm") == \
        f"sweep.slurm.eval_time: '2h' {NOT_A_SLURM_TIME}"


def test_sbatch_options_and_setup_lines_that_fit_are_accepted():
    check_slurm(SlurmConfig(options=["--qos=low", "-C a100"], setup=["module load cuda", "", "source env/bin/activate"]),
                "slurm")


@pytest.mark.parametrize("line", ["qos=low", "--qos=low\n--x", 5])
def test_a_bad_sbatch_option_is_refused(line):
    assert refused_by(check_slurm, SlurmConfig(options=["--ok", line]), "slurm") == \
        f"slurm.options.1: expected an sbatch option such as \"--qos=low\", got {line!r}"


@pytest.mark.parametrize("line", ["module load cuda\nrm -rf x", "\n", 5, None])
def test_a_setup_line_that_is_not_one_shell_line_is_refused(line):
    assert refused_by(check_slurm, SlurmConfig(setup=[line]), "slurm") == \
        f"slurm.setup.0: expected one shell line, got {line!r}"


# ---------------------------------------------------------------- Slurm time limits


def test_a_bad_time_names_slurm_time_by_default():
    assert refused_by(time_seconds, "4h") == f"slurm.time: '4h' {NOT_A_SLURM_TIME}"
    assert refused_by(time_seconds, "4h", "x.t") == f"x.t: '4h' {NOT_A_SLURM_TIME}"


@pytest.mark.parametrize("text", ["", "UNLIMITED", "unlimited", "Unlimited", "INFINITE", "infinite"])
def test_no_time_limit_in_any_case(text):
    assert time_seconds(text) is None


@pytest.mark.parametrize("text, seconds", [("7", 420), ("7:05", 425), ("2:03:04", 7384), ("1-2", 93600),
                                           ("1-2:03", 93780), ("1-2:03:04", 93784), ("0-0:0:9", 9)])
def test_each_slurm_time_format_in_seconds(text, seconds):
    assert time_seconds(text) == seconds


@pytest.mark.parametrize("where", ["data/{lang}/train-{lang}.jsonl", "hub:org/xnli-{lang}:{lang}:train", "plain.tsv"])
def test_a_pattern_of_plain_lang_fields_only_is_accepted(where):
    assert config.from_dict(_train_files(where)).data.train_files == {"xnli": where}
