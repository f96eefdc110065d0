"""The run configuration: one typed tree, loaded from one recipe file plus CLI overrides.

Precedence is CLI > recipe file > defaults. Unknown keys and wrong types raise ``ConfigError``
naming the key. The resolved tree is written to the run folder and into every checkpoint.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import typing
from dataclasses import dataclass, field
from typing import Any
from trainer.errors import ConfigError


@dataclass
class RunConfig:
    name: str = "run"
    """Run name, shown in logs and reports."""
    out: str = "runs/run"
    """Run folder: resolved config, checkpoints, exports, TensorBoard logs, results."""
    seed: int = 42
    """Seed for weights of new heads, data order and task sampling (same on every rank)."""
    log_every: int = 10
    """Optimizer steps between logged scalars (losses are read from the device only then)."""


@dataclass
class ModelConfig:
    name: str = "xlm-roberta-large"
    """Pretrained encoder: a hub id or a local folder. Empty: build from `init_config`."""
    tokenizer: str = ""
    """Tokenizer hub id or folder; empty means the same as `name`."""
    arch: str = "xlm-roberta"
    """Model type for encoders built from a config (`name` empty)."""
    init_config: dict = field(default_factory=dict)
    """Config fields of an encoder built from scratch (random weights, no download)."""
    retrieval_layer: int = 14
    """Hidden layer whose mean-pooled states embed sentences for retrieval (14 of 24 for XLM-R Large)."""
    attn_implementation: str = "sdpa"
    """Attention kernel passed to transformers (sdpa, eager)."""
    trust_remote_code: bool = False
    """Allow model code from the hub; off unless the recipe turns it on."""
    reuse_heads: bool = True
    """When a phase starts from an export, load the heads whose names match."""
    first_token_shortcut: bool = True
    """Sentence-level heads (classification, multiple choice) read only the first token: compute
    the last layer for that token alone (same loss and gradients, less work)."""
    compile: str = ""
    """torch.compile backend for the encoder layers in training ("" = off; "inductor" on a GPU).
    Each layer is compiled in place, so parameter names and checkpoints are unchanged; one
    compilation serves every layer, and lengths that change between batches get one kernel for
    dynamic lengths after the first change."""


@dataclass
class DataConfig:
    root: str = "data"
    """Root folder of local data files in their released formats."""
    source: str = "local"
    """Where task data comes from: `local` (files under `root`) or `hub` (datasets hub ids)."""
    cache_dir: str = ""
    """Tokenized-data cache; empty means `<run.out>/cache`."""
    synthetic: bool = False
    """Generate the synthetic multilingual suite under `root` before loading (the demo)."""
    synthetic_seed: int = 0
    """Seed of the generated suite: a fixed data set, whatever `run.seed` trains it with."""
    max_length: int = 128
    """Maximum tokens of sentence, pair, choice and tagging inputs."""
    qa_max_length: int = 384
    """Maximum tokens of an extractive-QA window."""
    doc_stride: int = 128
    """Overlap of QA windows, in tokens."""
    max_query_length: int = 64
    """Maximum tokens of a QA question."""
    max_train_examples: int = 0
    """Cap on training examples per task (0 = all)."""
    max_eval_examples: int = 0
    """Cap on evaluation examples per task and language (0 = all)."""
    skip_bad_rows: bool = False
    """Count and log malformed rows instead of stopping at the first one."""
    group_by_length: bool = True
    """Form batches of similar length within a task (less padding)."""
    pad_to_multiple_of: int = -1
    """Round the padded length of training and evaluation batches up to a multiple (0 = off;
    -1 = auto: 8 on GPU, where every new batch shape costs kernel selection and allocation,
    off on CPU)."""
    prefetch: int = -1
    """Training steps whose batches are read, collated and (on GPU) pinned ahead, in a background
    thread (0 = off; -1 = auto: 1 on GPU, off on CPU, where the cores are busy with the step)."""
    mlm_probability: float = 0.15
    """Share of tokens masked for MLM tasks."""
    train_files: dict = field(default_factory=dict)
    """Training data of a task from elsewhere: {task = "path"} (relative to `root`; {lang} allowed)
    or {task = "hub:ID[:CONFIG[:SPLIT]]"}, e.g. {mlm = "/corpora/cc100.txt"}."""


@dataclass
class SamplerConfig:
    kind: str = "proportional"
    """Task sampling: proportional, capped, temperature or uniform."""
    cap: int = 0
    """Size cap for `capped` and `temperature` (0 = none)."""
    temperature: float = 1.0
    """T in p_i ∝ min(n_i, cap)^(1/T)."""
    fixed: dict = field(default_factory=dict)
    """Tasks drawn at a set rate regardless of size, e.g. {mlm_cc100 = 0.2}."""


@dataclass
class OptimConfig:
    lr: float = 1e-5
    """Peak learning rate (AdamW)."""
    weight_decay: float = 0.01
    """Weight decay, not applied to biases and LayerNorm weights."""
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    """AdamW betas."""
    eps: float = 1e-8
    """AdamW epsilon."""
    warmup_ratio: float = 0.1
    """Share of steps with linear warm-up, followed by linear decay to zero."""
    clip: float = 1.0
    """Gradient-norm clipping."""


@dataclass
class DeepSpeedConfig:
    config: str = "ds_configs/zero2_bf16.json"
    """DeepSpeed JSON with engine knobs; its "auto" keys are filled from this recipe."""
    precision: str = "bf16"
    """bf16, fp16 (GPU only) or fp32."""
    micro_batch: int = 8
    """Examples per rank per forward pass; 0 = auto: the global batch over the ranks, one
    micro-batch per step (no accumulation)."""
    global_batch: int = 32
    """Examples per optimizer step over all ranks = micro_batch x accumulation x world size."""
    backend: str = ""
    """Process-group backend; empty: nccl on GPU, gloo on CPU."""
    timeout_s: int = 300
    """Timeout of every collective, the ZeRO gradient groups included."""
    watchdog_s: int = 900
    """A step (or evaluation) that makes no progress this long ends the job with an error."""
    cpu_shm_comm: bool = False
    """On CPU, use DeepSpeed's shared-memory all-reduce (JIT-compiled at first start)."""
    max_nonfinite_steps: int = 20
    """Consecutive skipped (non-finite) steps after which the run stops."""


@dataclass
class CheckpointConfig:
    every: int = 0
    """Optimizer steps between checkpoints (0 = at the end of each phase only)."""
    keep_last: int = 2
    """Checkpoints kept besides the best one."""
    resume: bool = False
    """Continue from the latest checkpoint of each unfinished phase."""


@dataclass
class TrackingConfig:
    tensorboard: bool = True
    """Write TensorBoard logs under `<run.out>/tb` (rank 0 only)."""


@dataclass
class PerturbConfig:
    kinds: list = field(default_factory=list)
    """Noise scored after the clean pass: char_swap, char_drop, char_insert, keyboard, word_drop, word_shuffle, code_switch (empty = off)."""
    rates: list = field(default_factory=lambda: [0.1])
    """Chance that each word is touched; every kind at every rate is one setting."""
    seed: int = 0
    """Seed of the noise (per example: the same sets whatever the ranks)."""
    lexicon: str = ""
    """concept<TAB>language<TAB>form file for code_switch (relative to data.root), e.g. synth/lexicon.tsv."""
    switch_to: str = "en"
    """Language that code-switched words are replaced with."""


@dataclass
class EvalConfig:
    split: str = "test"
    """Split scored zero-shot after target fine-tuning."""
    languages: list = field(default_factory=list)
    """Restrict zero-shot evaluation to these languages (empty = all of each task)."""
    batch_size: int = 64
    """Examples per evaluation forward pass."""
    chunk_tokens: int = 32768
    """Tokens per evaluation work item, the unit spread over ranks (0 = one item per language)."""
    every: int = 0
    """Optimizer steps between English dev evaluations for model selection (0 = none)."""
    select_best: bool = False
    """Export the checkpoint with the best English dev score instead of the last."""
    n_best: int = 20
    """QA: candidate starts and ends searched per window."""
    max_answer_length: int = 30
    """QA: longest answer span in tokens."""
    perturb: PerturbConfig = field(default_factory=PerturbConfig)
    """Robustness: target sets scored again under noise (`xstilts evaluate`; see eval/perturb.py)."""


@dataclass
class PhaseConfig:
    name: str = ""
    """Phase name; later phases name it in `init`."""
    tasks: list = field(default_factory=list)
    """Tasks trained in this phase (together, or one run per training group if `per_task`)."""
    init: str = "pretrained"
    """Start from `pretrained` or from an earlier phase's export."""
    per_task: bool = False
    """Target fine-tuning: one run per training group, each scored zero-shot on all languages."""
    epochs: float = 1.0
    """Passes over the (sampled) training data; ignored when `max_steps` > 0."""
    max_steps: int = 0
    """Optimizer steps of the phase (0 = from `epochs`)."""
    task_epochs: dict = field(default_factory=dict)
    """Per-task epochs of a per-task phase, e.g. {udpos = 10, tydiqa = 15}; others use `epochs`."""
    lr: float = 0.0
    """Peak learning rate of this phase (0 = optim.lr)."""
    global_batch: int = 0
    """Global batch of this phase (0 = deepspeed.global_batch)."""
    evaluate: bool = False
    """Score each task zero-shot on every language after this phase."""
    retrieval: list = field(default_factory=list)
    """Retrieval tasks (bucc2018, tatoeba) scored from this phase's export."""


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    deepspeed: DeepSpeedConfig = field(default_factory=DeepSpeedConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    phases: list = field(default_factory=list)
    """The phase graph, in order (list of PhaseConfig)."""


LIST_ITEM_TYPES = {("Config", "phases"): PhaseConfig}


def _check_scalar(value: Any, typ: Any, key: str) -> Any:
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ in (int, float, str, bool) and (type(value) is not typ):
        raise ConfigError(f"{key}: expected {typ.__name__}, got {type(value).__name__} ({value!r})")
    if typ in (list, dict) and not isinstance(value, typ):
        raise ConfigError(f"{key}: expected a {typ.__name__}, got {type(value).__name__} ({value!r})")
    return value


def _build(cls: type, data: dict, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'recipe'}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"unknown key {where}{unknown[0]} (known: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        typ = hints[name]
        if dataclasses.is_dataclass(typ):
            kwargs[name] = _build(typ, value, key)
        elif (cls.__name__, name) in LIST_ITEM_TYPES:
            item = LIST_ITEM_TYPES[(cls.__name__, name)]
            _check_scalar(value, list, key)
            kwargs[name] = [_build(item, v, f"{key}.{i}") for i, v in enumerate(value)]
        else:
            kwargs[name] = _check_scalar(value, typ, key)
    return cls(**kwargs)


def build_table(cls: type, data: dict, prefix: str = "") -> Any:
    """Any config dataclass from a TOML table, with the checks of the run config (unknown keys
    and wrong types raise ConfigError naming the key); sweep specs use it."""
    return _build(cls, data, prefix)


def _parse_cli_value(text: str, current: Any) -> Any:
    """Parse an override against the type of the value it replaces."""
    if isinstance(current, bool):
        if text.lower() in ("true", "1", "yes", "on"):
            return True
        if text.lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"expected true/false, got {text!r}")
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        return float(text)
    if isinstance(current, (list, dict)):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            if isinstance(current, list):
                return [t for t in text.split(",") if t]
            raise ConfigError(f"expected JSON for a table, got {text!r}") from None
    return text


def apply_override(tree: dict, dotted: str, text: str) -> None:
    """Set ``a.b.c=value`` (list items by index: ``phases.1.epochs=3``) in a raw dict tree."""
    defaults = to_dict(Config())
    parts = dotted.split(".")
    node, ref = tree, defaults
    for i, part in enumerate(parts[:-1]):
        key = int(part) if part.isdigit() else part
        if isinstance(node, list):
            if key >= len(node):
                raise ConfigError(f"--{dotted}: index {key} out of range")
            node, ref = node[key], to_dict(PhaseConfig())
            continue
        if key not in node:
            if not isinstance(ref, dict) or key not in ref:
                raise ConfigError(f"unknown key {'.'.join(parts[:i + 1])}")
            node[key] = {}
        node, ref = node[key], (ref.get(key) if isinstance(ref, dict) else None)
    last = parts[-1]
    if isinstance(ref, dict) and last not in ref:
        raise ConfigError(f"unknown key {dotted}")
    current = node.get(last, ref.get(last) if isinstance(ref, dict) else None)
    try:
        node[last] = _parse_cli_value(text, current)
    except ValueError as err:
        raise ConfigError(f"--{dotted}: {err}") from None


def read_toml(path: str, what: str = "recipe", error: type[Exception] = ConfigError) -> dict:
    """A TOML file as a dict; a missing file or a syntax error raises ``error`` naming the file
    (and, for syntax, the line and column)."""
    if not os.path.isfile(path):
        raise error(f"{what} not found: {path}")
    with open(path, "rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as err:
            raise error(f"{path}: {err}") from None


def load(path: str | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a recipe (TOML) and apply ``key=value`` overrides; validate the result."""
    raw: dict = read_toml(path) if path else {}
    for item in overrides:
        item = item[2:] if item.startswith("--") else item
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like --key=value")
        key, value = item.split("=", 1)
        apply_override(raw, key, value)
    try:
        cfg = _build(Config, raw, "")
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}" if path else str(err)) from None
    validate(cfg)
    return cfg


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
        if not phase.tasks and not phase.retrieval:
            raise ConfigError(f"phases.{i}.tasks: a phase needs tasks to train (or only `retrieval`, "
                              f"to score its starting point)")
        if phase.per_task and phase.retrieval:
            raise ConfigError(f"phases.{i}.retrieval: a per-task phase has one export per target; "
                              f"score retrieval from a joint phase (or a phase with no tasks)")
        seen.add(phase.name)
    _check_languages(cfg)
    _check_lengths(cfg)
    _check_compile(cfg)
    _check_perturb(cfg)
    _check_task_tables(cfg)


# RoBERTa-family position ids start after the padding index: two positions are never usable.
POSITION_OFFSET = {"xlm-roberta": 2, "roberta": 2, "camembert": 2}


def _check_lengths(cfg: Config) -> None:
    """An encoder built from a config knows its longest input: refuse longer ``data.max_length``
    here rather than fail in the embedding lookup of the first long batch."""
    positions = cfg.model.init_config.get("max_position_embeddings") if not cfg.model.name else None
    if not isinstance(positions, int):
        return
    limit = positions - POSITION_OFFSET.get(cfg.model.arch, 0)
    if cfg.data.max_length > limit:
        raise ConfigError(f"data.max_length = {cfg.data.max_length} exceeds what the model allows "
                          f"({limit} tokens: model.init_config.max_position_embeddings = {positions})")


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
            given_hub(where, "xx") if where.startswith("hub:") else where.format(lang="xx")
        except (KeyError, IndexError, ValueError) as e:
            raise ConfigError(f"data.train_files.{task}: {where!r} is not a valid pattern "
                              f"(it may hold {{lang}} and nothing else in braces; hub sources are "
                              f"hub:ID[:CONFIG[:SPLIT]]): {e!r}") from None


def given_hub(given: str, lang: str) -> tuple[str, str | None, str]:
    """``hub:ID[:CONFIG[:SPLIT]]`` -> (ID, CONFIG or None, SPLIT or "train"), {lang} filled."""
    parts = given[len("hub:"):].format(lang=lang).split(":")
    if not parts[0] or len(parts) > 3:
        raise ValueError(f"expected hub:ID[:CONFIG[:SPLIT]], got {given!r}")
    return parts[0], (parts[1] or None) if len(parts) > 1 else None, parts[2] if len(parts) > 2 else "train"


def _check_perturb(cfg: Config) -> None:
    """Unknown noise kinds, rates outside (0, 1] and code-switching without a lexicon fail here,
    before any model is loaded."""
    from eval.perturb import settings

    pc = cfg.eval.perturb
    try:
        settings(pc.kinds, [float(r) for r in pc.rates], pc.seed)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"eval.perturb: {err}") from None
    if pc.kinds and not pc.rates:
        raise ConfigError("eval.perturb.rates: give at least one rate")
    if "code_switch" in pc.kinds and not pc.lexicon:
        raise ConfigError("eval.perturb.lexicon: code_switch needs a lexicon file")


def _check_languages(cfg: Config) -> None:
    """``eval.languages`` filters every task's languages; an unknown code would silently match
    nothing, so it is refused."""
    if not cfg.eval.languages:
        return
    from trainer.tasks import TASKS

    known = set().union(*(t.languages for t in TASKS.values()))
    unknown = [code for code in cfg.eval.languages if code not in known]
    if unknown:
        plain = sorted(code for code in known if "-" not in code)
        raise ConfigError(f"eval.languages: unknown language code(s) {unknown}; tasks know "
                          f"{', '.join(plain)} (and MLQA pairs such as de-en)")


def to_dict(cfg: Any) -> Any:
    return dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else cfg


def dump(cfg: Config, path: str) -> None:
    """Write the resolved config (JSON, loadable with ``from_dict``)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(to_dict(cfg), f, indent=2, sort_keys=False)


def from_dict(data: dict) -> Config:
    cfg = _build(Config, data, "")
    validate(cfg)
    return cfg


def phase_lr(cfg: Config, phase: PhaseConfig) -> float:
    return phase.lr or cfg.optim.lr


def phase_global_batch(cfg: Config, phase: PhaseConfig) -> int:
    return phase.global_batch or cfg.deepspeed.global_batch


def describe(cfg: Config) -> str:
    """Every key of the resolved config with its value and its docstring, section by section
    (`xstilts train RECIPE --help-config`)."""
    docs = field_docs()
    lines: list[str] = []

    def section(prefix: str, doc_prefix: str, obj: Any) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            nested = dataclasses.is_dataclass(value)
            lines.append(f"{prefix}.{f.name}:" if nested else f"{prefix}.{f.name} = {json.dumps(to_dict(value))}")
            doc = " ".join(docs.get(f"{doc_prefix}.{f.name}", "").split())
            if doc:
                lines.append(f"    {doc}")
            if nested:
                section(f"{prefix}.{f.name}", f"{doc_prefix}.{f.name}", value)

    for f in dataclasses.fields(cfg):
        if f.name == "phases":
            for i, phase in enumerate(cfg.phases):
                lines.append("")
                section(f"phases.{i}", "phases[]", phase)
            continue
        lines.append("")
        section(f.name, f.name, getattr(cfg, f.name))
    return "\n".join(lines).strip() + "\n"


def field_docs() -> dict[str, str]:
    """``section.key`` -> the docstring under each field (for `xstilts train --help-config`)."""
    import ast
    import inspect

    docs: dict[str, str] = {}
    tree = ast.parse(inspect.getsource(__import__(__name__, fromlist=["x"])))
    sections = {f.name: f.type for f in dataclasses.fields(Config)}
    by_class = {typ if isinstance(typ, str) else typ.__name__: sec for sec, typ in sections.items()}
    by_class["PhaseConfig"] = "phases[]"
    by_class["PerturbConfig"] = "eval.perturb"
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in by_class:
            body = node.body
            for a, b in zip(body, body[1:]):
                if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant):
                    docs[f"{by_class[node.name]}.{a.target.id}"] = str(b.value.value)
    return docs
