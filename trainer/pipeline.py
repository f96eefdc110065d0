"""The phase graph of a recipe: pretrained -> intermediate phase(s) -> per-target fine-tuning ->
zero-shot evaluation on every language; retrieval scored from the phase that names it.

Each phase run writes an export that the next phase loads; a finished run is skipped on re-run.
"""
from __future__ import annotations

import json
import logging
import os

from trainer.runtime import dist
from trainer.config import Config, PhaseConfig
from trainer.loop import PhaseRun, train
from trainer.tasks import get_task
from trainer.tasks.base import RetrievalTask, Task

log = logging.getLogger("xstilts.pipeline")


def plan_runs(cfg: Config, phase: PhaseConfig, exports: dict[str, str]) -> list[PhaseRun]:
    """One run for a joint phase; one per training group for a per-task phase."""
    init = exports[phase.init]
    tasks = [get_task(n) for n in phase.tasks]
    trainable = [t for t in tasks if not isinstance(t, RetrievalTask)]
    base = os.path.join(cfg.run.out, phase.name)
    if not phase.per_task:
        return [PhaseRun(phase.name, phase, trainable, init, base)]
    groups: dict[str, list[Task]] = {}
    for t in trainable:
        groups.setdefault(t.train_group, []).append(t)
    # The group's first task supplies the English training data; the others share its head.
    return [PhaseRun(f"{phase.name}/{g}", phase, ts[:1], init, os.path.join(base, g), eval_tasks=ts[1:])
            for g, ts in groups.items()]


def run_pipeline(cfg: Config, info: dist.DistInfo, tracker, tokenizer) -> dict:
    """Train every phase in order, score as the recipe asks, write results (rank 0)."""
    from eval.results import build_results, format_table, write_results
    from trainer.runtime.tracking import build_tracker

    exports = {"pretrained": "pretrained"}
    scores: dict[str, dict] = {}
    provenance: dict[str, dict] = {}
    for phase in cfg.phases:
        runs = plan_runs(cfg, phase, exports)
        for run in runs:
            run_tracker = build_tracker(cfg.tracking.tensorboard, os.path.join(cfg.run.out, "tb", run.name),
                                        info.is_main, os.path.join(run.out, "metrics.jsonl"))
            try:
                export = train(cfg, run, info, run_tracker, tokenizer)
            finally:
                run_tracker.close()
            if phase.evaluate:
                got = evaluate_export(cfg, export, run.tasks + run.eval_tasks, info, tracker,
                                      split=cfg.eval.split)
                scores.update(got)
                provenance.update({t: {"export": export} for t in got})
        exports[phase.name] = runs[0].export_dir
        if phase.retrieval:
            got = evaluate_export(cfg, runs[0].export_dir, [get_task(n) for n in phase.retrieval],
                                  info, tracker, split=cfg.eval.split)
            scores.update(got)
            provenance.update({t: {"export": runs[0].export_dir,
                                   "retrieval_layer": cfg.model.retrieval_layer} for t in got})
    results = build_results(scores, {"run": cfg.run.name, "provenance": provenance}, task_info(scores))
    if info.is_main and scores:
        write_results(results, cfg.run.out)
        print(format_table(results), flush=True)
    if cfg.eval.perturb.kinds and scores:  # the recipe asks for noise: score it on the same exports
        from trainer.robustness import robustness_plan

        by_export: dict[str, list[str]] = {}
        for task, where in provenance.items():
            by_export.setdefault(where["export"], []).append(task)
        robustness_plan(cfg, list(by_export.items()), scores, cfg.run.out, info)
    return results


def task_info(scores: dict) -> dict:
    """Main metric and chance score of each scored task, for the results file."""
    info = {}
    for name in scores:
        task = get_task(name)
        info[name] = {"metric": task.metric, "chance": task.chance}
    return info


def evaluate_export(cfg: Config, export: str, tasks: list[Task], info: dist.DistInfo, tracker,
                    split: str, out_dir: str | None = None, stats: dict | None = None) -> dict:
    """Load an export on every rank and score ``tasks`` on all their languages; TensorBoard
    scalars go at the export's step. ``stats`` (rank 0) receives timings and the balance."""
    from trainer.model.export import load_export, read_export_meta
    from trainer.data.tokenizer import load_tokenizer_from

    model = load_export(export, cfg.model.attn_implementation).to(_device())
    tokenizer = load_tokenizer_from(export)
    step = read_export_meta(export).get("step", 0)
    return evaluate_model(cfg, model, tokenizer, tasks, info, split=split, tracker=tracker,
                          step=step, out_dir=out_dir or os.path.join(cfg.run.out, "predictions"),
                          stats=stats)


def _device():
    import torch

    return f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"


def evaluate_model(cfg: Config, model, tokenizer, tasks: list[Task], info: dist.DistInfo,
                   split: str, languages: list[str] | None = None, tracker=None, step: int = 0,
                   out_dir: str | None = None, stats: dict | None = None, noise=None) -> dict:
    """Distributed evaluation of ``tasks`` (all languages unless restricted); scores on every rank.
    ``noise`` (trainer.robustness.Noise) perturbs every evaluation set first.

    Every rank prepares every set and builds the same work items (chunks of about
    ``eval.chunk_tokens`` tokens), runs its share (largest first to the least loaded rank), and
    sends its predictions to rank 0, which checks that every example came back exactly once,
    scores, writes the prediction files and broadcasts the scores."""
    import time

    from eval import evaluator
    from trainer.predict import Predictor, plan_items, run_and_gather
    from trainer.scoring import score_on_main

    t0 = time.perf_counter()
    predictor = Predictor(model, tokenizer, cfg, {t.name: t for t in tasks}, split, noise)
    with dist.main_process_first(info):  # local rank 0 fills the dataset caches first
        expected, items = plan_items(predictor, tasks, languages or cfg.eval.languages,
                                     cfg.eval.chunk_tokens)
    t1 = time.perf_counter()
    merged, reports = run_and_gather(cfg, evaluator.assign(items, info.world_size)[info.rank],
                                     predictor, info)
    t2 = time.perf_counter()
    scores = None
    if info.is_main:
        scores = score_on_main(predictor, tasks, merged, expected, reports, tracker, step,
                               out_dir, stats)
        if stats is not None:
            stats.update(prepare_s=t1 - t0, run_s=t2 - t1)
    # Rank 0's scoring (BUCC mining over large corpora) may outlast the collective timeout too.
    dist.slow_barrier()
    return evaluator.broadcast(scores)


def write_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
