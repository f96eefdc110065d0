"""The distributed evaluator's driver: an export (or a live model) -> predictions on every rank ->
scores on rank 0, broadcast to all.

Every rank prepares every set and builds the same work items (chunks of about
``eval.chunk_tokens`` tokens), runs its share (largest first to the least loaded rank), and
sends its predictions to rank 0, which checks that every example came back exactly once,
scores, writes the prediction files and broadcasts the scores. No DeepSpeed engine here.
"""
from __future__ import annotations

import json
import logging
import os
import time

from eval import evaluator
from eval.results import build_results, format_table, write_results
from eval.robustness import build_report, to_markdown, write_report
from trainer.config import Config
from trainer.data.tokenizer import load_tokenizer_from
from trainer.evaluation.attack import attack_plan
from trainer.evaluation.collect import score_on_main
from trainer.evaluation.noise import build_noises
from trainer.evaluation.plan import Plan
from trainer.evaluation.predict import Predictor, embedding_note, plan_items, run_and_gather
from trainer.model.export import load_export, read_export_meta
from trainer.runtime import dist
from trainer.tasks import get_task
from trainer.tasks.base import RetrievalTask, Task

log = logging.getLogger("xstilts.eval")


def task_info(scores: dict, splits: dict | None = None) -> dict:
    """Main metric and chance score of each scored task, and the split it was scored on (with
    the reason when that is not the split asked for), for the results file."""
    info = {}
    for name in scores:
        task = get_task(name)
        info[name] = {"metric": task.metric, "chance": task.chance, **(splits or {}).get(name, {})}
    return info


def skipped(splits: dict) -> list[dict]:
    """The tasks that were asked for and have no score, each with the reason."""
    return [{"task": t, "reason": s["split_note"]} for t, s in splits.items() if s.get("split") is None]


def evaluate_export(cfg: Config, export: str, tasks: list[Task], info: dist.DistInfo, tracker,
                    split: str, out_dir: str | None = None, stats: dict | None = None,
                    splits: dict | None = None) -> dict:
    """Load an export on every rank and score ``tasks`` on all their languages; TensorBoard
    scalars go at the export's step. ``stats`` (rank 0) receives timings and the balance.

    A task without labels in ``split`` (the XTREME download withholds the test labels of XNLI,
    PAWS-X, UD-POS and PAN-X) is scored on ``eval.fallback_split`` instead, its predictions on
    ``split`` still written for submission; ``splits`` receives, per task, the split its scores
    come from and, where that is not ``split`` or there is none, why."""
    model = load_export(export, cfg.model.attn_implementation).to(dist.local_device())
    tokenizer = load_tokenizer_from(export)
    step = read_export_meta(export).get("step", 0)
    out_dir = out_dir or os.path.join(cfg.run.out, "predictions")
    scores = evaluate_model(cfg, model, tokenizer, tasks, info, split=split, tracker=tracker,
                            step=step, out_dir=out_dir, stats=stats)
    record = {t.name: {"split": split} for t in tasks if t.name in scores}
    unlabelled = [t for t in tasks if t.name not in scores]
    fallback = cfg.eval.fallback_split
    if unlabelled and fallback and fallback != split:
        log.info("no labels in the %s split of %s: scoring on %s instead", split,
                 ", ".join(t.name for t in unlabelled), fallback)
        got = evaluate_model(cfg, model, tokenizer, unlabelled, info, split=fallback, tracker=tracker,
                             step=step, out_dir=f"{out_dir.rstrip(os.sep)}-{fallback}")
        scores.update(got)
        record.update({t: {"split": fallback, "split_note": f"no labels in the {split} split; scored on "
                                                             f"{fallback}"} for t in got})
    for t in tasks:
        if t.name not in scores:
            why = f"no labels in the {split} split" + (f" nor the {fallback} split" if fallback and fallback != split
                                                        else "")
            record[t.name] = {"split": None, "split_note": why}
            log.warning("%s: %s: not scored (predictions written under %s)", t.name, why, out_dir)
    for t in tasks:  # how each retrieval task's sentences were embedded
        if isinstance(t, RetrievalTask):
            note = embedding_note(model, t, cfg.model.retrieval_layer)
            log.info("%s: embeddings from the %s", t.name, note)
            record[t.name]["embedding"] = note
    if splits is not None:
        splits.update(record)
    return scores


def evaluate_model(cfg: Config, model, tokenizer, tasks: list[Task], info: dist.DistInfo,
                   split: str, languages: list[str] | None = None, tracker=None, step: int = 0,
                   out_dir: str | None = None, stats: dict | None = None, noise=None, limit: int = 0) -> dict:
    """Distributed evaluation of ``tasks`` (all languages unless restricted); scores on every rank.
    ``noise`` (trainer.evaluation.noise.Noise) perturbs every evaluation set first; ``limit``
    keeps the first examples of each set (0: ``data.max_eval_examples``).

    Every rank prepares every set and builds the same work items (chunks of about
    ``eval.chunk_tokens`` tokens), runs its share (largest first to the least loaded rank), and
    sends its predictions to rank 0, which checks that every example came back exactly once,
    scores, writes the prediction files and broadcasts the scores."""
    t0 = time.perf_counter()
    predictor = Predictor(model, tokenizer, cfg, {t.name: t for t in tasks}, split, noise, limit)
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


def score_export(cfg: Config, export: str, names: list[str], out: str, info: dist.DistInfo,
                 tracker) -> tuple[dict, dict]:
    """(scores, stats) of one export; predictions under ``out``/predictions."""
    if not os.path.isfile(os.path.join(export, "xstilts.json")):
        raise FileNotFoundError(f"export {export} does not exist (has that phase finished?)")
    stats: dict = {"world_size": info.world_size}
    t0 = time.perf_counter()
    splits: dict = {}
    scores = evaluate_export(cfg, export, [get_task(n) for n in names], info, tracker,
                             split=cfg.eval.split, out_dir=os.path.join(out, "predictions"),
                             stats=stats, splits=splits)
    stats["wall_s"] = time.perf_counter() - t0
    stats["splits"] = splits
    return scores, stats


def evaluate_plan(cfg: Config, plan: Plan, out: str, info: dist.DistInfo, tracker) -> dict:

    scores, provenance, all_stats, splits = {}, {}, {}, {}
    for export, names in plan:
        got, stats = score_export(cfg, export, names, out, info, tracker)
        scores.update(got)
        splits.update(stats["splits"])
        provenance.update({t: {"export": export} for t in got})
        all_stats[export] = stats
    results = build_results(scores, {"provenance": provenance, "retrieval_layer": cfg.model.retrieval_layer,
                                     "skipped": skipped(splits)}, task_info(scores, splits))
    if info.is_main:
        write_results(results, out)
        with open(os.path.join(out, "eval_stats.json"), "w") as f:
            json.dump(all_stats, f, indent=2)
        print(format_table(results), flush=True)
    robustness(cfg, plan, scores, out, info, splits, tracker)
    return results


def robustness(cfg, plan, clean: dict, out: str, info, splits: dict | None = None, tracker=None) -> dict | None:
    """The robustness passes the config asks for (noise: ``eval.perturb``; model-aware attacks:
    ``eval.attack``) on the exports of ``plan``; rank 0 writes robustness.json/md/csv/png under
    ``out`` and prints the tables. Returns the report (None when neither is configured)."""
    if not (cfg.eval.perturb.kinds or cfg.eval.attack.kinds) or not clean:
        return None
    report = robustness_plan(cfg, plan, clean, out, info, splits) if cfg.eval.perturb.kinds else None
    report = report or {"settings": [], "seed": cfg.eval.perturb.seed, "tasks": {}}
    attacks = attack_plan(cfg, plan, clean, out, info, splits, tracker)
    if attacks:
        report.update(attacks)
    if info.is_main:
        write_report(report, out)
        if tracker is not None:
            tracker.scalars({f"noise/{s}/{t}/{lang}/drop": d for t, e in report["tasks"].items()
                             for lang, r in e["languages"].items() for s, d in r["drop"].items()}, 0)
        print(to_markdown(report), flush=True)
    dist.slow_barrier()
    return report


def robustness_plan(cfg, plan, clean: dict, out: str, info, splits: dict | None = None) -> dict | None:
    """Score every (export, tasks) of ``plan`` under every noise setting, each task on the split
    its clean score came from (``splits``). Returns the noise report (None when no perturbation
    is configured); :func:`robustness` writes it."""
    noises = build_noises(cfg)
    if not noises:
        return None
    perturbed: dict[str, dict] = {n.setting.name: {} for n in noises}
    changed: dict[str, dict] = {n.setting.name: {} for n in noises}
    for export, names in plan:
        model = load_export(export, cfg.model.attn_implementation).to(dist.local_device())
        tokenizer = load_tokenizer_from(export)
        by_split: dict[str, list[Task]] = {}
        for n in names:
            if n in clean:
                where = (splits or {}).get(n, {}).get("split") or cfg.eval.split
                by_split.setdefault(where, []).append(get_task(n))
        for noise in noises:
            log.info("robustness: %s on %s", noise.setting.name, ", ".join(names))
            for split, tasks in by_split.items():
                got = evaluate_model(cfg, model, tokenizer, tasks, info, split=split, noise=noise)
                perturbed[noise.setting.name].update(got)
            for (task, lang), n in noise.changed.items():
                changed[noise.setting.name].setdefault(task, {})[lang] = n
            unchanged = sorted(k for k, n in noise.changed.items() if not n)
            if unchanged:
                log.info("robustness: %s changed no example of %s: marked n/a", noise.setting.name,
                         ", ".join(f"{t}/{lang}" for t, lang in unchanged))
    # each task on the main metric results.json reports (QA: (EM + F1) / 2)
    return build_report(clean, perturbed, cfg.eval.perturb.seed, None, changed)
