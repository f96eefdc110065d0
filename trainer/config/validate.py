"""Checks of a typed config that need more than types: enums, the phase graph, lengths the
model allows, the task-keyed tables, noise settings and language codes. Each failure is a
``ConfigError`` naming the key, raised before any weights or data are loaded."""
from __future__ import annotations

import re
import string

from eval.attack import NEEDS_DICTIONARY, check_setting
from eval.perturb import settings
from trainer.config.schema import Config, SlurmConfig
from trainer.errors import ConfigError, UnknownTask
from trainer.tasks import TASKS, get_task


def validate(cfg: Config) -> None:
    """Checks that need more than types: enums, the phase graph, batch arithmetic."""
    if cfg.deepspeed.precision not in ("bf16", "fp16", "fp32"):
        raise ConfigError(f"deepspeed.precision: expected bf16, fp16 or fp32, got {cfg.deepspeed.precision!r}")
    if cfg.sampler.kind not in ("proportional", "capped", "temperature", "uniform"):
        raise ConfigError(f"sampler.kind: unknown sampler {cfg.sampler.kind!r}")
    if cfg.data.source not in ("local", "hub"):
        raise ConfigError(f"data.source: expected local or hub, got {cfg.data.source!r}")
    if cfg.data.pad_to_multiple_of < -1:
        raise ConfigError(f"data.pad_to_multiple_of: expected -1 (auto), 0 (off) or a positive "
                          f"multiple, got {cfg.data.pad_to_multiple_of}")
    if cfg.data.prefetch < -1:
        raise ConfigError(f"data.prefetch: expected -1 (auto), 0 (off) or a number of steps, "
                          f"got {cfg.data.prefetch}")
    if cfg.deepspeed.micro_batch < 0:
        raise ConfigError(f"deepspeed.micro_batch: expected 0 (auto) or a positive number of rows, "
                          f"got {cfg.deepspeed.micro_batch}")
    if not cfg.model.name and not cfg.model.init_config:
        raise ConfigError("model.name: empty name needs model.init_config to build an encoder")
    seen = {"pretrained"}
    for i, phase in enumerate(cfg.phases):
        if not phase.name:
            raise ConfigError(f"phases.{i}.name: every phase needs a name")
        if phase.name in seen:
            raise ConfigError(f"phases.{i}.name: duplicate phase name {phase.name!r}")
        if phase.init not in seen:
            raise ConfigError(f"phases.{i}.init: {phase.init!r} is not `pretrained` or an earlier phase "
                              f"(earlier: {', '.join(sorted(seen))})")
        used = any(later.init == phase.name for later in cfg.phases[i + 1:])
        if not phase.tasks and not phase.retrieval and not phase.align and not used:
            raise ConfigError(f"phases.{i}.tasks: a phase needs tasks to train (or only `retrieval`, "
                              f"to score its starting point; a phase with no tasks that a later phase "
                              f"starts from hands its starting point on)")
        if phase.heads not in ("carry", "fresh"):
            raise ConfigError(f"phases.{i}.heads: expected carry or fresh, got {phase.heads!r}")
        for name in phase.align:
            if not _known_task(name) or (get_task(name).kind, get_task(name).scorer) not in (
                    ("retrieval", "tatoeba"), ("retrieval", "bucc2018"), ("classification", "accuracy")):
                raise ConfigError(f"phases.{i}.align: {name!r} is not a task with parallel sentences "
                                  f"(tatoeba, bucc2018, xnli, their XTREME-R and synthetic versions)")
        if phase.per_task and phase.align:
            raise ConfigError(f"phases.{i}.align: a per-task phase has one export per target; measure "
                              f"alignment on a joint phase (or a phase with no tasks)")
        scored = [n for n in phase.tasks if _known_task(n) and not get_task(n).trainable]
        if scored and not phase.per_task:
            raise ConfigError(f"phases.{i}.tasks: {', '.join(scored)} train nothing: score them from the "
                              f"phase's export with `retrieval`")
        if phase.per_task and phase.retrieval:
            raise ConfigError(f"phases.{i}.retrieval: a per-task phase has one export per target; "
                              f"score retrieval from a joint phase (or a phase with no tasks)")
        seen.add(phase.name)
    if not (cfg.model.dropout == -1 or 0 <= cfg.model.dropout < 1) or isinstance(cfg.model.dropout, bool):
        raise ConfigError(f"model.dropout: expected -1 (the pretrained config's) or a rate in [0, 1), "
                          f"got {cfg.model.dropout!r}")
    if cfg.model.flat_unit not in FLAT_UNITS:
        raise ConfigError(f"model.flat_unit: expected one of {', '.join(FLAT_UNITS)}, got {cfg.model.flat_unit!r}")
    if cfg.model.flat_layers < 1:  # the loader has checked that it is an int
        raise ConfigError(f"model.flat_layers: expected a whole number of encoder layers >= 1, "
                          f"got {cfg.model.flat_layers!r}")
    if cfg.run.until and cfg.run.until not in {p.name for p in cfg.phases}:
        raise ConfigError(f"run.until: no phase named {cfg.run.until!r} (phases: {', '.join(p.name for p in cfg.phases)})")
    _check_languages(cfg)
    _check_lengths(cfg)
    _check_selection(cfg)
    _check_task_batch(cfg)
    _check_compile(cfg)
    check_perturb(cfg)
    check_attack(cfg)
    _check_task_tables(cfg)
    check_slurm(cfg.slurm, "slurm")


FLAT_UNITS = ("layer", "encoder")  # model.flat_unit (MultiTaskModel.flat_units)
# RoBERTa-family position ids start after the padding index: two positions are never usable.
POSITION_OFFSET = {"xlm-roberta": 2, "roberta": 2, "camembert": 2}


def _check_lengths(cfg: Config) -> None:
    """An encoder built from a config knows its longest input: refuse longer ``data.max_length``
    (or a longer per-task length) here rather than fail in the embedding lookup of the first long
    batch. Per-task lengths are keyed by known tasks and are positive integers."""
    for task, n in cfg.data.task_max_length.items():
        if task not in TASKS:
            raise ConfigError(f"data.task_max_length.{task}: unknown task")
        if isinstance(n, bool) or not isinstance(n, int) or n < 8:
            raise ConfigError(f"data.task_max_length.{task}: expected a number of tokens (at least 8), got {n!r}")
    positions = cfg.model.init_config.get("max_position_embeddings") if not cfg.model.name else None
    if not isinstance(positions, int):
        return
    limit = positions - POSITION_OFFSET.get(cfg.model.arch, 0)
    longest = [("data.max_length", cfg.data.max_length)] + [
        (f"data.task_max_length.{t}", n) for t, n in cfg.data.task_max_length.items()]
    for key, n in longest:
        if n > limit:
            raise ConfigError(f"{key} = {n} exceeds what the model allows "
                              f"({limit} tokens: model.init_config.max_position_embeddings = {positions})")


def _check_selection(cfg: Config) -> None:
    """Early stopping needs dev evaluations to count and a best checkpoint to export."""
    ev = cfg.eval
    for key in ("patience", "dev_subset"):
        if getattr(ev, key) < 0:
            raise ConfigError(f"eval.{key}: expected 0 or more, got {getattr(ev, key)}")
    if ev.patience and (ev.every <= 0 or not ev.select_best):
        raise ConfigError(f"eval.patience = {ev.patience} stops on the English dev score: it needs "
                          f"eval.every > 0 (now {ev.every}) and eval.select_best = true (now {ev.select_best})")


def _check_task_batch(cfg: Config) -> None:
    for i, phase in enumerate(cfg.phases):
        for key in ("task_batch", "task_lr"):
            if getattr(phase, key) and not phase.per_task:
                raise ConfigError(f"phases.{i}.{key}: only a per-task phase has one run per task")
        # a table may name tasks the phase does not train (one recipe, several target lists:
        # a sweep's targets), but only tasks that exist: a misspelt key would do nothing
        for key, value in [*(("task_batch", kv) for kv in phase.task_batch.items()),
                           *(("task_epochs", kv) for kv in phase.task_epochs.items()),
                           *(("task_lr", kv) for kv in phase.task_lr.items())]:
            task, n = value
            if not _known_task(task):
                raise ConfigError(f"phases.{i}.{key}.{task}: unknown task (tasks of this phase: "
                                  f"{', '.join(phase.tasks)})")
            integer = key == "task_batch"
            if isinstance(n, bool) or not isinstance(n, (int if integer else (int, float))) or n <= 0:
                what = {"task_batch": "number of rows", "task_epochs": "number of epochs",
                        "task_lr": "learning rate"}[key]
                raise ConfigError(f"phases.{i}.{key}.{task}: expected a positive {what}, got {n!r}")


def _known_task(name: str) -> bool:
    try:
        get_task(name)
    except UnknownTask:
        return False
    return True


def _check_compile(cfg: Config) -> None:
    if not cfg.model.compile:
        return
    import torch._dynamo

    known = torch._dynamo.list_backends(exclude_tags=())
    if cfg.model.compile not in known:
        raise ConfigError(f"model.compile: unknown torch.compile backend {cfg.model.compile!r} "
                          f"(known: {', '.join(sorted(known))}; empty = off)")


def _check_task_tables(cfg: Config) -> None:
    """``sampler.fixed`` and ``data.train_files`` are keyed by task: a key that no phase trains
    would silently do nothing, so it is refused."""
    trained = {t for p in cfg.phases for t in p.tasks}
    for section, table in (("sampler.fixed", cfg.sampler.fixed), ("data.train_files", cfg.data.train_files)):
        unknown = sorted(set(table) - trained)
        if unknown and cfg.phases:
            raise ConfigError(f"{section}: {unknown} not trained by any phase "
                              f"(trained: {', '.join(sorted(trained)) or 'none'})")
    for task, rate in cfg.sampler.fixed.items():
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ConfigError(f"sampler.fixed.{task}: expected a rate in [0, 1), got {rate!r}")
    if sum(cfg.sampler.fixed.values()) >= 1:
        raise ConfigError(f"sampler.fixed: rates sum to {sum(cfg.sampler.fixed.values()):g}; "
                          f"they must leave a share for the other tasks")
    for task, where in cfg.data.train_files.items():
        if not isinstance(where, str) or not where or where in ("hub:",):
            raise ConfigError(f"data.train_files.{task}: expected a path or hub:ID, got {where!r}")
        try:  # a bad pattern fails here, not when the data is loaded
            _only_lang_fields(where)
            given_hub(where, "xx") if where.startswith("hub:") else where.format(lang="xx")
        except (KeyError, IndexError, ValueError) as e:
            raise ConfigError(f"data.train_files.{task}: {where!r} is not a valid pattern "
                              f"(it may hold {{lang}} and nothing else in braces; hub sources are "
                              f"hub:ID[:CONFIG[:SPLIT]]): {e!r}") from None


def _only_lang_fields(pattern: str) -> None:
    """Raise ValueError when ``pattern`` holds a replacement field other than a plain ``{lang}``
    (an index, attribute, conversion or format spec would depend on the language code)."""
    fields = {"{" + name + ("!" + conv if conv else "") + (":" + spec if spec else "") + "}"
              for _, name, spec, conv in string.Formatter().parse(pattern) if name is not None}
    if fields - {"{lang}"}:
        raise ValueError(f"fields other than {{lang}}: {', '.join(sorted(fields - {'{lang}'}))}")


def given_hub(given: str, lang: str) -> tuple[str, str | None, str]:
    """``hub:ID[:CONFIG[:SPLIT]]`` -> (ID, CONFIG or None, SPLIT or "train"), {lang} filled."""
    parts = given[len("hub:"):].format(lang=lang).split(":")
    if not parts[0] or len(parts) > 3:
        raise ValueError(f"expected hub:ID[:CONFIG[:SPLIT]], got {given!r}")
    return parts[0], (parts[1] or None) if len(parts) > 1 else None, parts[2] if len(parts) > 2 else "train"


def check_perturb(cfg: Config) -> None:
    """Unknown noise kinds, rates outside (0, 1] and code-switching without a lexicon fail here,
    before any model is loaded."""
    pc = cfg.eval.perturb
    try:
        settings(pc.kinds, [float(r) for r in pc.rates], pc.seed)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"eval.perturb: {err}") from None
    if pc.kinds and not pc.rates:
        raise ConfigError("eval.perturb.rates: give at least one rate")
    if "code_switch" in pc.kinds and not pc.lexicon:
        raise ConfigError("eval.perturb.lexicon: code_switch needs a lexicon file")


def check_attack(cfg: Config) -> None:
    """Unknown attack kinds, budgets outside (0, 1], a query cap that is not a positive integer
    and code-mixing without a dictionary fail here, before any rank loads a model."""
    ac = cfg.eval.attack
    if not ac.kinds:
        return
    if not ac.budgets:
        raise ConfigError("eval.attack.budgets: give at least one budget (share of words, in (0, 1])")
    for kind in ac.kinds:
        for budget in ac.budgets:
            try:
                check_setting(kind, budget, ac.max_queries)
            except ValueError as err:
                raise ConfigError(f"eval.attack: {err}") from None
    if len(set(ac.kinds)) != len(ac.kinds) or len(set(ac.budgets)) != len(ac.budgets):
        raise ConfigError(f"eval.attack: a kind or budget given twice ({ac.kinds}, {ac.budgets})")
    for key in ("max_examples", "chunk_examples"):
        value = getattr(ac, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "chunk_examples" else 0):
            raise ConfigError(f"eval.attack.{key}: expected an integer >= "
                              f"{1 if key == 'chunk_examples' else 0}, got {value!r}")
    if isinstance(ac.min_f1, bool) or not isinstance(ac.min_f1, (int, float)) or not 0 < ac.min_f1 <= 1:
        raise ConfigError(f"eval.attack.min_f1: expected a number in (0, 1], got {ac.min_f1!r}")
    needs = [k for k in ac.kinds if k in NEEDS_DICTIONARY]
    if needs and not ac.lexicon:
        raise ConfigError(f"eval.attack.lexicon: {', '.join(needs)} needs a bilingual dictionary (MUSE "
                          f"SRC-TGT.txt files or a concept<TAB>language<TAB>form lexicon)")


def _check_languages(cfg: Config) -> None:
    """``eval.languages`` filters every task's languages; an unknown code would silently match
    nothing, so it is refused."""
    if not cfg.eval.languages:
        return
    known = set().union(*(t.languages for t in TASKS.values()))
    unknown = [code for code in cfg.eval.languages if code not in known]
    if unknown:
        plain = sorted(code for code in known if "-" not in code)
        raise ConfigError(f"eval.languages: unknown language code(s) {unknown}; tasks know "
                          f"{', '.join(plain)} (and MLQA pairs such as de-en)")


# Slurm's time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S
_TIME = re.compile(r"^(?:(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?|(\d+)(?::(\d+)(?::(\d+))?)?)$")


def time_seconds(text: str, key: str = "slurm.time") -> int | None:
    """A Slurm time limit in seconds (None: empty, or UNLIMITED)."""
    if not text or text.upper() in ("UNLIMITED", "INFINITE"):
        return None
    m = _TIME.match(text.strip())
    if not m:
        raise ConfigError(f"{key}: {text!r} is not a Slurm time (minutes, MM:SS, HH:MM:SS, D-HH, "
                          f"D-HH:MM or D-HH:MM:SS)")
    d, h, mi, sec, m1, m2, m3 = (int(g) if g else 0 for g in m.groups())
    if m.group(1) is not None:
        return ((d * 24 + h) * 60 + mi) * 60 + sec
    if m.group(7) is not None:  # H:M:S
        return (m1 * 60 + m2) * 60 + m3
    return m1 * 60 + m2  # M or M:S


def check_slurm(sc: SlurmConfig, prefix: str) -> None:
    """The `[slurm]` table of a recipe or sweep: every value goes into a batch script, so
    anything that would break one (or be signalled at its start) is refused here."""
    for key in ("nodes",):
        if getattr(sc, key) < 1:
            raise ConfigError(f"{prefix}.{key}: expected at least 1, got {getattr(sc, key)}")
    for key in ("gpus_per_node", "tasks_per_node", "cpus_per_task", "signal_s"):
        if getattr(sc, key) < 0:
            raise ConfigError(f"{prefix}.{key}: expected 0 or more, got {getattr(sc, key)}")
    if sc.evaluate not in ("after", "watch", "inline"):
        raise ConfigError(f"{prefix}.evaluate: expected after, watch or inline, got {sc.evaluate!r}")
    if sc.launcher not in ("srun", "deepspeed"):
        raise ConfigError(f"{prefix}.launcher: expected srun or deepspeed, got {sc.launcher!r}")
    for key in ("partition", "account", "mem"):
        value = getattr(sc, key)
        if value and not re.fullmatch(r"[A-Za-z0-9_.,:+-]+", value):
            raise ConfigError(f"{prefix}.{key}: {value!r} holds characters a Slurm name does not")
    limit = time_seconds(sc.time, f"{prefix}.time")
    time_seconds(sc.eval_time, f"{prefix}.eval_time")
    if limit is not None and sc.signal_s >= limit:
        raise ConfigError(f"{prefix}.signal_s = {sc.signal_s} is not below {prefix}.time = {sc.time} "
                          f"({limit} s): the job would be told to stop as it starts")
    for key, must_start in (("options", "-"), ("setup", "")):
        for i, line in enumerate(getattr(sc, key)):
            if not isinstance(line, str) or "\n" in line or not line.startswith(must_start):
                what = "an sbatch option such as \"--qos=low\"" if must_start else "one shell line"
                raise ConfigError(f"{prefix}.{key}.{i}: expected {what}, got {line!r}")
