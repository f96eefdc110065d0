"""Per-item scores of a scored set, and the paired bootstrap over test items that uses them.

Each scored (task, language) set also gets its items' scores, written beside the predictions as
``items/<task>/<split>-<lang>.json``, in one of two forms from which the set's main metric is
recomputed exactly:

  ``mean``    one number per item, the metric the mean of them x 100 (accuracy: 1/0 per example;
              QA: each question's (EM + F1) / 2 as the official scorer computes it, MLQA's
              language-aware normalisation included)
  ``counts``  per item a row of counts, the metric a ratio of their sums (tagging: per sentence
              ``[correct chunks, predicted chunks, gold chunks]`` for span F1, which is
              2 * correct / (predicted + gold), or ``[correct tokens, tokens]`` for accuracy)

The test (:func:`item_test`) compares two settings on the same items: per language, items are
resampled with replacement (the same draw for both settings), the task's figure is the mean over
languages of each language's metric, and the difference's 95% interval and p-value follow the
shift method of eval/stats.py. Several seeds of one setting are pooled per item (mean of the
values, sum of the counts), so the test is over test items with the seeds averaged in.
"""
from __future__ import annotations

import json
import os
from typing import Mapping, Sequence

import numpy as np

from eval.stats import ALPHA, RESAMPLES

MEAN, COUNTS = "mean", "counts"


def chunk_counts(pred: Sequence[str], gold: Sequence[str]) -> list[int]:
    """[correct, predicted, gold] entity chunks of one sentence (seqeval's chunking)."""
    from seqeval.metrics.sequence_labeling import get_entities

    p, g = set(get_entities(list(pred))), set(get_entities(list(gold)))
    return [len(p & g), len(p), len(g)]


def metric_of(form: str, items: np.ndarray) -> float:
    """The set's metric (percent) from its items."""
    if len(items) == 0:
        return 0.0
    if form == MEAN:
        return 100.0 * float(np.mean(items))
    sums = np.asarray(items, dtype=np.float64).sum(axis=0)
    if len(sums) == 3:  # span F1
        return 100.0 * 2 * sums[0] / (sums[1] + sums[2]) if sums[1] + sums[2] else 0.0
    return 100.0 * sums[0] / sums[1] if sums[1] else 0.0


def write_items(path: str, metric: str, form: str, items: list) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"metric": metric, "form": form, "items": items}, f)


def read_items(path: str) -> dict | None:
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def pool(sets: Sequence[Mapping]) -> tuple[str, np.ndarray] | None:
    """Several seeds' items of one set as one: mean per item, or summed counts (None when they
    do not describe the same items)."""
    forms = {s["form"] for s in sets}
    sizes = {len(s["items"]) for s in sets}
    if len(forms) != 1 or len(sizes) != 1:
        return None
    form = forms.pop()
    stacked = np.asarray([s["items"] for s in sets], dtype=np.float64)
    return form, (stacked.mean(axis=0) if form == MEAN else stacked.sum(axis=0))


def item_test(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], form: str, resamples: int = RESAMPLES,
              seed: int = 0, alpha: float = ALPHA) -> dict | None:
    """Paired bootstrap over test items of the task figure (mean over languages of each
    language's metric) of ``b`` minus ``a``; each is ``{lang: items}``. None unless both have
    the same languages and item counts."""
    langs = sorted(a)
    if not langs or sorted(b) != langs or any(len(a[lg]) != len(b[lg]) or not len(a[lg]) for lg in langs):
        return None

    def figure(side: Mapping[str, np.ndarray], draw: Mapping[str, np.ndarray] | None) -> float:
        return sum(metric_of(form, side[lg] if draw is None else side[lg][draw[lg]]) for lg in langs) / len(langs)

    delta = figure(b, None) - figure(a, None)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        draw = {lg: rng.integers(0, len(a[lg]), len(a[lg])) for lg in langs}
        diffs.append(figure(b, draw) - figure(a, draw))
    diffs = np.sort(np.asarray(diffs))
    far = int(np.sum(np.abs(diffs - delta) >= abs(delta) - 1e-12))
    low = diffs[max(0, int(np.ceil(alpha / 2 * len(diffs))) - 1)]
    high = diffs[max(0, int(np.ceil((1 - alpha / 2) * len(diffs))) - 1)]
    return {"delta": float(delta), "ci_low": float(low), "ci_high": float(high),
            "p_value": min(1.0, (far + 1) / (len(diffs) + 1)), "items": int(sum(len(a[lg]) for lg in langs)),
            "resamples": len(diffs), "test": "items"}
