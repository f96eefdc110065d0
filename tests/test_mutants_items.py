"""The per-item scores and the paired bootstrap over test items (eval/items.py) checked against
values worked out independently: survivors of a mutation run of eval/items.py, each killed here."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from eval.items import COUNTS, MEAN, item_test, metric_of, pool, read_items, write_items


def _sets():
    rng = np.random.default_rng(7)
    a = {"de": rng.random(30), "fr": rng.random(17)}  # QA-like per-item scores in [0, 1]: no ties
    b = {lg: np.clip(v + rng.normal(0.05, 0.2, len(v)), 0, 1) for lg, v in a.items()}
    return a, b


def _expected(a, b, resamples: int, seed: int, alpha: float = 0.05) -> dict:
    """The documented procedure written out: per language (in name order) a draw of as many
    indices as items from numpy's generator of ``seed``; the figure is the mean over languages
    of 100 x the mean of the drawn items; percentile = the smallest value with at least that
    share at or below it; p = (far + 1) / (resamples + 1), far = draws at least |delta| from delta."""
    langs = sorted(a)
    fig = lambda side, draw: sum(100.0 * sum(side[lg][i] for i in draw[lg]) / len(draw[lg])  # noqa: E731
                                 for lg in langs) / len(langs)
    full = {lg: list(range(len(a[lg]))) for lg in langs}
    delta = fig(b, full) - fig(a, full)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        draw = {lg: list(rng.integers(0, len(a[lg]), len(a[lg]))) for lg in langs}
        diffs.append(fig(b, draw) - fig(a, draw))
    diffs.sort()
    at = lambda q: diffs[max(0, math.ceil(q * len(diffs)) - 1)]  # noqa: E731
    far = sum(1 for d in diffs if abs(d - delta) >= abs(delta) - 1e-12)
    return {"delta": delta, "ci_low": at(alpha / 2), "ci_high": at(1 - alpha / 2),
            "p_value": (far + 1) / (resamples + 1)}


@pytest.mark.parametrize("resamples", [40, 400])
def test_item_test_follows_the_documented_procedure(resamples):
    a, b = _sets()
    got = item_test(a, b, MEAN, resamples=resamples, seed=3)
    want = _expected(a, b, resamples, 3)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
    assert got["items"] == 47 and got["resamples"] == resamples and got["test"] == "items"
    assert got["ci_low"] < got["delta"] < got["ci_high"]


def test_item_test_default_seed_is_zero():
    a, b = _sets()
    assert item_test(a, b, MEAN, resamples=60) == item_test(a, b, MEAN, resamples=60, seed=0)
    assert item_test(a, b, MEAN, resamples=60, seed=1) != item_test(a, b, MEAN, resamples=60, seed=0)


def test_item_test_needs_the_same_languages_and_item_counts():
    three, four = np.array([1.0, 0.0, 1.0]), np.array([1.0, 0.0, 1.0, 1.0])
    assert item_test({"de": three}, {"de": four}, MEAN) is None
    assert item_test({"de": np.array([])}, {"de": np.array([])}, MEAN) is None
    assert item_test({"de": three}, {"fr": three}, MEAN) is None
    assert item_test({}, {}, MEAN) is None


def test_metric_of_empty_single_and_zero_denominators():
    assert metric_of(MEAN, np.array([])) == 0.0
    assert metric_of(MEAN, np.array([0.5])) == 50.0
    assert metric_of(COUNTS, np.array([[0, 0, 0]])) == 0.0  # no chunk predicted nor gold: F1 0
    assert metric_of(COUNTS, np.array([[0, 0]])) == 0.0  # no token: accuracy 0
    assert metric_of(COUNTS, np.array([[1, 2, 2], [0, 0, 1]])) == pytest.approx(100 * 2 * 1 / 5)
    assert metric_of(COUNTS, np.array([[3, 4], [1, 4]])) == pytest.approx(50.0)


def test_items_round_trip_in_utf8_and_a_missing_file_is_none(tmp_path, ascii_default_open):
    real_open = ascii_default_open
    one = str(tmp_path / "items" / "xquad" / "test-de.json")
    two = str(tmp_path / "items" / "xquad" / "test-fr.json")  # the same folder again
    write_items(one, "exact_match·f1", MEAN, [0.5, 1.0])
    write_items(two, "f1", COUNTS, [[1, 2, 2]])
    assert read_items(one) == {"metric": "exact_match·f1", "form": MEAN, "items": [0.5, 1.0]}
    assert read_items(two)["items"] == [[1, 2, 2]]
    with real_open(one, encoding="utf-8") as f:
        assert json.load(f)["metric"] == "exact_match·f1"
    assert read_items(str(tmp_path / "items" / "none.json")) is None
    raw = str(tmp_path / "items" / "raw.json")  # UTF-8 as another tool writes it, unescaped
    with real_open(raw, "w", encoding="utf-8") as f:
        f.write('{"metric": "exact_match·f1", "form": "mean", "items": [1.0]}')
    assert read_items(raw)["metric"] == "exact_match·f1"
    assert os.path.isdir(tmp_path / "items" / "xquad")


def test_pool_gives_float_means_and_summed_counts():
    got = pool([{"form": MEAN, "items": [1, 0]}, {"form": MEAN, "items": [0, 0]}])
    assert got[0] == MEAN and got[1].tolist() == [0.5, 0.0]
    form, counts = pool([{"form": COUNTS, "items": [[1, 2, 2]]}, {"form": COUNTS, "items": [[0, 1, 2]]}])
    assert form == COUNTS and counts.tolist() == [[1.0, 3.0, 4.0]] and counts.dtype == np.float64


def test_one_resample_gives_an_interval_of_its_one_difference():
    a, b = _sets()
    got = item_test(a, b, MEAN, resamples=1, seed=2)
    want = _expected(a, b, 1, 2)
    assert got["ci_low"] == got["ci_high"] == pytest.approx(want["ci_low"])
