"""Per-item scores recompute each set's metric exactly (accuracy, span F1 from chunk counts,
token accuracy, QA (EM + F1) / 2), and the paired bootstrap over test items: identical
predictions give p = 1 and a zero interval, a clear gain an interval above 0, the grid uses it
in place of the test over seeds where both sides saved their items."""
from __future__ import annotations

import random

import numpy as np
import pytest

from eval.grid import build_grid
from eval.items import COUNTS, MEAN, chunk_counts, item_test, metric_of, pool
from eval.metrics import seqeval_prf
from eval.results import aggregate_runs

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_chunk_counts_give_seqevals_f1():
    rng = random.Random(3)
    for _ in range(30):
        gold = [[rng.choice(TAGS) for _ in range(rng.randint(1, 9))] for _ in range(12)]
        pred = [[t if rng.random() < 0.7 else rng.choice(TAGS) for t in g] for g in gold]
        counts = np.asarray([chunk_counts(p, g) for p, g in zip(pred, gold)])
        assert metric_of(COUNTS, counts) == pytest.approx(seqeval_prf(pred, gold)["f1"])


def test_a_hand_worked_set():
    # two sentences: PER right, LOC predicted as PER; one chunk missed entirely
    pred = [["B-PER", "O"], ["B-PER", "O", "O"]]
    gold = [["B-PER", "O"], ["B-LOC", "O", "B-LOC"]]
    counts = [chunk_counts(p, g) for p, g in zip(pred, gold)]
    assert counts == [[1, 1, 1], [0, 1, 2]]
    assert metric_of(COUNTS, np.asarray(counts)) == pytest.approx(100 * 2 * 1 / (2 + 3))
    assert metric_of(COUNTS, np.asarray([[3, 4], [1, 4]])) == pytest.approx(50.0)  # token accuracy
    assert metric_of(MEAN, np.asarray([1, 0, 1, 1])) == 75.0


def test_identical_items_give_p_one_and_a_zero_interval():
    a = {"de": np.asarray([1, 0, 1, 1, 0] * 8, dtype=float), "fr": np.asarray([0, 1, 1] * 9, dtype=float)}
    test = item_test(a, {k: v.copy() for k, v in a.items()}, MEAN, resamples=300)
    assert test["delta"] == 0 and test["ci_low"] == 0 and test["ci_high"] == 0 and test["p_value"] == 1.0


def test_a_clear_gain_has_its_interval_above_zero():
    rng = np.random.default_rng(0)
    base = {lg: (rng.random(400) < 0.5).astype(float) for lg in ("de", "fr")}
    better = {lg: np.maximum(v, (rng.random(400) < 0.4).astype(float)) for lg, v in base.items()}
    test = item_test(base, better, MEAN, resamples=500)
    gain = np.mean([100 * (better[lg].mean() - base[lg].mean()) for lg in base])
    assert test["delta"] == pytest.approx(gain) and test["ci_low"] > 0 and test["p_value"] < 0.01
    assert item_test(base, {"de": better["de"]}, MEAN) is None  # not the same languages


def test_seeds_pool_per_item():
    form, pooled = pool([{"form": MEAN, "items": [1, 0, 1]}, {"form": MEAN, "items": [0, 0, 1]}])
    assert form == MEAN and pooled.tolist() == [0.5, 0.0, 1.0]
    form, pooled = pool([{"form": COUNTS, "items": [[1, 2, 2]]}, {"form": COUNTS, "items": [[0, 1, 2]]}])
    assert pooled.tolist() == [[1, 3, 4]]
    assert pool([{"form": MEAN, "items": [1]}, {"form": MEAN, "items": [1, 0]}]) is None


def test_the_grid_tests_over_items_where_both_sides_have_them():
    def res(v):
        return {"tasks": {"xnli": {"metric": "accuracy", "languages": {"de": {"accuracy": v}}, "avg_metric": v}}}

    per_seed = {"baseline": {1: res(50.0), 2: res(50.0)}, "better": {1: res(60.0), 2: res(60.0)}}
    aggregates = {k: aggregate_runs(list(v.values())) for k, v in per_seed.items()}
    base = (np.arange(200) % 2 == 0).astype(float)
    better = base.copy()
    better[1:40:2] = 1.0  # 20 more right answers out of 200: +10 points
    items = {"baseline": {"xnli": (MEAN, {"de": base})}, "better": {"xnli": (MEAN, {"de": better})}}
    grid = build_grid(aggregates, "baseline", ["baseline", "better"], 2, per_seed, items=items)
    cell = grid["cells"]["better"]["xnli"]
    assert cell["test"] == "items" and cell["items"] == 200 and cell["ci_low"] > 0
    assert grid["best"]["xnli"]["setting"] == "better"
    seeds_only = build_grid(aggregates, "baseline", ["baseline", "better"], 2, per_seed)["cells"]["better"]["xnli"]
    assert seeds_only["test"] == "seeds"
