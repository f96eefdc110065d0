"""`xstilts sweep SPEC`: expand an experiment grid over a base recipe, launch its runs, and
collect a paper-style table.

A sweep spec is a small TOML file (shipped ones live in trainer/recipes/sweeps/)::

    [sweep]                           # SweepConfig: every key below is typed and checked
    recipe = "../xlmr_large_multitask.toml"
    seeds = [1, 2, 3]

    [[settings]]                      # one row of the table: the intermediate setting
    name = "baseline"
    tasks = []                        # no intermediate training

    [[settings]]
    each = true                       # one row per task, each named after its task
    tasks = ["mnli", "qqp"]

A run is (setting, seed), or (setting, target, seed) with ``per_target``: the base recipe
(or the setting's own ``recipe``) with command-line overrides for the seed, the intermediate
tasks and the targets. Every run is validated like ``xstilts train --dry-run`` before anything
starts. Locally the runs go one after another (finished ones, those with a results.json, are
skipped, so a stopped sweep continues where it was); ``--dry-run`` prints one launcher command
line per run instead. With ``launcher = "slurm"`` each setting is a job array over its seeds,
the spec's ``[slurm]`` table (over each recipe's) says how (sweep_slurm.py), and ``--dry-run``
prints the batch scripts. Results are aggregated over seeds with eval.results and tabulated by
eval.grid: rows settings, columns targets, mean ± std, delta vs the baseline, best per target.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

from eval.grid import build_grid, to_markdown, write_grid
from eval.grid_extra import build_extra, read_tables
from eval.items import pool, read_items
from eval.results import aggregate_runs, build_results, load_results, write_results
from trainer.commands import sweep_compute
from trainer.commands.common import ROOT, dry_run_world_size
from trainer.commands.common import load_config as load_run
from trainer.commands.dryrun import dry_run
from trainer.commands.launch import demo_command, launch_env
from trainer.commands.slurm_jobs import world_size as slurm_world_size
from trainer.commands.submit import check_cluster, dry_run_text, flag_overrides, submit
from trainer.commands.sweep_demo import DemoConfig, prepare
from trainer.commands.sweep_slurm import SettingRuns, sweep_jobs
from trainer.commands.sweep_spec import Spec, SweepError, SweepRun, check_spec, load_spec
from trainer.config import Config, ConfigError, build_table
from trainer.config import load as load_config
from trainer.errors import USER_ERRORS, UserError

def _near(path: str, spec_dir: str) -> str:
    """A path from the spec: as given if absolute or present, else beside the spec, else in
    the project root."""
    if os.path.isabs(path) or os.path.exists(path):
        return os.path.abspath(path)
    for base in (spec_dir, ROOT):
        if os.path.exists(os.path.join(base, path)):
            return os.path.abspath(os.path.join(base, path))
    return os.path.abspath(os.path.join(spec_dir, path))


def _phase_index(cfg: Config, name: str, recipe: str) -> int:
    for i, phase in enumerate(cfg.phases):
        if phase.name == name:
            return i
    raise SweepError(f"{recipe}: no phase named {name!r} "
                     f"(phases: {', '.join(p.name for p in cfg.phases)})")


def expand(spec: Spec) -> list[SweepRun]:
    """Every run of the grid, settings in order, then seeds (then targets)."""
    sw, spec_dir = spec.sweep, os.path.dirname(spec.path)
    runs = []
    for s in spec.settings:
        recipe = _near(s.recipe or sw.recipe, spec_dir)
        try:
            base = load_config(recipe)  # the phase names; each run is checked with its overrides
        except ConfigError as err:
            raise SweepError(f"setting {s.name}: {err}") from None
        target = _phase_index(base, sw.target_phase, recipe)
        phase_tasks = [] if s.recipe else [f"--phases.{_phase_index(base, sw.intermediate_phase, recipe)}"
                                           f".tasks={_json(s.tasks)}"]
        for seed in sw.seeds:
            for t in (sw.targets if sw.per_target else [""]):
                targets = [t] if t else sw.targets
                folder = os.path.join(sw.out, s.name, f"seed{seed}", *([t] if t else []))
                name = "/".join([sw.name, s.name, f"seed{seed}", *([t] if t else [])])
                # resume: a run stopped mid-phase continues from its last checkpoint when the
                # sweep is started again (a run with no checkpoint starts from the beginning)
                overrides = [*(f"--{o.removeprefix('--')}" for o in [*sw.overrides, *s.overrides]),
                             f"--run.seed={seed}", f"--run.name={name}", "--checkpoint.resume=true",
                             *phase_tasks]
                if targets:
                    overrides.append(f"--phases.{target}.tasks={_json(targets)}")
                runs.append(SweepRun(s.name, seed, t, recipe, os.path.abspath(folder), overrides))
    if sw.equal_compute:
        _equal_compute(spec, runs)
    return runs


def _equal_compute(spec: Spec, runs: list[SweepRun]) -> None:
    """Give the intermediate phase of every setting with intermediate tasks the same budget."""
    sw = spec.sweep
    own = {s.name for s in spec.settings if s.recipe or not s.tasks}
    ref = next((r for r in runs if r.setting == sw.compute_reference), None)
    try:
        index = _phase_index(load_config(runs[0].recipe), sw.intermediate_phase, runs[0].recipe)
        amount = sweep_compute.budget(sw.equal_compute, sw.compute_budget,
                                      ref and (ref.recipe, ref.overrides, ref.out), index)
        for run in runs:
            if run.setting not in own:
                cfg = load_run(run.recipe, run.overrides, run.out)
                run.overrides.append(sweep_compute.override(sw.equal_compute, amount, cfg, index))
    except (ValueError, *USER_ERRORS) as err:
        raise SweepError(f"{spec.path}: sweep.equal_compute: {err}") from None


def _json(tasks: list) -> str:
    return json.dumps(list(tasks), separators=(",", ":"))


def world_size(spec: Spec) -> int:
    return dry_run_world_size(None if spec.sweep.hostfile else spec.sweep.ranks, _hostfile(spec))


def _hostfile(spec: Spec) -> str | None:
    return _near(spec.sweep.hostfile, os.path.dirname(spec.path)) if spec.sweep.hostfile else None


def validate(run: SweepRun, world: int | None) -> Config:
    """The run's resolved config, checked end to end as ``xstilts train --dry-run`` does (on
    ``world`` ranks; None: as many as its Slurm jobs have)."""
    try:
        cfg = load_run(run.recipe, run.overrides, run.out)
        dry_run(cfg, slurm_world_size(cfg.slurm) if world is None else world)
    except USER_ERRORS as err:
        raise SweepError(f"run {run.out}: {err}") from None
    return cfg


def command(spec: Spec, run: SweepRun) -> list[str]:
    """The launcher command line of one run (an argv list)."""
    return demo_command(run.out, spec.sweep.ranks, spec.sweep.launcher, recipe=run.recipe,
                        extra=run.overrides, hostfile=_hostfile(spec))


def is_done(run: SweepRun) -> bool:
    return os.path.isfile(os.path.join(run.out, "results.json"))


def local_lanes(spec: Spec) -> tuple[int, dict]:
    """(runs at once, their environment) of a local sweep: `sweep.parallel` runs (0: as many as
    the cores hold at `sweep.threads` per rank), each rank with `sweep.threads` threads (0: the
    cores shared out)."""
    sw = spec.sweep
    cores = os.cpu_count() or 1
    parallel = sw.parallel or max(1, cores // (sw.ranks * (sw.threads or 1)))
    env = launch_env(sw.ranks)
    if sw.threads:
        env["OMP_NUM_THREADS"] = str(sw.threads)
    elif parallel > 1:
        env["OMP_NUM_THREADS"] = str(max(1, cores // (sw.ranks * parallel)))
    return parallel, env


def execute(spec: Spec, runs: list[SweepRun]) -> int:
    """Run what is not finished, ``sweep.parallel`` at a time (in order); after a failure start
    no more (re-running the sweep continues from there: finished runs are skipped, a stopped run
    resumes its phases)."""
    parallel, env = local_lanes(spec)
    todo = []
    for i, run in enumerate(runs, 1):
        if is_done(run):
            print(f"[{i}/{len(runs)}] done: {run.out}", flush=True)
        else:
            todo.append((i, run))
    if parallel == 1:
        for i, run in todo:
            cmd = command(spec, run)
            print(f"[{i}/{len(runs)}] + {shlex.join(cmd)}", flush=True)
            rc = subprocess.call(cmd, env=env, cwd=ROOT)
            if rc != 0:
                return _failed(run, rc)
        return 0
    return _execute_parallel(spec, runs, todo, parallel, env)


def _execute_parallel(spec: Spec, runs: list[SweepRun], todo: list, parallel: int, env: dict) -> int:
    """Up to ``parallel`` runs at once, each one's output in <sweep out>/logs/."""
    logs = os.path.join(spec.sweep.out, "logs")
    os.makedirs(logs, exist_ok=True)
    running: dict = {}
    failed = 0
    print(f"{len(todo)} runs to do, {parallel} at a time, {env.get('OMP_NUM_THREADS', '?')} thread(s) per rank",
          flush=True)
    while (todo and not failed) or running:
        while todo and not failed and len(running) < parallel:
            i, run = todo.pop(0)
            cmd = command(spec, run)
            log = os.path.join(logs, "-".join([run.setting, f"seed{run.seed}", *([run.target] if run.target else [])])
                               + ".log")
            print(f"[{i}/{len(runs)}] + {shlex.join(cmd)}\n    output: {log}", flush=True)
            with open(log, "a") as f:
                proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
            running[proc] = (i, run, log, time.monotonic())
        time.sleep(0.5)
        for proc in [p for p in running if p.poll() is not None]:
            i, run, log, start = running.pop(proc)
            if proc.returncode == 0:
                print(f"[{i}/{len(runs)}] finished in {time.monotonic() - start:.0f} s: {run.out}", flush=True)
                continue
            with open(log, errors="replace") as f:
                tail = f.readlines()[-30:]
            print(f"[{i}/{len(runs)}] the last lines of {log}:\n{''.join(tail)}", file=sys.stderr, flush=True)
            failed = failed or _failed(run, proc.returncode)
    return failed


def _failed(run: SweepRun, rc: int) -> int:
    print(f"xstilts sweep: run {run.out} failed (exit {rc}); re-run the sweep to continue", file=sys.stderr)
    return rc


def collect(spec: Spec, runs: list[SweepRun]) -> dict:
    """Aggregate each setting over its seeds (eval.results) and build the table (eval.grid);
    written to the sweep folder as grid.json, grid.csv and grid.md, each setting's aggregate
    to ``<setting>/report/``."""
    aggregates, per_seed, extra, sets = {}, {}, {}, {}
    for s in spec.settings:
        mine = {}
        for seed in spec.sweep.seeds:
            done = [r for r in runs if r.setting == s.name and r.seed == seed and is_done(r)]
            if done:
                mine[seed] = _merge([load_results(os.path.join(r.out, "results.json")) for r in done])
                tables: dict = {}
                for r in done:  # robustness drops and alignment of the seed's runs
                    for kind, table in read_tables(r.out).items():
                        tables.setdefault(kind, {"tasks": {}})["tasks"].update(table["tasks"])
                if tables:
                    extra.setdefault(s.name, {})[seed] = tables
                for r in done:
                    _read_items(r.out, mine[seed], sets.setdefault(s.name, {}))
        if mine:
            per_seed[s.name] = mine
            aggregates[s.name] = aggregate_runs(list(mine.values()))
            write_results(aggregates[s.name], os.path.join(spec.sweep.out, s.name, "report"))
    items = {name: {task: pooled for task, langs in by_task.items() if (pooled := _pool(langs))}
             for name, by_task in sets.items()}
    grid = build_grid(aggregates, spec.sweep.baseline or None, [s.name for s in spec.settings],
                      expected_runs=len(spec.sweep.seeds), per_seed=per_seed, items=items,
                      by_language=spec.sweep.by_language,
                      contrasts=[{"name": c.name, "plus": c.plus, "minus": c.minus} for c in spec.contrasts])
    if extra:
        grid["extra"] = build_extra(extra, spec.sweep.baseline or None, [s.name for s in spec.settings],
                                    len(spec.sweep.seeds), spec.sweep.by_language)
    write_grid(grid, spec.sweep.out)
    return grid


def _read_items(run_dir: str, results: dict, into: dict) -> None:
    """Add the run's per-item scores (items/<task>/<split>-<lang>.json) to ``into``:
    {task: {lang: [one set per seed]}}."""
    for task, entry in results.get("tasks", {}).items():
        for lang in entry.get("languages", {}):
            got = read_items(os.path.join(run_dir, "items", task, f"{entry.get('split') or 'test'}-{lang}.json"))
            if got is not None:
                into.setdefault(task, {}).setdefault(lang, []).append(got)


def _pool(langs: dict) -> tuple | None:
    """(form, {lang: items pooled over seeds}) when every language pools; else None."""
    pooled = {lang: pool(sets) for lang, sets in langs.items()}
    forms = {p[0] for p in pooled.values() if p}
    if not pooled or None in pooled.values() or len(forms) != 1:
        return None
    return forms.pop(), {lang: p[1] for lang, p in pooled.items()}


def _merge(results: list[dict]) -> dict:
    """One seed's results from its per-target runs (each scored different tasks): the task
    entries together, and the XTREME / XTREME-R scores computed again over all of them."""
    if len(results) == 1:
        return results[0]
    tasks = {name: entry for r in results for name, entry in r["tasks"].items()}
    return build_results({name: e["languages"] for name, e in tasks.items()},
                         task_info={name: {"metric": e.get("metric"), "chance": e.get("chance")}
                                    for name, e in tasks.items()})


def submit_slurm(spec: Spec, runs: list[SweepRun], configs: list[Config], dry: bool) -> int:
    """Each setting's unfinished runs as one job array (+ evaluators), then the collector."""
    if any(c.slurm.evaluate == "watch" for c in configs):
        raise SweepError(f"{spec.path}: slurm.evaluate = \"watch\" is for single runs; a sweep scores "
                         f"each run after its training (\"after\") or in it (\"inline\")")
    groups = []
    for s in spec.settings:
        mine = [(r, c) for r, c in zip(runs, configs) if r.setting == s.name]
        groups.append(SettingRuns(s.name, mine[0][0].recipe, mine[0][1].slurm, [(r.out, r.overrides) for r, _ in mine],
                                  [i for i, (r, _) in enumerate(mine) if not is_done(r)]))
    jobs = sweep_jobs(spec.path, spec.sweep.name, os.path.abspath(spec.sweep.out), groups)
    if dry or not jobs:
        print(dry_run_text(jobs) if jobs else "every run is done; nothing to submit")
        return 0
    check_cluster(configs[0].slurm)
    for job, job_id in zip(jobs, submit(jobs)):
        print(f"submitted {job.kind} job {job_id}{f' (array {job.array})' if job.array else ''}: {job.script}")
    print(f"follow it with: xstilts status {spec.sweep.out}")
    return 0


def main(args) -> int:
    """``xstilts sweep SPEC [--dry-run | --collect] [--launcher L] [Slurm flags]``."""
    spec = load_spec(args.spec)
    if getattr(args, "demo", False):
        if spec.demo is None:
            raise SweepError(f"{args.spec}: no [demo] table: this sweep has no demo version")
        try:
            demo = build_table(DemoConfig, spec.demo, "demo")
        except ConfigError as err:
            raise SweepError(f"{args.spec}: {err}") from None
        out = args.out or os.path.join("runs", f"{spec.sweep.name}-demo")
        spec = prepare(spec, demo, out, args.ranks or 1, args.dry_run, args.pretrained)
    elif getattr(args, "out", None):
        spec.sweep.out = args.out
    if getattr(args, "launcher", None):
        spec.sweep.launcher = args.launcher
        check_spec(spec)
    spec.sweep.overrides += [o.removeprefix("--") for o in flag_overrides(args)]
    runs = expand(spec)
    slurm = spec.sweep.launcher == "slurm"
    world = None if slurm else world_size(spec)
    configs = [validate(run, world) for run in runs]
    if slurm and not args.collect:
        return submit_slurm(spec, runs, configs, args.dry_run)
    if args.dry_run:
        for run in runs:
            print(shlex.join(command(spec, run)))
        print(f"# {len(runs)} runs: {len(spec.settings)} settings x {len(spec.sweep.seeds)} seeds"
              f"{f' x {len(spec.sweep.targets)} targets' if spec.sweep.per_target else ''}, "
              f"{world} rank(s) each", file=sys.stderr)
        return 0
    if not args.collect:
        rc = execute(spec, runs)
        if rc:
            return rc
    print(to_markdown(collect(spec, runs)))
    return 0


def run(args, _overrides) -> int:
    try:
        return main(args)
    except SweepError as err:
        raise UserError(str(err)) from None
