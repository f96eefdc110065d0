"""Turn gathered predictions into scores (once, on rank 0) and leaderboard prediction files.

Each task scores itself (``Task.score`` -> the official routine in eval.metrics); this module
only lines predictions up with references and writes ``<out>/<task>/test-<lang>.*`` in the
XTREME submission layout. Splits whose labels are withheld get prediction files but no score.
:func:`score_on_main` is rank 0's part of a distributed evaluation: assemble (every example
exactly once), score, write, log the balance and the TensorBoard scalars at the export's step.
"""
from __future__ import annotations

import logging
import os
import time

import numpy as np

from eval import evaluator, retrieval
from eval.items import COUNTS, MEAN, chunk_counts, write_items
from eval.results import with_em_f1
from eval.scorer import write_predictions
from trainer.evaluation.predict import part_key
from trainer.tasks.base import RetrievalTask, Task

log = logging.getLogger("xstilts.eval")


def score_on_main(predictor, tasks: list[Task], merged: dict, expected: dict, reports: list,
                  tracker, step: int, out_dir: str | None, stats: dict | None) -> dict:
    """Scores ``{task: {lang: {metric: value}}}`` from every rank's gathered results."""
    t0 = time.perf_counter()
    assembled = evaluator.assemble(merged, expected)
    scores = score_all(predictor, tasks, assembled, out_dir)
    balance = evaluator.balance(reports)
    log.info("evaluated %d examples in %d items on %d ranks; balance (slowest / mean busy time) "
             "%.3f", sum(r.examples for r in reports), sum(r.items for r in reports), len(reports),
             balance)
    if tracker is not None:
        tracker.scalars({f"eval/{t}/{lang}/{m}": v for t, s in scores.items()
                         for lang, ms in s.items() for m, v in ms.items()}, step)
    if stats is not None:
        stats.update(ranks=len(reports), balance=balance, score_s=time.perf_counter() - t0,
                     items=[r.items for r in reports], examples=[r.examples for r in reports],
                     busy_s=[r.busy_s for r in reports], cost=[r.cost for r in reports])
    return scores


def score_all(predictor, tasks: list[Task], assembled: dict, out_dir: str | None) -> dict:
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for task in tasks:
        # "*" marks a part every language shares (trainer.evaluation.predict.SHARED), not a language
        langs = sorted({lang for (t, lang, _) in assembled if t == task.name and lang != "*"})
        for lang in langs:
            if isinstance(task, RetrievalTask):
                metrics, preds = score_retrieval(predictor, task, lang, assembled)
            else:
                metrics, preds = score_examples(predictor, task, lang, assembled[(task.name, lang, "")])
            if out_dir:
                write_predictions(task.name, lang, preds, out_dir)
            if metrics:
                scores.setdefault(task.name, {})[lang] = metrics
                if out_dir and not isinstance(task, RetrievalTask):  # for the paired test over items
                    form, values = item_values(predictor, task, lang, preds)
                    write_items(os.path.join(os.path.dirname(out_dir.rstrip(os.sep)), "items", task.name,
                                             f"{predictor.split}-{lang}.json"), task.metric, form, values)
    return scores


def score_examples(predictor, task: Task, lang: str, preds: list) -> tuple[dict, object]:
    examples = predictor.examples(task.name, lang)
    if task.kind in ("classification", "multiple_choice"):
        gold = list(examples["label"])
        out = [task.labels[p] if task.labels else p for p in preds]
        if any(g < 0 for g in gold):
            return {}, out
        gold_out = [task.labels[g] if task.labels else g for g in gold]
        return task.score(out, gold_out, lang), out
    if task.kind == "tagging":
        gold = list(examples["tags"])
        if any(len(g) == 0 for g in gold):
            return {}, preds
        return task.score(preds, gold, lang), preds
    if task.kind == "span":
        ids = list(examples["id"])
        answers = dict(zip(ids, preds))
        refs = [{"id": i, "answers": a} for i, a in zip(ids, examples["answers"])]
        if all(len(r["answers"]["text"]) == 0 for r in refs):
            return {}, answers
        return task.score(answers, refs, lang), answers
    raise ValueError(f"task {task.name}: cannot score head kind {task.kind}")


def item_values(predictor, task: Task, lang: str, preds) -> tuple[str, list]:
    """Each example's share of the set's main metric (eval/items.py): 1/0 per classified
    example, (EM + F1) / 2 per question, chunk or token counts per tagged sentence."""
    examples = predictor.examples(task.name, lang)
    if task.kind in ("classification", "multiple_choice"):
        gold = [task.labels[g] if task.labels else g for g in examples["label"]]  # preds are label names
        return MEAN, [int(p == g) for p, g in zip(preds, gold)]
    if task.kind == "tagging":
        if task.metric == "f1":
            return COUNTS, [chunk_counts(p, g) for p, g in zip(preds, examples["tags"])]
        return COUNTS, [[sum(a == b for a, b in zip(p, g)), len(g)] for p, g in zip(preds, examples["tags"])]
    out = []
    for i, answers in zip(examples["id"], examples["answers"]):
        metrics = task.score({i: preds[i]}, [{"id": i, "answers": answers}], lang)
        out.append(with_em_f1(metrics)["em_f1"] / 100.0)
    return MEAN, out


def score_retrieval(predictor, task: RetrievalTask, lang: str, assembled: dict) -> tuple[dict, object]:
    parts = predictor.pairs[(task.name, lang)]
    emb = {part: np.asarray(assembled[part_key(task, lang, part)], dtype=np.float32)
           for part in predictor.retrieval_parts(task.name, lang)}
    return retrieval.score(task.scorer, parts, emb)
