"""`xstilts evaluate`: the separate distributed evaluator, launched on its own on any number of
ranks. A run folder means the final exports its recipe's plan names; an export folder is scored
on the tasks its heads serve (or ``--tasks``)."""
from __future__ import annotations

import logging
import os

from trainer import dist
from trainer.config import Config, from_dict

log = logging.getLogger("xstilts.eval")


def plan_from_run(run_dir: str) -> tuple[Config, list[tuple[str, list[str]]]]:
    """(config, [(export folder, tasks scored with it)]) from a run folder's recipe."""
    import json

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


def plan_from_export(export: str, tasks: list[str] | None) -> tuple[Config, list[tuple[str, list[str]]]]:
    from trainer.model import read_export_meta

    meta = read_export_meta(export)
    cfg = from_dict(meta["config"]) if "config" in meta else Config()
    names = tasks or [t for t in meta["task_to_head"]]
    return cfg, [(export, names)]


def resolve_plan(args):
    from trainer.model import EXPORT_META

    if os.path.isfile(os.path.join(args.target, EXPORT_META)):
        cfg, plan = plan_from_export(args.target, args.tasks)
    else:
        cfg, plan = plan_from_run(args.target)
        if args.tasks:
            plan = [(e, [t for t in ts if t in args.tasks]) for e, ts in plan]
            plan = [(e, ts) for e, ts in plan if ts]
    if args.split:
        cfg.eval.split = args.split
    if args.languages:
        cfg.eval.languages = list(args.languages)
    return cfg, plan


def evaluate_plan(cfg: Config, plan, out: str, info: dist.DistInfo, tracker) -> dict:
    from eval.results import build_results, format_table, write_results
    from trainer.pipeline import evaluate_export
    from trainer.tasks import get_task

    scores, provenance = {}, {}
    for export, names in plan:
        if not os.path.isfile(os.path.join(export, "xstilts.json")):
            raise FileNotFoundError(f"export {export} does not exist (has that phase finished?)")
        got = evaluate_export(cfg, export, [get_task(n) for n in names], info, tracker,
                              split=cfg.eval.split, out_dir=os.path.join(out, "predictions"))
        scores.update(got)
        provenance.update({t: {"export": export} for t in got})
    results = build_results(scores, {"provenance": provenance,
                                     "retrieval_layer": cfg.model.retrieval_layer})
    if info.is_main:
        write_results(results, out)
        print(format_table(results), flush=True)
    return results


def run_evaluate(args) -> int:
    from trainer.cli import setup_logging
    from trainer.tracking import build_tracker

    info = dist.discover()
    setup_logging(info.rank)
    cfg, plan = resolve_plan(args)
    out = args.out or os.path.join(args.target, "eval")
    dist.init(info, cfg.deepspeed.backend, cfg.deepspeed.timeout_s, cfg.deepspeed.cpu_shm_comm)
    tracker = build_tracker(cfg.tracking.tensorboard, os.path.join(out, "tb"), info.is_main)
    try:
        if args.watch:
            from trainer.watch import watch

            watch(cfg, args, out, info, tracker)
        else:
            evaluate_plan(cfg, plan, out, info, tracker)
    finally:
        tracker.close()
        dist.shutdown()
    return 0
