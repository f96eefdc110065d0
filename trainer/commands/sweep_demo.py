"""`xstilts sweep SPEC --demo`: the same study on the project's synthetic suite, small enough to
run on a laptop's CPU before renting a cluster.

A study spec carries a ``[demo]`` table (:class:`DemoConfig`): the demo recipe, its targets and
seeds, the overrides of every demo run, and how the study's real tasks and languages map to
synthetic ones (``mnli -> synth_nli``, ``mnli@ru -> synth_nli@de``). Every setting is mapped;
settings that map to the same synthetic training (9 English tasks onto 4 synthetic ones) run
once, under the first one's name, and the sweep says so. Settings with their own recipe (chains)
name their demo recipe in ``[demo.recipes]``.

The encoder is pretrained once per demo folder (``pretrain``'s MLM phase, ``run.until``) and
every run starts from that export. Every rank of a demo run computes with one thread, and the
runs share the cores out (2 cores: two 1-process runs at once, or one 2-rank run at a time): a
fp32 ZeRO-2 step then gives the same numbers on 1 and on N ranks (``--ranks N``), so the same
grid.json. (The thread count changes how CPU kernels split their sums: 1 process with 2 threads
and 2 ranks with 1 thread each drift apart within a few steps.)
"""
from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field

from trainer.commands.common import ROOT
from trainer.commands.launch import demo_command, launch_env
from trainer.commands.sweep_spec import Setting, Spec, SweepConfig, SweepError, check_spec
from trainer.tasks import get_task


@dataclass
class DemoConfig:
    recipe: str = "../../demo_study.toml"
    """Recipe of every demo run, relative to the spec."""
    pretrain: str = "../../demo.toml"
    """Recipe whose `pretrain_phase` is trained once; every run starts from its export."""
    pretrain_phase: str = "mlm"
    """Phase of `pretrain` whose export is the demo's pretrained encoder."""
    targets: list = field(default_factory=list)
    """Synthetic target tasks (empty: the demo recipe's)."""
    seeds: list = field(default_factory=lambda: [1, 2])
    """Seeds of every demo setting."""
    overrides: list = field(default_factory=list)
    """Overrides of every demo run (instead of the sweep's), e.g. noise and attack settings."""
    tasks: dict = field(default_factory=dict)
    """Study task -> synthetic task; a task@lang maps to synthetic@lang (languages via `languages`)."""
    languages: dict = field(default_factory=dict)
    """Study language -> synthetic language (de, fr, sw) for translated tasks; others are dropped."""
    recipes: dict = field(default_factory=dict)
    """Setting -> its demo recipe (relative to the spec), for settings that run their own recipe."""
    setting_overrides: dict = field(default_factory=dict)
    """Setting -> overrides of its demo runs (a chain's task lists, in synthetic tasks)."""
    compute_budget: int = 0
    """Equal-compute budget of the demo (0: the reference setting's, as in the study)."""


def _map_tasks(names: list[str], demo: DemoConfig, where: str) -> list[str]:
    out: list[str] = []
    for name in names:
        base, _, lang = name.partition("@")
        if base not in demo.tasks:
            raise SweepError(f"{where}: demo.tasks has no synthetic task for {base!r}")
        if lang and (lang not in demo.languages or not get_task(demo.tasks[base]).translated):
            continue  # a translation the suite does not have (a language, or a task it does not translate)
        mapped = demo.tasks[base] + (f"@{demo.languages[lang]}" if lang else "")
        if mapped not in out:
            out.append(mapped)
    return out


def demo_spec(spec: Spec, demo: DemoConfig, out: str, ranks: int) -> tuple[Spec, list[str]]:
    """The study as a demo: (spec, notes on settings that run as another)."""
    where = f"{spec.path}: [demo]"
    spec_dir = os.path.dirname(spec.path)
    settings, seen, notes, rename = [], {}, [], {}
    for s in spec.settings:
        if s.recipe:
            if s.name not in demo.recipes:
                raise SweepError(f"{where}: setting {s.name} runs its own recipe; name its demo recipe "
                                 f"in [demo.recipes]")
            new = Setting(s.name, [], False, os.path.join(spec_dir, demo.recipes[s.name]),
                          list(demo.setting_overrides.get(s.name, [])))
        else:
            tasks = _map_tasks(s.tasks, demo, where)
            if s.tasks and not tasks:
                notes.append(f"{s.name} is left out of the demo (the suite has no counterpart of {', '.join(s.tasks)})")
                continue
            name = "+".join(tasks) if s.each else s.name
            new = Setting(name, tasks, False, "", list(demo.setting_overrides.get(s.name, s.overrides)))
        key = (tuple(new.tasks), new.recipe, tuple(new.overrides))
        if key in seen:
            notes.append(f"{s.name} runs as {seen[key]} in the demo (same synthetic training)")
            rename[s.name] = seen[key]
            continue
        seen[key] = new.name
        rename[s.name] = new.name
        settings.append(new)
    sw = spec.sweep
    sweep = dataclasses.replace(
        sw, name=f"{sw.name}-demo", recipe=os.path.join(spec_dir, demo.recipe), out=out, seeds=list(demo.seeds),
        targets=list(demo.targets), launcher="deepspeed" if ranks > 1 else "single", ranks=ranks, hostfile="",
        parallel=0, threads=1,
        overrides=list(demo.overrides), per_target=False, compute_budget=demo.compute_budget,
        baseline=rename.get(sw.baseline, sw.baseline), compute_reference=rename.get(sw.compute_reference, ""))
    contrasts = [dataclasses.replace(c, plus=list(dict.fromkeys(rename[n] for n in c.plus if n in rename)),
                                     minus=list(dict.fromkeys(rename[n] for n in c.minus if n in rename)))
                 for c in spec.contrasts]
    contrasts = [c for c in contrasts if c.plus and c.minus and set(c.plus) != set(c.minus)]
    out_spec = Spec(sweep, settings, spec.path, contrasts)
    check_spec(out_spec)
    return out_spec, notes


def pretrained(spec: Spec, demo: DemoConfig, out: str) -> str:
    """The demo's pretrained encoder (trained once per demo folder): its export folder."""
    folder = os.path.join(out, "pretrained")
    export = os.path.join(folder, demo.pretrain_phase, "export")
    if os.path.isfile(os.path.join(export, "xstilts.json")):
        return export
    recipe = os.path.join(os.path.dirname(spec.path), demo.pretrain)
    # one process whatever --ranks says: the demos on 1 and on N ranks start from the same weights
    cmd = demo_command(folder, 1, "single", recipe=recipe,
                       extra=[f"--run.until={demo.pretrain_phase}", "--run.name=demo-pretrained"])
    print(f"pretraining the demo encoder once: + {shlex.join(cmd)}", flush=True)
    rc = subprocess.call(cmd, env=launch_env(1), cwd=ROOT)
    if rc != 0 or not os.path.isfile(os.path.join(export, "xstilts.json")):
        raise SweepError(f"pretraining the demo encoder failed (exit {rc}); see the output above")
    return export


def start_from(export: str, out: str) -> list[str]:
    """Overrides that start a demo run from the pretrained export (encoder, tokenizer, data) with
    the tokenized-data cache of the demo folder ``out``, which its runs share (they run one after
    another; another demo started from the same export has its own)."""
    folder = os.path.dirname(os.path.dirname(export))
    return [f"model.name={export}", f"model.tokenizer={export}", f"data.root={os.path.join(folder, 'data')}",
            f"data.cache_dir={os.path.join(out, 'cache')}"]


def prepare(spec: Spec, demo: DemoConfig, out: str, ranks: int, dry: bool, given: str | None = None) -> Spec:
    """The demo spec, with the pretrained encoder in place (unless ``dry``); ``given``: an export
    of an earlier demo's pretraining to start from instead (the demos of every study share it)."""
    out = os.path.abspath(out)
    spec, notes = demo_spec(spec, demo, out, ranks)
    for note in notes:
        print(f"demo: {note}", file=sys.stderr)
    if given:
        if not os.path.isfile(os.path.join(given, "xstilts.json")):
            raise SweepError(f"--pretrained {given}: not an export folder (no xstilts.json)")
        export = os.path.abspath(given)
    elif dry:
        export = os.path.join(out, "pretrained", demo.pretrain_phase, "export")
    else:
        export = pretrained(spec, demo, out)
    spec.sweep.overrides = start_from(export, out) + spec.sweep.overrides
    return spec


__all__ = ["DemoConfig", "SweepConfig", "prepare"]
