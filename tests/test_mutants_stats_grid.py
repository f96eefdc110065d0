"""The paired bootstrap's figures and the extra tables of a sweep (robustness drops, alignment)
checked against values worked out by hand: the survivors of a mutation run of eval/stats.py and
eval/grid_extra.py, each killed here."""
from __future__ import annotations

import json
import os

import pytest

from eval.grid_extra import alignment_tables, build_extra, read_tables, robustness_tables
from eval.stats import beats, paired_bootstrap, paired_item_test, paired_seed_test


# ---------------------------------------------------------------- eval/stats.py


def test_bootstrap_interval_and_p_of_the_mean_of_four_indices_by_hand():
    # score = mean of the resampled indices (0..3) on side b, 0 on side a: delta = 1.5. The
    # 4**4 = 256 resamples are enumerated; the index sums s = 0..12 occur with the coefficients
    # of (1 + x + x^2 + x^3)^4: 1 4 10 20 31 40 44 40 31 20 10 4 1.
    # 2.5% of 256 = 6.4: the cumulative counts 1, 5, 15 reach it at s = 2 -> 0.5.
    # 97.5% = 249.6: s <= 9 holds 241, s <= 10 holds 251 -> s = 10 -> 2.5.
    # p: differences at least 1.5 from 1.5 are s = 0 and s = 12 -> 2/256.
    got = paired_bootstrap(4, lambda idx, side: sum(idx) / len(idx) if side == "b" else 0.0)
    assert got["exact"] and got["resamples"] == 256 and got["n"] == 4
    assert got["delta"] == pytest.approx(1.5)
    assert got["ci_low"] == pytest.approx(0.5) and got["ci_high"] == pytest.approx(2.5)
    assert got["p_value"] == pytest.approx(2 / 256)
    # a 90% interval from the same draws: 5% = 12.8 -> s = 2 (15); 95% = 243.2 -> s = 10 (251)
    narrow = paired_bootstrap(4, lambda idx, side: sum(idx) / len(idx) if side == "b" else 0.0, alpha=0.1)
    assert (narrow["ci_low"], narrow["ci_high"]) == (pytest.approx(0.5), pytest.approx(2.5))
    # 20%: 10% = 25.6 -> s = 3 (35); 90% = 230.4 -> s = 9 (241)
    wide = paired_bootstrap(4, lambda idx, side: sum(idx) / len(idx) if side == "b" else 0.0, alpha=0.2)
    assert (wide["ci_low"], wide["ci_high"]) == (pytest.approx(0.75), pytest.approx(2.25))


def test_sampled_p_value_is_one_more_than_the_far_draws_over_one_more_than_the_draws():
    # b right on 40 more items than a: no resample comes within 80 points of 0 or 160 (a
    # resample without any of those 40 items has probability (10/50)**50), so none is "far"
    # and p = (0 + 1) / (400 + 1), the add-one estimate, never 0.
    a, b = [0] * 40 + [1] * 10, [1] * 50
    got = paired_item_test(a, b, resamples=400, seed=1)
    assert not got["exact"] and got["resamples"] == 400
    assert got["p_value"] == pytest.approx(1 / 401)


def test_enumeration_is_exact_up_to_the_resample_budget_and_sampled_above_it():
    a, b = [0, 1, 0], [1, 1, 0]
    at = paired_item_test(a, b, resamples=27)  # 3**3 = 27 resamples: all of them
    assert at["exact"] and at["resamples"] == 27
    below = paired_item_test(a, b, resamples=26)
    assert not below["exact"] and below["resamples"] == 26
    five = [1, 0, 1, 1, 0]  # 5**5 = 3125 > the default 2000: sampled, not enumerated
    got = paired_item_test(five, [1, 1, 1, 0, 0])
    assert not got["exact"] and got["resamples"] == 2000


def test_the_default_seed_is_zero():
    a = [1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0]
    b = [1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1]
    assert paired_item_test(a, b, resamples=50) == paired_item_test(a, b, resamples=50, seed=0)
    assert paired_item_test(a, b, resamples=50, seed=1) != paired_item_test(a, b, resamples=50, seed=0)


def test_one_paired_item_is_enough_and_none_is_refused_by_name():
    got = paired_bootstrap(1, lambda idx, side: 2.0 if side == "b" else 1.0)
    assert got["exact"] and got["resamples"] == 1 and got["delta"] == 1.0 and got["p_value"] == 0.0
    with pytest.raises(ValueError, match="^paired_bootstrap: no paired items$"):
        paired_bootstrap(0, lambda idx, side: 0.0)
    with pytest.raises(ValueError, match="^paired_item_test: 3 items against 2$"):
        paired_item_test([1, 0, 1], [1, 0])


def test_item_and_seed_tests_pass_their_options_on():
    a, b = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1], [1, 1, 1, 1, 0, 1, 0, 1, 1, 1]
    assert paired_item_test(a, b, resamples=123, seed=5)["resamples"] == 123
    seeds_a = {s: 50.0 + s for s in range(1, 6)}
    seeds_b = {s: 52.0 + s % 3 for s in range(1, 6)}
    assert paired_seed_test(seeds_a, seeds_b)["exact"] is False  # 5**5 > 2000
    assert paired_seed_test(seeds_a, seeds_b, resamples=3125)["exact"] is True


def test_beats_needs_the_whole_interval_above_zero():
    assert not beats({"ci_low": 0.0, "ci_high": 2.0})  # touching 0 is not beating
    assert beats({"ci_low": 0.5, "ci_high": 2.0})
    assert not beats(None) and not beats({})


# ---------------------------------------------------------------- eval/grid_extra.py


def _robustness(avg_noise: float | None = 9.0, avg_attack: float | None = 7.0, settings=("char_swap@0.1",)) -> dict:
    task = {"languages": {"de": {"drop": {"char_swap@0.1": 2.0}}, "fr": {"drop": {"char_swap@0.1": 4.0}}}}
    if avg_noise is not None:
        task["average"] = {"drop": {"char_swap@0.1": avg_noise}}
    report = {"settings": list(settings), "tasks": {"xnli": task},
              "attacks": {"char_greedy@0.2": {"panx": {},  # first: the tasks after it still count
                                              "xnli": {"de": {"drop": 10.0}, "fr": {"drop": 20.0}}}}}
    if avg_attack is not None:
        report["attack_averages"] = {"char_greedy@0.2": {"xnli": {"drop": avg_attack}}}
    return report


def test_robustness_tables_keep_the_reports_own_averages_else_the_mean_of_languages():
    tables = robustness_tables(_robustness())
    assert tables["noise char_swap@0.1"]["tasks"]["xnli"]["avg_metric"] == 9.0
    assert tables["attack char_greedy@0.2"]["tasks"]["xnli"]["avg_metric"] == 7.0
    mean = robustness_tables(_robustness(None, None))
    assert mean["noise char_swap@0.1"]["tasks"]["xnli"]["avg_metric"] == 3.0
    assert mean["attack char_greedy@0.2"]["tasks"]["xnli"] == {
        "metric": "drop", "languages": {"de": {"drop": 10.0}, "fr": {"drop": 20.0}}, "avg_metric": 15.0}
    # an attacked task without a language is left out, as a noise setting without one is (an
    # entry without figures made the aggregation over seeds divide by zero)
    assert "panx" not in mean["attack char_greedy@0.2"]["tasks"]


def test_robustness_tables_take_only_the_reports_settings():
    assert "noise char_swap@0.1" not in robustness_tables(_robustness(settings=()))
    bare = {"tasks": {"xnli": {"languages": {"de": {"drop": {"x": 1.0}}}}}}  # no settings, no attacks
    assert robustness_tables(bare) == {}


def test_alignment_tables_name_an_unnamed_report_align_and_skip_languages_without_layers():
    report = {"languages": {"de": {"per_layer": [{"layer": 0, "accuracy": 10.0}]}, "fr": {}}}
    tables = alignment_tables(report)
    assert list(tables) == ["alignment accuracy"]
    assert tables["alignment accuracy"]["tasks"] == {
        "align L0": {"metric": "accuracy", "languages": {"de": {"accuracy": 10.0}}, "avg_metric": 10.0}}


def _write(path: str, doc: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)


def test_read_tables_merges_every_align_folder_beside_the_robustness_report(tmp_path):
    run = str(tmp_path / "run")
    _write(os.path.join(run, "robustness.json"), _robustness())
    for task, acc in (("tatoeba", 30.0), ("bucc", 60.0)):
        _write(os.path.join(run, "align", task, "align.json"),
               {"task": task, "languages": {"de": {"per_layer": [{"layer": 1, "accuracy": acc, "cka": acc / 100}]}}})
    os.makedirs(os.path.join(run, "align", "empty"))  # a folder without align.json is passed over
    tables = read_tables(run)
    assert set(tables) == {"noise char_swap@0.1", "attack char_greedy@0.2", "alignment accuracy", "alignment cka"}
    acc = tables["alignment accuracy"]["tasks"]
    assert list(acc) == ["bucc L1", "tatoeba L1"]  # folders in name order, both kept
    assert acc["tatoeba L1"]["avg_metric"] == 30.0 and acc["bucc L1"]["languages"] == {"de": {"accuracy": 60.0}}
    assert tables["alignment cka"]["tasks"]["bucc L1"]["avg_metric"] == pytest.approx(0.6)
    assert tables["noise char_swap@0.1"]["tasks"]["xnli"]["avg_metric"] == 9.0
    assert read_tables(str(tmp_path / "nothing")) == {}


def test_build_extra_keeps_the_row_order_the_expected_runs_and_languages_only_on_request():
    per_seed = {"b": {1: robustness_tables(_robustness(5.0)), 2: robustness_tables(_robustness(6.0))},
                "base": {1: robustness_tables(_robustness(9.0)), 2: robustness_tables(_robustness(9.5))},
                "late": {1: robustness_tables(_robustness(4.0))}}  # one seed of three finished
    extra = build_extra(per_seed, "base", ["base", "b", "late"], 3)
    noise = extra["noise char_swap@0.1"]
    assert noise["settings"] == ["base", "b", "late"] and noise["expected_runs"] == 3
    assert "languages" not in noise and noise["higher_is_better"] is False
    assert noise["cells"]["late"]["xnli"]["n"] == 1
    per_lang = build_extra(per_seed, "base", ["base", "b", "late"], 3, by_language=True)["noise char_swap@0.1"]
    assert per_lang["languages"]["b"]["xnli"]["de"]["mean"] == 2.0


def test_read_tables_reads_utf8_under_an_ascii_locale(tmp_path):
    """robustness.json and align.json are UTF-8 (task and language names need not be ASCII),
    whatever the locale of the process that aggregates them."""
    import subprocess
    import sys

    run = str(tmp_path / "run")
    os.makedirs(os.path.join(run, "align", "tatoeba"))
    with open(os.path.join(run, "robustness.json"), "w", encoding="utf-8") as f:
        json.dump({"settings": ["s"], "tasks": {"ñli": {"languages": {"de": {"drop": {"s": 1.0}}}}}}, f,
                  ensure_ascii=False)
    with open(os.path.join(run, "align", "tatoeba", "align.json"), "w", encoding="utf-8") as f:
        json.dump({"task": "tatoeba·ü", "languages": {"de": {"per_layer": [{"layer": 0, "accuracy": 1.0}]}}}, f,
                  ensure_ascii=False)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0", "PYTHONPATH": root}
    code = ("import json, locale, sys; from eval.grid_extra import read_tables; "
            "t = read_tables(sys.argv[1]); "
            "print(json.dumps([locale.getpreferredencoding(False), sorted(t['noise s']['tasks']), "
            "sorted(t['alignment accuracy']['tasks'])]))")
    out = subprocess.run([sys.executable, "-c", code, run], env=env, cwd=root, capture_output=True, text=True,
                         encoding="utf-8", timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    encoding, noise, align = json.loads(out.stdout.strip().splitlines()[-1])
    assert encoding.lower() not in ("utf-8", "utf8")  # the check means something only under ASCII
    assert noise == ["ñli"] and align == ["tatoeba·ü L0"]


def test_read_tables_passes_utf8_to_open_not_the_locales_default(tmp_path, ascii_default_open):
    """The same, in this process: ``open`` without an encoding reads ASCII here, as under an
    ASCII locale."""
    run = str(tmp_path / "run")
    os.makedirs(os.path.join(run, "align", "tatoeba"))
    for path, doc in ((os.path.join(run, "robustness.json"),
                       {"settings": ["s"], "tasks": {"ñli": {"languages": {"de": {"drop": {"s": 1.0}}}}}}),
                      (os.path.join(run, "align", "tatoeba", "align.json"),
                       {"task": "tatoeba·ü", "languages": {"de": {"per_layer": [{"layer": 0, "accuracy": 1.0}]}}})):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False)
    tables = read_tables(run)
    assert list(tables["noise s"]["tasks"]) == ["ñli"]
    assert list(tables["alignment accuracy"]["tasks"]) == ["tatoeba·ü L0"]
