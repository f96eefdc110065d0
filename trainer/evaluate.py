"""`xstilts evaluate`: the separate distributed evaluator, launched on its own on any number of
ranks (deepspeed launcher, torchrun, mpirun or one plain process; no DeepSpeed engine). A run
folder means the final exports its recipe's plan names; an export folder is scored on the tasks
its heads serve (or ``--tasks``). ``--watch RUN_DIR`` scores each export as training writes it
(trainer/watch.py).

Writes into ``--out``: results.json/csv/md, heatmap.png, predictions/<task>/test-<lang>.*,
tb/ (``eval/<task>/<lang>/<metric>`` at each export's step) and eval_stats.json (per export: the
ranks' busy times, items, planned costs and the balance).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time

from trainer.runtime import dist
from trainer.config import Config, from_dict

log = logging.getLogger("xstilts.eval")
Plan = list[tuple[str, list[str]]]  # (export folder, tasks scored with it)


def plan_from_run(run_dir: str) -> tuple[Config, Plan]:
    """(config, [(export folder, tasks scored with it)]) from a run folder's recipe."""
    from trainer.pipeline import plan_runs

    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{run_dir} is neither a run folder (no config.json) nor an export")
    with open(path) as f:
        cfg = from_dict(json.load(f))
    cfg.run.out = run_dir
    plan, exports = [], {"pretrained": "pretrained"}
    for phase in cfg.phases:
        runs = plan_runs(cfg, phase, exports)
        if phase.evaluate:
            plan += [(r.export_dir, [t.name for t in r.tasks + r.eval_tasks]) for r in runs]
        if phase.retrieval:
            plan.append((runs[0].export_dir, list(phase.retrieval)))
        exports[phase.name] = runs[0].export_dir
    return cfg, plan


def plan_from_export(export: str, tasks: list[str] | None) -> tuple[Config, Plan]:
    from trainer.model.export import read_export_meta

    meta = read_export_meta(export)
    cfg = from_dict(meta["config"]) if "config" in meta else Config()
    names = tasks or [t for t in meta["task_to_head"]]
    return cfg, [(export, names)]


def resolve_plan(args, out: str) -> tuple[Config, Plan]:
    """The config and plan of ``args.target`` with the command line's restrictions applied."""
    from trainer.model.export import EXPORT_META

    if os.path.isfile(os.path.join(args.target, EXPORT_META)):
        cfg, plan = plan_from_export(args.target, args.tasks)
        if not cfg.data.cache_dir:  # not the training run's folder, which may be gone
            cfg.data.cache_dir = os.path.join(out, "cache")
    else:
        cfg, plan = plan_from_run(args.target)
        if args.tasks:
            plan = [(e, [t for t in ts if t in args.tasks]) for e, ts in plan]
            plan = [(e, ts) for e, ts in plan if ts]
    apply_args(cfg, args)
    return cfg, plan


def apply_args(cfg: Config, args) -> None:
    if args.split:
        cfg.eval.split = args.split
    if args.languages:
        cfg.eval.languages = list(args.languages)
    if getattr(args, "chunk_tokens", None) is not None:
        cfg.eval.chunk_tokens = args.chunk_tokens
    apply_perturb_args(cfg, args)


def apply_perturb_args(cfg: Config, args) -> None:
    """--perturb KIND..., --perturb-rates, --perturb-seed, --lexicon over ``eval.perturb``."""
    from trainer.config import check_perturb

    pc = cfg.eval.perturb
    if getattr(args, "perturb", None):
        pc.kinds = list(args.perturb)
    if getattr(args, "perturb_rates", None):
        pc.rates = list(args.perturb_rates)
    if getattr(args, "perturb_seed", None) is not None:
        pc.seed = args.perturb_seed
    if getattr(args, "lexicon", None):
        pc.lexicon = os.path.abspath(args.lexicon)
    check_perturb(cfg)  # a ConfigError: one line for the user, exit 2


def score_export(cfg: Config, export: str, names: list[str], out: str, info: dist.DistInfo,
                 tracker) -> tuple[dict, dict]:
    """(scores, stats) of one export; predictions under ``out``/predictions."""
    from trainer.pipeline import evaluate_export
    from trainer.tasks import get_task

    if not os.path.isfile(os.path.join(export, "xstilts.json")):
        raise FileNotFoundError(f"export {export} does not exist (has that phase finished?)")
    stats: dict = {"world_size": info.world_size}
    t0 = time.perf_counter()
    scores = evaluate_export(cfg, export, [get_task(n) for n in names], info, tracker,
                             split=cfg.eval.split, out_dir=os.path.join(out, "predictions"),
                             stats=stats)
    stats["wall_s"] = time.perf_counter() - t0
    return scores, stats


def evaluate_plan(cfg: Config, plan: Plan, out: str, info: dist.DistInfo, tracker) -> dict:
    from eval.results import build_results, format_table, write_results
    from trainer.pipeline import task_info

    scores, provenance, all_stats = {}, {}, {}
    for export, names in plan:
        got, stats = score_export(cfg, export, names, out, info, tracker)
        scores.update(got)
        provenance.update({t: {"export": export} for t in got})
        all_stats[export] = stats
    results = build_results(scores, {"provenance": provenance,
                                     "retrieval_layer": cfg.model.retrieval_layer}, task_info(scores))
    if info.is_main:
        write_results(results, out)
        with open(os.path.join(out, "eval_stats.json"), "w") as f:
            json.dump(all_stats, f, indent=2)
        print(format_table(results), flush=True)
    if cfg.eval.perturb.kinds:
        from eval.robustness import to_markdown
        from trainer.robustness import robustness_plan

        report = robustness_plan(cfg, plan, scores, out, info)
        if info.is_main:
            print(to_markdown(report), flush=True)
    return results


def wait_for_config(run_dir: str, max_idle: float, poll: float) -> None:
    """--watch may start before the training job has written its config: wait for it (every
    rank on its own: nothing is initialized yet)."""
    start = time.monotonic()
    while not os.path.isfile(os.path.join(run_dir, "config.json")):
        if max_idle > 0 and time.monotonic() - start > max_idle:
            raise FileNotFoundError(f"{run_dir}: no config.json after {max_idle:g} s (is a training "
                                    f"job writing this run folder?)")
        time.sleep(min(poll, 5.0))


def report_failure(info: dist.DistInfo, err: BaseException) -> None:
    """What failed on this rank, then which peers are alive or gone."""
    print(f"xstilts evaluate: rank {info.rank} failed: {type(err).__name__}: {err}",
          file=sys.stderr, flush=True)
    if info.world_size == 1 or not dist.is_initialized():
        return
    try:
        peers = dist.describe_peers(info)
    except Exception as why:  # the report must never hide the original error
        peers = [(-1, "alive", f"could not check the peers: {why}")]
    gone = [str(r) for r, status, _ in peers if status == "gone"]
    lines = [f"xstilts evaluate: rank {info.rank}: peer {text}" for _, _, text in peers]
    lines.append(f"xstilts evaluate: rank {info.rank}: " + (
        f"rank {', '.join(gone)} died; the evaluation cannot finish" if gone else
        f"every peer is alive: rank {info.rank} failed on its own"))
    print("\n".join(lines), file=sys.stderr, flush=True)


def run_evaluate(args) -> int:
    from trainer.runtime.logs import setup_logging
    from trainer.errors import USER_ERRORS, UserError, user_error_in
    from trainer.runtime.tracking import build_tracker

    info = dist.discover()
    setup_logging(info.rank)
    out = args.out or os.path.join(args.target, "eval")
    if args.watch:
        from trainer.model.export import EXPORT_META

        if os.path.isfile(os.path.join(args.target, EXPORT_META)):
            raise UserError(f"--watch takes a run folder, not an export: {args.target}")
        if getattr(args, "perturb", None):
            raise UserError("--watch scores clean data only; run --perturb on the finished export "
                            "(or set eval.perturb in the recipe for a pass at the end of training)")
        wait_for_config(args.target, args.max_idle, args.poll)
    try:
        cfg, plan = resolve_plan(args, out)
    except USER_ERRORS as err:
        raise UserError(str(err)) from None
    dist.init(info, cfg.deepspeed.backend, cfg.deepspeed.timeout_s, cfg.deepspeed.cpu_shm_comm)
    tracker = build_tracker(cfg.tracking.tensorboard, os.path.join(out, "tb"), info.is_main)
    try:
        if args.watch:
            from trainer.watch import watch

            watch(cfg, args, out, info, tracker)
        else:
            evaluate_plan(cfg, plan, out, info, tracker)
    except Exception as err:
        report_failure(info, err)
        cause = user_error_in(err)
        if cause is not None:
            raise UserError(f"rank {info.rank}: {cause}") from None
        raise
    finally:
        tracker.close()
        dist.shutdown()
    return 0
