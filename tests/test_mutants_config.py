"""The config's batch arithmetic and limits on hand-worked values: which global batch a run of
one task or several tasks gets, each task's length limit, micro-batch and accumulation."""
from __future__ import annotations

import pytest

from trainer import config
from trainer.config import batch as B
from trainer.config.schema import PhaseConfig
from trainer.errors import EngineConfigError


def test_a_task_batch_applies_to_a_run_of_that_task_alone():
    cfg = config.Config()
    cfg.deepspeed.global_batch = 32
    phase = PhaseConfig(task_batch={"xquad": 16})
    assert B.phase_global_batch(cfg, phase, ["xquad"]) == 16
    # a multi-task run (xquad first) trains on the phase's batch, not xquad's own
    assert B.phase_global_batch(cfg, phase, ["xquad", "xnli"]) == 32
    assert B.phase_global_batch(cfg, phase, ["xnli"]) == 32
    assert B.phase_global_batch(cfg, phase, []) == 32
    phase.global_batch = 64
    assert B.phase_global_batch(cfg, phase, ["xquad", "xnli"]) == 64
    assert B.phase_global_batch(cfg, phase, ["xquad"]) == 16


def test_length_limits_by_task_and_kind():
    cfg = config.Config()
    cfg.data.max_length, cfg.data.qa_max_length = 128, 384
    cfg.data.task_max_length = {"tatoeba": 512}
    assert B.max_length_for(cfg, "xquad", "span") == 384
    assert B.max_length_for(cfg, "xnli", "classification") == 128
    assert B.max_length_for(cfg, "udpos", "tagging") == 128
    assert B.max_length_for(cfg, "tatoeba", "retrieval") == 512
    assert B.max_length_for(cfg, "tatoeba", "span") == 512  # the per-task limit wins over the kind


def test_phase_lr_falls_back_to_the_optimizer_lr():
    cfg = config.Config()
    cfg.optim.lr = 2e-5
    assert B.phase_lr(cfg, PhaseConfig()) == 2e-5
    assert B.phase_lr(cfg, PhaseConfig(lr=1e-4)) == 1e-4


def test_micro_batch_and_accumulation():
    assert B.micro_batch_for(8, 64, 2) == 8
    assert B.micro_batch_for(0, 64, 2) == 32
    for global_batch, world in ((63, 2), (0, 2), (-4, 2)):
        with pytest.raises(EngineConfigError, match=rf"^deepspeed\.micro_batch = 0 \(auto\) needs a global batch "
                                                    rf"divisible by the world size: {global_batch} over {world} ranks$"):
            B.micro_batch_for(0, global_batch, world)
    assert B.batch_arithmetic(64, 4, 2) == 8
    assert B.batch_arithmetic(8, 4, 2) == 1
    for g, m, w in ((60, 4, 2), (0, 4, 2), (64, 0, 2), (64, -4, 2)):
        with pytest.raises(EngineConfigError, match=rf"^deepspeed\.global_batch = {g} is not divisible by micro_batch "
                                                    rf"x world size = {m} x {w} = {m * w}$"):
            B.batch_arithmetic(g, m, w)


def _phase_config() -> config.Config:
    return config.from_dict({"phases": [{"name": "inter", "tasks": ["mnli"]}, {"name": "target", "tasks": ["xnli"]}]})


def test_field_docs_read_the_schema_docstrings():
    docs = config.field_docs()
    assert docs["optim.lr"] == "Peak learning rate (AdamW)."
    assert docs["phases[].lr"] == "Peak learning rate of this phase (0 = optim.lr)."
    assert docs["eval.perturb.kinds"].startswith("Noise scored after the clean pass: char_swap")


def test_describe_gives_every_key_its_value_and_doc_also_in_phases_and_nested_sections():
    text = config.describe(_phase_config())
    assert text.endswith("\n") and not text.endswith("\n\n") and not text.startswith("\n")
    lines = text.splitlines()
    for key, doc in (("phases.1.lr = 0.0", "Peak learning rate of this phase (0 = optim.lr)."),
                     ("phases.0.lr = 0.0", "Peak learning rate of this phase (0 = optim.lr)."),
                     ("optim.lr = 1e-05", "Peak learning rate (AdamW).")):
        assert lines[lines.index(key) + 1] == "    " + doc
    # a nested section is a heading, its keys follow with their own docs
    assert "eval.perturb:" in lines and not any(line.startswith("eval.perturb = ") for line in lines)
    at = lines.index("eval.perturb.kinds = []")
    assert lines[at + 1].startswith("    Noise scored after the clean pass: char_swap")


def test_dump_writes_indented_json_in_schema_order(tmp_path, monkeypatch):
    cfg = _phase_config()
    path = tmp_path / "a" / "config.json"
    config.dump(cfg, str(path))
    config.dump(cfg, str(path))  # the folder exists now: written again
    text = path.read_text()
    assert text.startswith('{\n  "run": {\n    "')
    keys = [line.split('"')[1] for line in text.splitlines() if line.startswith('  "')]
    assert keys == list(config.to_dict(cfg))  # the schema's order, not sorted
    assert keys != sorted(keys)
    monkeypatch.chdir(tmp_path)
    config.dump(cfg, "bare.json")  # no folder in the path: the current one
    assert (tmp_path / "bare.json").read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "bare.json"]  # no stray folder


def test_plan_runs_of_a_joint_and_a_per_task_phase():
    from trainer.config.phases import plan_runs

    cfg = config.Config()
    cfg.run.out = "/runs/r"
    exports = {"pretrained": "pretrained", "inter": "/runs/r/inter/export"}
    joint = PhaseConfig(name="inter", tasks=["mnli", "xquad", "tatoeba"], init="pretrained")
    (run,) = plan_runs(cfg, joint, exports)
    assert (run.name, run.phase, run.init, run.out) == ("inter", joint, "pretrained", "/runs/r/inter")
    assert [t.name for t in run.tasks] == ["mnli", "xquad"] and run.eval_tasks == []  # retrieval trains nothing
    assert (run.export_dir, run.ckpt_dir) == ("/runs/r/inter/export", "/runs/r/inter/checkpoints")
    target = PhaseConfig(name="target", tasks=["xquad", "mlqa", "tydiqa", "xnli"], init="inter", per_task=True)
    runs = plan_runs(cfg, target, exports)
    # one run per training group; the group's first task trains, the others are scored with it
    assert [(r.name, [t.name for t in r.tasks], [t.name for t in r.eval_tasks], r.out) for r in runs] == [
        ("target/squad_v1", ["xquad"], ["mlqa"], "/runs/r/target/squad_v1"),
        ("target/tydiqa", ["tydiqa"], [], "/runs/r/target/tydiqa"),
        ("target/xnli", ["xnli"], [], "/runs/r/target/xnli")]
    assert all(r.phase.name == "target" and r.phase.per_task and r.init == "/runs/r/inter/export" for r in runs)
    # each run trains with its target's own settings (Task.target_*): 2 epochs, QA at a batch of 16
    assert [(r.phase.epochs, r.phase.task_batch) for r in runs] == [(2.0, {"xquad": 16}), (2.0, {"tydiqa": 16}),
                                                                   (2.0, {})]


def test_the_smallest_batches_are_accepted():
    assert B.batch_arithmetic(8, 1, 2) == 4
    assert B.batch_arithmetic(1, 1, 1) == 1
    assert B.micro_batch_for(0, 1, 1) == 1


@pytest.mark.parametrize("text, value", [
    ("true", True), ("1", True), ("yes", True), ("on", True), ("YES", True), ("On", True),
    ("false", False), ("0", False), ("no", False), ("off", False), ("OFF", False), ("False", False)])
def test_boolean_overrides_take_the_usual_spellings(text, value):
    from trainer.config.load import _parse_cli_value

    assert _parse_cli_value(text, not value) is value


@pytest.mark.parametrize("text", ["2", "y", "", "truee"])
def test_other_boolean_spellings_are_refused(text):
    from trainer.config.load import _parse_cli_value

    with pytest.raises(config.ConfigError, match=rf"^expected true/false, got {text!r}$"):
        _parse_cli_value(text, True)


def test_overrides_of_numbers_lists_and_tables():
    from trainer.config.load import _parse_cli_value

    assert _parse_cli_value("3", 1) == 3 and type(_parse_cli_value("3", 1)) is int
    assert _parse_cli_value("3", 1.0) == 3.0 and type(_parse_cli_value("3", 1.0)) is float
    assert _parse_cli_value('["a", "b"]', []) == ["a", "b"]
    assert _parse_cli_value("a,,b", []) == ["a", "b"]  # a plain comma list, empty items dropped
    assert _parse_cli_value('{"a": 1}', {}) == {"a": 1}
    with pytest.raises(config.ConfigError, match=r"^expected JSON for a table, got 'a=1'$"):
        _parse_cli_value("a=1", {})
    assert _parse_cli_value("x", "s") == "x"


@pytest.mark.parametrize("given, want", [
    ("hub:wikiann", ("wikiann", None, "train")),
    ("hub:wikiann:{lang}", ("wikiann", "de", "train")),
    ("hub:wikiann::validation", ("wikiann", None, "validation")),
    ("hub:xtreme:PAN-X.{lang}:test", ("xtreme", "PAN-X.de", "test")),
])
def test_hub_sources_read_id_config_and_split(given, want):
    from trainer.config.validate import given_hub

    assert given_hub(given, "de") == want


@pytest.mark.parametrize("given", ["hub:", "hub::x", "hub:a:b:c:d"])
def test_malformed_hub_sources_are_refused(given):
    from trainer.config.validate import given_hub

    with pytest.raises(ValueError, match=rf"^expected hub:ID\[:CONFIG\[:SPLIT\]\], got {given!r}$"):
        given_hub(given, "de")


def test_overrides_in_a_raw_tree():
    from trainer.config.load import apply_override

    tree = {"phases": [{"name": "a", "tasks": ["xnli"]}, {"name": "b", "tasks": ["xnli"]}]}
    apply_override(tree, "phases.1.epochs", "3")
    apply_override(tree, "optim.lr", "2e-5")  # a section the recipe lacks is created
    apply_override(tree, "eval.perturb.rates", "[0.2]")
    assert tree["phases"][1]["epochs"] == 3 and type(tree["phases"][1]["epochs"]) is type(PhaseConfig().epochs)
    assert tree["optim"] == {"lr": 2e-5} and tree["eval"] == {"perturb": {"rates": [0.2]}}
    apply_override(tree, "optim.lr", "3e-5")  # a value already set is replaced, typed by the default
    assert tree["optim"]["lr"] == 3e-5
    with pytest.raises(config.ConfigError, match=r"^--phases\.2\.epochs: index 2 out of range$"):
        apply_override(tree, "phases.2.epochs", "3")
    for dotted, unknown in (("nosuch.key", "nosuch"), ("eval.nosuch.key", "eval.nosuch"),
                            ("eval.perturb.nosuch.x", "eval.perturb.nosuch")):
        with pytest.raises(config.ConfigError, match=rf"^unknown key {unknown}$"):
            apply_override(tree, dotted, "1")
    with pytest.raises(config.ConfigError, match=r"^--optim\.lr: could not convert string to float: 'x'$"):
        apply_override(tree, "optim.lr", "x")


@pytest.mark.parametrize("override, message", [
    ("--run.name.x=1", r"^run\.name: expected str, got dict \(\{'x': '1'\}\)$"),
    ("--run.seed.x.y=1", r"^unknown key run\.seed\.x$"),
])
def test_a_key_below_a_plain_value_is_a_config_error(override, message):
    # the override walks below a string or number: a ConfigError naming the key, not a crash
    with pytest.raises(config.ConfigError, match=message):
        config.load(None, [override])


def test_an_override_value_may_hold_an_equals_sign_and_unknown_keys_are_named():
    assert config.load(None, ["--run.name=a=b"]).run.name == "a=b"
    with pytest.raises(config.ConfigError, match=r"^unknown key nosuch \(known: "):
        config.from_dict({"nosuch": 1})


def _tables(fixed: dict, tasks=("xnli",)):
    phase = {"name": "p", "tasks": list(tasks)} if tasks else {"name": "p", "retrieval": ["tatoeba"]}
    return config.from_dict({"sampler": {"fixed": fixed}, "phases": [phase]})


def test_fixed_rates_in_the_config():
    assert _tables({"xnli": 0.0}).sampler.fixed == {"xnli": 0.0}  # 0 is a rate
    with pytest.raises(config.ConfigError, match=r"^sampler\.fixed: rates sum to 1; they must leave a share "
                                                 r"for the other tasks$"):
        _tables({"xnli": 0.5, "mlm": 0.5}, tasks=("xnli", "mlm"))
    with pytest.raises(config.ConfigError, match=r"^sampler\.fixed: \['mlm'\] not trained by any phase "
                                                 r"\(trained: pawsx, xnli\)$"):
        _tables({"mlm": 0.2}, tasks=("xnli", "pawsx"))
    with pytest.raises(config.ConfigError, match=r"^sampler\.fixed: \['mlm'\] not trained by any phase "
                                                 r"\(trained: none\)$"):
        _tables({"mlm": 0.2}, tasks=())


@pytest.mark.parametrize("tree, message", [
    ([1], r"^recipe: expected a table, got list$"),
    ({"optim": 3}, r"^optim: expected a table, got int$"),
    ({"phases": [{"name": "a", "tasks": ["xnli"]}, 5]}, r"^phases\.1: expected a table, got int$"),
    ({"phases": {"name": "a"}}, r"^phases: expected a list, got dict \(\{'name': 'a'\}\)$"),
    ({"optim": {"lr": True}}, r"^optim\.lr: expected float, got bool \(True\)$"),
    ({"eval": {"languages": "de"}}, r"^eval\.languages: expected a list, got str \('de'\)$"),
    ({"run": {"nosuch": 1}}, r"^unknown key run\.nosuch \(known: [a-z_]+(, [a-z_]+)+\)$"),
])
def test_tree_type_errors_name_the_key_and_both_types(tree, message):
    with pytest.raises(config.ConfigError, match=message):
        config.from_dict(tree)


def test_an_integer_is_taken_for_a_float_but_a_list_is_not_a_number():
    assert config.from_dict({"optim": {"lr": 1}}).optim.lr == 1.0
    assert type(config.from_dict({"optim": {"lr": 1}}).optim.lr) is float
