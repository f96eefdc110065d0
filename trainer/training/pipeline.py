"""The phase graph of a recipe: pretrained -> intermediate phase(s) -> per-target fine-tuning ->
zero-shot evaluation on every language; retrieval scored from the phase that names it.

Each phase run writes an export that the next phase loads; a finished run is skipped on re-run.
With ``eval.inline = false`` nothing is scored here: a separate ``xstilts evaluate RUN`` (the
evaluator job of ``--launcher slurm``) scores the same exports.
"""
from __future__ import annotations

import logging
import os

from eval.results import build_results, format_table, write_results
from trainer.config import Config
from trainer.config.phases import main_runs, plan_runs
from trainer.evaluation.align_export import align
from trainer.evaluation.driver import evaluate_export, robustness, skipped, task_info
from trainer.model.export import read_export_meta
from trainer.runtime import dist
from trainer.runtime.tracking import build_tracker
from trainer.tasks import get_task
from trainer.training.loop import train

log = logging.getLogger("xstilts.pipeline")


def run_pipeline(cfg: Config, info: dist.DistInfo, tracker, tokenizer) -> dict:
    """Train every phase in order, score as the recipe asks, write results (rank 0)."""
    exports = {"pretrained": "pretrained"}
    scores: dict[str, dict] = {}
    provenance: dict[str, dict] = {}
    splits: dict[str, dict] = {}
    for phase in cfg.phases:
        runs = plan_runs(cfg, phase, exports)
        for run in runs:
            run_tracker = build_tracker(cfg.tracking.tensorboard, os.path.join(cfg.run.out, "tb", run.name),
                                        info.is_main, os.path.join(run.out, "metrics.jsonl"))
            try:
                export = train(cfg, run, info, run_tracker, tokenizer)
            finally:
                run_tracker.close()
            if run.phase.evaluate and cfg.eval.inline:
                got = evaluate_export(cfg, export, run.tasks + run.eval_tasks + run.retrieval, info, tracker,
                                      split=cfg.eval.split, splits=splits)
                scores.update(got)
                start = read_export_meta(export).get("head_start")
                provenance.update({t: {"export": export, "heads": start} for t in got})
        exports[phase.name] = main_runs(runs)[0].export_dir
        for name in phase.align:  # layer alignment of the phase's export (rank 0; the others wait)
            if info.is_main:
                align(exports[phase.name], name, [lg for lg in cfg.eval.languages if lg != "en"] or None,
                      "validation" if name.startswith("bucc") else "test", cfg.data.root,
                      os.path.join(cfg.run.out, "align", f"{phase.name}-{name}"))
            dist.slow_barrier()
        if phase.retrieval and cfg.eval.inline:
            got = evaluate_export(cfg, exports[phase.name], [get_task(n) for n in phase.retrieval],
                                  info, tracker, split=cfg.eval.split, splits=splits)
            scores.update(got)
            provenance.update({t: {"export": exports[phase.name],
                                   "retrieval_layer": cfg.model.retrieval_layer} for t in got})
        if phase.name == cfg.run.until:
            log.info("run.until = %s: the later phases are not run", phase.name)
            break
    results = build_results(scores, {"run": cfg.run.name, "provenance": provenance, "skipped": skipped(splits)},
                            task_info(scores, splits))
    if info.is_main and scores:
        write_results(results, cfg.run.out)
        print(format_table(results), flush=True)
    if (cfg.eval.perturb.kinds or cfg.eval.attack.kinds) and scores:  # noise / attacks on the same exports
        by_export: dict[str, list[str]] = {}
        for task, where in provenance.items():
            by_export.setdefault(where["export"], []).append(task)
        robustness(cfg, list(by_export.items()), scores, cfg.run.out, info, splits, tracker)
    return results
