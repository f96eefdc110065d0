"""A sweep spec (TOML): the typed tables ``[sweep]``, ``[[settings]]``, ``[[contrasts]]`` (and
``[slurm]``), read and checked; ``each`` settings expanded. `xstilts sweep` (sweep.py) runs it.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from trainer.commands import sweep_compute
from trainer.config import ConfigError, SlurmConfig, build_table, check_slurm, read_toml

SAFE_NAME = re.compile(r"[A-Za-z0-9_.@+-]+")
LAUNCHERS = ("deepspeed", "torchrun", "mpirun", "single", "slurm")


@dataclass
class SweepConfig:
    name: str = "sweep"
    """Sweep name: run names are <name>/<setting>/seed<k>."""
    recipe: str = ""
    """Base recipe, relative to the spec file; it needs an intermediate and a target phase."""
    out: str = "runs/sweep"
    """Sweep folder: one run folder per setting and seed, the table at the top."""
    seeds: list = field(default_factory=lambda: [42])
    """Seeds (run.seed) of every setting; the table gives mean ± std over them."""
    targets: list = field(default_factory=list)
    """Target tasks of the target phase (empty: the recipe's own)."""
    intermediate_phase: str = "intermediate"
    """Phase whose tasks each setting replaces."""
    target_phase: str = "target"
    """Per-task phase that fine-tunes and scores the targets."""
    per_target: bool = False
    """One run per target (each trains its own intermediate model) instead of one per seed."""
    baseline: str = "baseline"
    """Setting the deltas compare with (empty: no deltas)."""
    launcher: str = "deepspeed"
    """deepspeed, torchrun, mpirun, single (one process) or slurm (a job array per setting)."""
    ranks: int = 1
    """Ranks of every run on one node (ignored with `hostfile`)."""
    hostfile: str = ""
    """`host slots=N` file of every run (deepspeed or mpirun), relative to the spec or project."""
    parallel: int = 1
    """Local runs at once, each on `ranks` ranks (0: as many as the cores hold at `threads` per rank)."""
    threads: int = 0
    """Threads of every rank of a local run (0: the cores shared out over `parallel` x `ranks`).
    Fixed, a run computes the same numbers on any number of ranks (the demo uses 1)."""
    overrides: list = field(default_factory=list)
    """Recipe overrides of every run, as `key=value`."""
    by_language: bool = False
    """Also tabulate every language: mean ± std, delta, interval and p-value per language."""
    equal_compute: str = ""
    """"steps" or "examples": every setting's intermediate phase trains the same amount (empty: each its own)."""
    compute_budget: int = 0
    """Steps or examples of equal compute (0: what `compute_reference`'s phase takes)."""
    compute_reference: str = ""
    """Setting whose intermediate phase sets the equal-compute budget."""


@dataclass
class Contrast:
    name: str = ""
    """Row name of the contrast, e.g. "nli - qa"."""
    plus: list = field(default_factory=list)
    """Settings whose mean is the first term."""
    minus: list = field(default_factory=list)
    """Settings whose mean is subtracted."""


@dataclass
class Setting:
    name: str = ""
    """Row name (and run folder); with `each`, a prefix of the task names (empty: none)."""
    tasks: list = field(default_factory=list)
    """Intermediate tasks, trained together ([] = none: the baseline)."""
    each: bool = False
    """One setting per task of `tasks`, each trained alone."""
    recipe: str = ""
    """This setting's own recipe (a sequential chain, another encoder), used as it is."""
    overrides: list = field(default_factory=list)
    """Recipe overrides of this setting's runs, e.g. "sampler.fixed={\\"mlm\\": 0.2}"."""


@dataclass
class Spec:
    sweep: SweepConfig
    settings: list[Setting]
    path: str
    contrasts: list[Contrast] = field(default_factory=list)
    demo: dict | None = None  # the raw [demo] table (trainer/commands/sweep_demo.py)


@dataclass
class SweepRun:
    setting: str
    seed: int
    target: str  # "" unless per_target
    recipe: str
    out: str
    overrides: list[str]  # recipe overrides after `train RECIPE --out OUT`


class SweepError(ValueError):
    """A sweep spec that cannot be used; the message names the file and key."""


def load_spec(path: str) -> Spec:
    """Read and check a sweep spec; ``each`` settings are expanded, in file order."""
    raw = read_toml(path, "sweep spec", SweepError)
    try:
        unknown = sorted(set(raw) - {"sweep", "settings", "contrasts", "slurm", "demo"})
        if unknown:
            raise ConfigError(f"unknown table {unknown[0]} (known: sweep, settings, contrasts, slurm, demo)")
        sweep = build_table(SweepConfig, raw.get("sweep", {}), "sweep")
        check_slurm(build_table(SlurmConfig, raw.get("slurm", {}), "slurm"), "slurm")
        # the table reaches every run as overrides: the runs' configs record what they ran with
        sweep.overrides = [f"slurm.{k}={_value(v)}" for k, v in raw.get("slurm", {}).items()] + sweep.overrides
        if not isinstance(raw.get("settings", []), list):
            raise ConfigError("settings: expected [[settings]] tables")
        given = [build_table(Setting, s, f"settings.{i}") for i, s in enumerate(raw.get("settings", []))]
        contrasts = [build_table(Contrast, c, f"contrasts.{i}") for i, c in enumerate(raw.get("contrasts", []))]
    except ConfigError as err:
        raise SweepError(f"{path}: {err}") from None
    settings = [s for g in given for s in _expand(g)]
    spec = Spec(sweep, settings, os.path.abspath(path), contrasts, raw.get("demo"))
    check_spec(spec)
    return spec


def _value(v) -> str:
    return json.dumps(v) if isinstance(v, (list, dict, bool)) else str(v)


def _expand(s: Setting) -> list[Setting]:
    if not s.each:
        return [s]
    # expanded settings keep each = true: they came from a list (the demo renames them)
    return [Setting(f"{s.name}{t}", [t], True, s.recipe, list(s.overrides)) for t in s.tasks]


def check_spec(spec: Spec) -> None:
    sw, where = spec.sweep, spec.path
    if not sw.recipe and any(not s.recipe for s in spec.settings):
        raise SweepError(f"{where}: sweep.recipe: a base recipe is needed (or a recipe per setting)")
    if not spec.settings:
        raise SweepError(f"{where}: no [[settings]]")
    if not sw.seeds or any(isinstance(k, bool) or not isinstance(k, int) for k in sw.seeds):
        raise SweepError(f"{where}: sweep.seeds: expected a list of integers, got {sw.seeds!r}")
    if len(set(sw.seeds)) != len(sw.seeds):
        raise SweepError(f"{where}: sweep.seeds: repeated seed in {sw.seeds}")
    if sw.launcher not in LAUNCHERS:
        raise SweepError(f"{where}: sweep.launcher: expected one of {', '.join(LAUNCHERS)}, got {sw.launcher!r}")
    if sw.ranks < 1:
        raise SweepError(f"{where}: sweep.ranks: expected at least 1, got {sw.ranks}")
    for key in ("parallel", "threads"):
        value = getattr(sw, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SweepError(f"{where}: sweep.{key}: expected a whole number >= 0, got {value!r}")
    if sw.parallel != 1 and sw.hostfile:
        raise SweepError(f"{where}: sweep.parallel: runs on a hostfile's hosts go one at a time")
    if sw.launcher == "slurm" and sw.hostfile:
        raise SweepError(f"{where}: sweep.hostfile: Slurm gives each job its hosts; set nodes and "
                         f"GPUs in the [slurm] table")
    if sw.launcher == "single" and (sw.ranks > 1 or sw.hostfile):
        raise SweepError(f"{where}: sweep.launcher = \"single\" starts one process; use deepspeed, "
                         f"torchrun or mpirun for {sw.ranks} ranks or a hostfile")
    names = [s.name for s in spec.settings]
    for s in spec.settings:
        if not SAFE_NAME.fullmatch(s.name):
            raise SweepError(f"{where}: setting name {s.name!r}: use letters, digits and _ . @ + -")
        if s.recipe and s.tasks:
            raise SweepError(f"{where}: setting {s.name}: `recipe` runs as it is; `tasks` would be ignored")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SweepError(f"{where}: setting name(s) {dup} appear twice")
    if sw.baseline and sw.baseline not in names:
        raise SweepError(f"{where}: sweep.baseline: no setting named {sw.baseline!r} (settings: {', '.join(names)})")
    if sw.equal_compute not in sweep_compute.KINDS:
        raise SweepError(f"{where}: sweep.equal_compute: expected \"steps\" or \"examples\", got {sw.equal_compute!r}")
    if sw.equal_compute and not sw.compute_budget and sw.compute_reference not in names:
        raise SweepError(f"{where}: sweep.compute_reference: equal compute needs a budget or a reference "
                         f"setting (settings: {', '.join(names)})")
    if sw.per_target and not sw.targets:
        raise SweepError(f"{where}: sweep.per_target needs sweep.targets")
    for i, c in enumerate(spec.contrasts):
        unknown = [n for n in c.plus + c.minus if n not in names]
        if not c.name or not c.plus or not c.minus or unknown:
            raise SweepError(f"{where}: contrasts.{i}: needs a name and settings in `plus` and `minus`"
                             f"{f'; unknown setting(s) {unknown}' if unknown else ''} (settings: {', '.join(names)})")
