"""Differences between settings tested, not just printed: the paired bootstrap against figures
worked out by hand, and a grid that names a best setting only where it beats the baseline by
more than its 95% interval."""
from __future__ import annotations

from fractions import Fraction

import pytest

from eval.grid import NO_BEST, build_grid, to_csv, to_markdown
from eval.stats import beats, paired_bootstrap, paired_item_test, paired_seed_test


def test_paired_bootstrap_matches_the_exact_enumeration_worked_by_hand():
    # b is right on item 0 only, a on none: delta = 1/3. Of the 27 resamples of 3 items, k copies
    # of item 0 occur with counts 8, 12, 6, 1 (k = 0..3), each giving a difference of k/3. The
    # resamples at least 1/3 away from 1/3 are k = 0, 2, 3: p = 15/27. The 2.5% point is 0
    # (8/27 of the mass) and the 97.5% point is 1 (k <= 2 holds only 26/27 < 97.5%).
    got = paired_item_test([0, 0, 0], [1, 0, 0])
    assert got["exact"] and got["resamples"] == 27
    assert got["delta"] == pytest.approx(100 / 3)
    assert got["p_value"] == pytest.approx(float(Fraction(15, 27)))
    assert (got["ci_low"], got["ci_high"]) == (pytest.approx(0.0), pytest.approx(100.0))


def test_identical_predictions_give_p_one_and_a_zero_interval():
    a = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1] * 5
    got = paired_item_test(a, list(a), resamples=500, seed=3)
    assert not got["exact"]
    assert got["delta"] == 0 and got["p_value"] == 1.0
    assert got["ci_low"] == got["ci_high"] == 0


def test_a_large_consistent_gain_is_significant_and_resampling_is_seeded():
    a = [0] * 40 + [1] * 10
    b = [1] * 40 + [1] * 10  # b right wherever a is, and on 40 more items
    one = paired_item_test(a, b, resamples=400, seed=1)
    assert one["delta"] == pytest.approx(80.0)
    assert one["p_value"] < 0.01 and one["ci_low"] > 60
    assert one == paired_item_test(a, b, resamples=400, seed=1)


def test_paired_bootstrap_recomputes_a_corpus_metric_on_each_resample():
    # a ratio metric (sum of hits / sum of sizes) is recomputed on the resample, not averaged
    hits = {"a": [1, 2], "b": [2, 2]}
    sizes = [2, 4]

    def score(idx, side):
        return sum(hits[side][i] for i in idx) / sum(sizes[i] for i in idx)

    got = paired_bootstrap(2, score)
    assert got["exact"] and got["delta"] == pytest.approx(4 / 6 - 3 / 6)
    # resamples (0,0): 4/4 - 2/4 = 0.5; (1,1): 4/8 - 4/8 = 0; (0,1) and (1,0): 4/6 - 3/6 = 1/6.
    # Differences at least 1/6 away from 1/6: 0 and 0.5, so p = 2/4; averaging per-item ratios
    # instead would give another delta (1 - 0.5 + 0.5 - 0.5) / 2 = 0.25.
    assert got["p_value"] == pytest.approx(0.5)
    assert got["ci_low"] == pytest.approx(0.0) and got["ci_high"] == pytest.approx(0.5)


def test_seed_test_pairs_by_seed_and_ignores_unshared_seeds():
    base = {1: 50.0, 2: 52.0, 3: 51.0, 9: 10.0}
    better = {1: 60.0, 2: 62.0, 3: 61.0}
    got = paired_seed_test(base, better)
    assert got["seeds"] == [1, 2, 3]
    assert got["delta"] == pytest.approx(10.0) and got["ci_low"] == pytest.approx(10.0)
    assert got["p_value"] == 0.0 and beats(got)
    assert paired_seed_test({1: 1.0}, {2: 1.0}) is None


def results(scores: dict[str, dict[str, float]]) -> dict:
    """A results.json with one accuracy task per key and the given per-language scores."""
    tasks = {}
    for task, langs in scores.items():
        tasks[task] = {"metric": "accuracy", "languages": {lg: {"accuracy": v} for lg, v in langs.items()},
                       "avg_metric": sum(langs.values()) / len(langs)}
    return {"tasks": tasks}


def aggregate(per_seed: dict[int, dict]) -> dict:
    from eval.results import aggregate_runs

    return aggregate_runs(list(per_seed.values()))


@pytest.fixture
def study():
    # baseline ~50; "steady" +5 on every seed; "noisy" +2 on average but -6 on one seed;
    # "worse" -1 on every seed
    runs = {
        "baseline": {1: results({"t": {"en": 50, "de": 48}}), 2: results({"t": {"en": 52, "de": 50}}),
                     3: results({"t": {"en": 51, "de": 49}})},
        "steady": {1: results({"t": {"en": 55, "de": 53}}), 2: results({"t": {"en": 57, "de": 55}}),
                   3: results({"t": {"en": 56, "de": 54}})},
        "noisy": {1: results({"t": {"en": 56, "de": 54}}), 2: results({"t": {"en": 46, "de": 44}}),
                  3: results({"t": {"en": 57, "de": 55}})},
        "worse": {1: results({"t": {"en": 49, "de": 47}}), 2: results({"t": {"en": 51, "de": 49}}),
                  3: results({"t": {"en": 50, "de": 48}})},
    }
    return runs


def test_best_is_only_a_setting_that_beats_the_baseline_beyond_its_interval(study):
    grid = build_grid({n: aggregate(r) for n, r in study.items()}, "baseline", list(study), 3,
                      per_seed=study)
    cells = grid["cells"]
    assert cells["steady"]["t"]["delta"] == pytest.approx(5.0) and cells["steady"]["t"]["ci_low"] > 0
    assert cells["noisy"]["t"]["ci_low"] < 0 < cells["noisy"]["t"]["ci_high"]
    assert cells["worse"]["t"]["ci_high"] < 0
    assert cells["baseline"]["t"]["p_value"] is None and cells["steady"]["t"]["seeds"] == [1, 2, 3]
    assert grid["best"]["t"]["setting"] == "steady"
    # without the steady setting, the noisy one has the highest mean but is not named best
    rest = {k: v for k, v in study.items() if k != "steady"}
    grid = build_grid({n: aggregate(r) for n, r in rest.items()}, "baseline", list(rest), 3, per_seed=rest)
    assert grid["best"]["t"] == {"setting": None, "why": NO_BEST}
    table = to_markdown(grid)
    assert "| best intermediate | none |" in table and "p=" in table
    assert "ci_low" in to_csv(grid).splitlines()[0]


def test_per_language_cells_and_group_contrasts(study):
    grid = build_grid({n: aggregate(r) for n, r in study.items()}, "baseline", list(study), 3,
                      per_seed=study, by_language=True,
                      contrasts=[{"name": "steady - worse", "plus": ["steady"], "minus": ["worse"]},
                                 {"name": "both - worse", "plus": ["steady", "noisy"], "minus": ["worse"]}])
    de = grid["languages"]["steady"]["t"]["de"]
    assert de["mean"] == pytest.approx(54.0) and de["delta"] == pytest.approx(5.0)
    assert grid["languages"]["baseline"]["t"]["de"]["delta"] is None
    c = grid["contrasts"]["steady - worse"]["t"]
    assert c["delta"] == pytest.approx(6.0) and c["ci_low"] == pytest.approx(6.0)
    # per seed: the mean of steady and noisy (their language averages) minus worse's
    both = grid["contrasts"]["both - worse"]["t"]
    by_seed = [((54 + 55) / 2) - 48, ((56 + 45) / 2) - 50, ((55 + 56) / 2) - 49]
    assert both["delta"] == pytest.approx(sum(by_seed) / 3)
    assert "Contrast steady - worse" in to_markdown(grid)
