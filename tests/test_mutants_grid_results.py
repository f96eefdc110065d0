"""A sweep's table (eval/grid.py) and the results format's aggregation and console table
(eval/results.py) checked against values worked out by hand: the cells, averages, best settings,
contrasts and per-language cells of a small grid, its markdown and CSV line by line, the files
written under an ASCII locale, and the XTREME score over runs: survivors of a mutation run of
eval/grid.py and eval/results.py, each killed here."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eval.grid import NO_BEST, _best, _cell, build_grid, seed_scores, to_csv, to_markdown, write_grid
from eval.results import aggregate_runs, build_results, format_table, heatmap, main_metric
from eval.results import to_csv as results_csv
from eval.results import to_markdown as results_markdown
from eval.xtreme import LANGUAGES, TARGETS, XTREME_R_TASKS


# ---------------------------------------------------------------- a grid worked by hand


def _run(t: dict[str, float] | None, u: dict[str, float] | None = None) -> dict:
    """One seed's results: task t (accuracy) and task u (f1), each given per language."""
    tasks = {}
    for task, metric, langs in (("t", "accuracy", t), ("u", "f1", u)):
        if langs is not None:
            tasks[task] = {"metric": metric, "languages": {lg: {metric: v} for lg, v in langs.items()},
                           "avg_metric": sum(langs.values()) / len(langs)}
    return {"tasks": tasks}


# base: t averages 49, 51, 50 (mean 50, std 1) and u 60, 62, 61 (mean 61, std 1) over seeds 1-3;
# up: t 5 more on every seed, u 1 less on every seed; late: seed 1 only, t 56 (7 above base's 49)
PER_SEED = {
    "base": {1: _run({"en": 50, "de": 48}, {"en": 60}), 2: _run({"en": 52, "de": 50}, {"en": 62}),
             3: _run({"en": 51, "de": 49}, {"en": 61})},
    "up": {1: _run({"en": 55, "de": 53}, {"en": 59}), 2: _run({"en": 57, "de": 55}, {"en": 61}),
           3: _run({"en": 56, "de": 54}, {"en": 60})},
    "late": {1: _run({"en": 57, "de": 55})},
}


def _agg(mean: float, std: float, n: int) -> dict:
    return {"mean": mean, "std": std, "n": n}


AGG = {
    "base": {"tasks": {"t": {"metric": "accuracy", "split": "test", "avg_metric": _agg(50.0, 1.0, 3)},
                       "u": {"metric": "f1", "avg_metric": _agg(61.0, 1.0, 3)}}},
    "up": {"tasks": {"t": {"metric": "accuracy", "split": "test", "avg_metric": _agg(55.0, 1.0, 3)},
                     "u": {"metric": "f1", "avg_metric": _agg(60.0, 1.0, 3)}}},
    "late": {"tasks": {"t": {"metric": "accuracy", "split": "test", "avg_metric": _agg(56.0, 0.0, 1)}}},
}
CONTRASTS = [{"name": "up - base", "plus": ["up"], "minus": ["base"]},
             {"name": "late - base", "plus": ["late"], "minus": ["base"]}]


def _grid(**kw) -> dict:
    return build_grid(AGG, "base", ["base", "up", "late"], 3, per_seed=PER_SEED, by_language=True,
                      contrasts=CONTRASTS, **kw)


def _tested(mean, std, n, seeds, delta, low, high, p) -> dict:
    return {"mean": mean, "std": std, "n": n, "seeds": seeds, "delta": delta, "ci_low": low, "ci_high": high,
            "p_value": p, "test": "seeds"}


def _plain(mean, std, n, seeds) -> dict:
    return {"mean": mean, "std": std, "n": n, "seeds": seeds, "delta": None, "ci_low": None, "ci_high": None,
            "p_value": None}


def test_grid_cells_averages_best_contrasts_and_languages_by_hand():
    grid = _grid()
    assert grid["settings"] == ["base", "up", "late"] and grid["columns"] == ["t", "u"]
    assert grid["metrics"] == {"t": "accuracy", "u": "f1"} and grid["splits"] == {"t": "test"}
    assert grid["baseline"] == "base" and grid["expected_runs"] == 3 and grid["higher_is_better"] is True
    # the differences are the same on every seed: the bootstrap interval is that one value, p = 0
    assert grid["cells"] == {
        "base": {"t": _plain(50.0, 1.0, 3, [1, 2, 3]), "u": _plain(61.0, 1.0, 3, [1, 2, 3])},
        "up": {"t": _tested(55.0, 1.0, 3, [1, 2, 3], 5.0, 5.0, 5.0, 0.0),
               "u": _tested(60.0, 1.0, 3, [1, 2, 3], -1.0, -1.0, -1.0, 0.0)},
        # delta from the means (56 - 50); the test pairs seed 1 only (56 - 49)
        "late": {"t": _tested(56.0, 0.0, 1, [1], 6.0, 7.0, 7.0, 0.0)},
    }
    # over both columns, only where the row has both: base (50 + 61) / 2, up (55 + 60) / 2
    assert grid["average"] == {"base": {"mean": 55.5, "delta": None}, "up": {"mean": 57.5, "delta": 2.0}}
    # t: up and late both beat base, late's mean is higher; u: up's interval is below 0
    assert grid["best"] == {"t": {"setting": "late", "mean": 56.0, "delta": 6.0},
                            "u": {"setting": None, "why": NO_BEST}}
    assert grid["contrasts"] == {
        "up - base": {"t": {"plus": ["up"], "minus": ["base"], "delta": 5.0, "ci_low": 5.0, "ci_high": 5.0,
                            "p_value": 0.0, "seeds": [1, 2, 3]},
                      "u": {"plus": ["up"], "minus": ["base"], "delta": -1.0, "ci_low": -1.0, "ci_high": -1.0,
                            "p_value": 0.0, "seeds": [1, 2, 3]}},
        "late - base": {"t": {"plus": ["late"], "minus": ["base"], "delta": 7.0, "ci_low": 7.0, "ci_high": 7.0,
                              "p_value": 0.0, "seeds": [1]},
                        "u": {"plus": ["late"], "minus": ["base"], "delta": None, "ci_low": None, "ci_high": None,
                              "p_value": None}},
    }
    # per language: mean and sample std over the seeds, the delta to base's mean in that language
    assert grid["languages"] == {
        "base": {"t": {"en": _plain(51.0, 1.0, 3, [1, 2, 3]), "de": _plain(49.0, 1.0, 3, [1, 2, 3])},
                 "u": {"en": _plain(61.0, 1.0, 3, [1, 2, 3])}},
        "up": {"t": {"en": _tested(56.0, 1.0, 3, [1, 2, 3], 5.0, 5.0, 5.0, 0.0),
                     "de": _tested(54.0, 1.0, 3, [1, 2, 3], 5.0, 5.0, 5.0, 0.0)},
               "u": {"en": _tested(60.0, 1.0, 3, [1, 2, 3], -1.0, -1.0, -1.0, 0.0)}},
        "late": {"t": {"en": _tested(57.0, 0.0, 1, [1], 6.0, 7.0, 7.0, 0.0),
                       "de": _tested(55.0, 0.0, 1, [1], 6.0, 7.0, 7.0, 0.0)}},
    }


NOTE = ("_mean ± std over seeds of each task's average over its languages; (±x [low, high] p=): difference to "
        "base, its 95% interval and p-value (paired bootstrap over test items with the seeds pooled, where the "
        "runs saved their items, else over seeds); best: the highest mean among the settings whose whole "
        "interval is above 0, \"none\" when no setting's is_")
TABLE = [
    "| intermediate | t (accuracy, test) | u (f1) | avg |",
    "|---|---:|---:|---:|",
    "| **base** (baseline) | 50.0 ± 1.0 | 61.0 ± 1.0 | 55.5 |",
    "| up | 55.0 ± 1.0 (+5.0 [+5.0, +5.0] p=0.00) | 60.0 ± 1.0 (-1.0 [-1.0, -1.0] p=0.00) | 57.5 (+2.0) |",
    "| late | 56.0 ± 0.0 (+6.0 [+7.0, +7.0] p=0.00) [n=1] | - | - |",
    "| best intermediate | late | none | |",
    "",
    NOTE,
    "",
    "Contrast up - base: t +5.0 [+5.0, +5.0] p=0.00; u -1.0 [-1.0, -1.0] p=0.00",
    "",
    "Contrast late - base: t +7.0 [+7.0, +7.0] p=0.00; u -",
    "",
    "- base / t: en 51.0 ± 1.0 | de 49.0 ± 1.0",
    "- base / u: en 61.0 ± 1.0",
    "- up / t: en 56.0 ± 1.0 (+5.0 [+5.0, +5.0] p=0.00) | de 54.0 ± 1.0 (+5.0 [+5.0, +5.0] p=0.00)",
    "- up / u: en 60.0 ± 1.0 (-1.0 [-1.0, -1.0] p=0.00)",
    "- late / t: en 57.0 ± 0.0 (+6.0 [+7.0, +7.0] p=0.00) [n=1] | de 55.0 ± 0.0 (+6.0 [+7.0, +7.0] p=0.00) [n=1]",
]
CSV = [
    "setting,task,metric,mean,std,n,delta,ci_low,ci_high,p_value,best",
    "base,t,accuracy,50.0000,1.0000,3,,,,,0",
    "base,u,f1,61.0000,1.0000,3,,,,,0",
    "up,t,accuracy,55.0000,1.0000,3,5.0000,5.0000,5.0000,0.0000,0",
    "up,u,f1,60.0000,1.0000,3,-1.0000,-1.0000,-1.0000,0.0000,0",
    "late,t,accuracy,56.0000,0.0000,1,6.0000,7.0000,7.0000,0.0000,1",
]


def test_markdown_of_the_grid_line_by_line():
    assert to_markdown(_grid()).split("\n") == TABLE + [""]


def test_csv_of_the_grid_line_by_line():
    assert to_csv(_grid()).split("\n") == CSV + [""]


def _sub(higher_is_better: bool | None, languages: dict | None = None) -> dict:
    """A hand-made extra table: one setting, one task, no baseline."""
    sub = {"settings": ["s"], "columns": ["t"], "metrics": {"t": "drop"}, "baseline": None, "expected_runs": 0,
           "cells": {"s": {"t": {"mean": 2.0, "std": 0.5, "n": 2}}}, "average": {"s": {"mean": 2.0, "delta": None}},
           "best": {"t": {"setting": "s", "mean": 2.0, "delta": None}}}
    if higher_is_better is not None:
        sub["higher_is_better"] = higher_is_better
    if languages is not None:
        sub["languages"] = languages
    return sub


def test_extra_tables_follow_under_their_own_heading_and_keep_their_trailing_spaces():
    grid = {"settings": [], "columns": [], "metrics": {}, "baseline": None, "cells": {}, "average": {}, "best": {},
            "extra": {"noise s": _sub(False), "align": _sub(None, languages={"s": {"t": {}}})}}
    assert to_markdown(grid).split("\n") == [
        "| intermediate | avg |", "|---|---:|", "| best intermediate |  | |", "",
        "_mean ± std over seeds of each task's average over its languages_", "",
        "", "## noise s (drop = clean - scored; lower is more robust)", "",
        "| intermediate | t (drop) | avg |", "|---|---:|---:|", "| s | 2.0 ± 0.5 | 2.0 |",
        "| most robust intermediate | s | |", "",
        "_mean ± std over seeds of each task's average over its languages_",
        "", "## align (higher is better)", "",
        "| intermediate | t (drop) | avg |", "|---|---:|---:|", "| s | 2.0 ± 0.5 | 2.0 |",
        "| best intermediate | s | |", "",
        "_mean ± std over seeds of each task's average over its languages_", "",
        "- s / t: ",  # a task without languages: the line ends in a space, kept
        ""]


def test_write_grid_writes_utf8_files_under_an_ascii_locale(tmp_path, ascii_default_open):
    grid = _grid()
    paths = write_grid(grid, str(tmp_path / "out"))
    assert paths == {ext: str(tmp_path / "out" / f"grid.{ext}") for ext in ("json", "csv", "md")}
    with ascii_default_open(paths["md"], encoding="utf-8") as f:
        assert f.read() == "# Grid\n\n" + "\n".join(TABLE) + "\n"
    with ascii_default_open(paths["csv"], encoding="utf-8", newline="") as f:
        assert f.read() == "\n".join(CSV) + "\n"
    with ascii_default_open(paths["json"], encoding="utf-8") as f:
        assert json.load(f) == json.loads(json.dumps(grid))


# ---------------------------------------------------------------- the pieces on their own


def test_seed_scores_pass_over_a_seed_without_the_task():
    runs = {1: {"tasks": {}}, 2: _run({"en": 40, "de": 60}), 3: {"tasks": {"u": {}}}, 4: _run({"en": 70})}
    assert seed_scores(runs, "t") == {2: 50.0, 4: 70.0}
    assert seed_scores(runs, "t", "de") == {2: 60}


def test_cell_has_one_decimal_by_default():
    assert _cell({"mean": 1.234, "std": 0.5}, 0) == "1.2 ± 0.5"
    assert _cell(None, 3) == "-"


def test_best_takes_the_highest_mean_by_default():
    cells = {"a": {"t": {"mean": 1.0, "delta": None}}, "b": {"t": {"mean": 2.0, "delta": None}}}
    assert _best(cells, ["a", "b"], ["t"], None, False) == {"t": {"setting": "b", "mean": 2.0, "delta": None}}


def test_item_test_replaces_the_seed_test_only_where_both_sides_have_the_items():
    one = {"en": np.array([0.0]), "de": np.array([1.0])}
    items = {"base": {"t": ("mean", {"en": np.array([0.0])})},  # base has no German items
             "up": {"t": ("mean", one), "u": ("mean", {"en": np.array([1.0, 0.0])})},
             "late": {"t": ("mean", {"en": np.array([1.0])})}}
    items["base"]["u"] = ("mean", {"en": np.array([1.0])})  # one item against two: no item test
    grid = build_grid(AGG, "base", ["base", "up", "late"], 3, per_seed=PER_SEED, by_language=True, items=items)
    assert grid["cells"]["up"]["t"]["test"] == "seeds"  # languages differ
    assert grid["cells"]["up"]["u"]["test"] == "seeds"  # item counts differ
    assert "test" not in grid["cells"]["base"]["t"]
    # late against base on the one English item: 100 - 0 on every resample, p = 1 / 2001
    late = grid["cells"]["late"]["t"]
    assert (late["test"], late["items"], late["delta"]) == ("items", 1, 6.0)
    assert (late["ci_low"], late["ci_high"], late["p_value"]) == (100.0, 100.0, pytest.approx(1 / 2001))
    en, de = grid["languages"]["up"]["t"]["en"], grid["languages"]["up"]["t"]["de"]
    assert (en["test"], en["items"], en["ci_low"], en["ci_high"]) == ("items", 1, 0.0, 0.0)
    assert de["test"] == "seeds" and de["ci_low"] == 5.0  # base has no German items: the seeds test stays


# ---------------------------------------------------------------- eval/results.py


def test_aggregate_runs_averages_the_xtreme_score_of_the_runs_that_have_one():
    runs = [{"tasks": {}, "xtreme_score": 50.0}, {"tasks": {}, "xtreme_score": None},
            {"tasks": {}, "xtreme_score": 54.0}]
    assert aggregate_runs(runs) == {
        "tasks": {}, "category_scores": {}, "runs": 3, "aggregate": True,
        "xtreme_score": {"mean": 52.0, "std": pytest.approx(math.sqrt(8)), "n": 2},
        "xtreme_score_note": "over the 2 of 3 runs with an XTREME score"}
    none = aggregate_runs([{"tasks": {}, "xtreme_score": None}, {"tasks": {}}])
    assert none["xtreme_score"] is None and none["xtreme_score_note"] == "XTREME score not computed in any run"
    with pytest.raises(ValueError, match="^aggregate_runs: no runs$"):
        aggregate_runs([])


LANGS = ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "zh"]


def _results(score, note: str = "tasks not scored: xnli") -> dict:
    return {"tasks": {"x": {"metric": "accuracy", "chance": 50.0, "split_note": "dev: no test split",
                            "languages": {lg: {"accuracy": 51.0 + i, "f1": 1.0} for i, lg in enumerate(LANGS)},
                            "avg_metric": 55.0}},
            "category_scores": {"QA": 40.0}, "xtreme_score": score, "xtreme_score_note": note}


def test_format_table_line_by_line_with_eight_languages_a_line():
    lines = ["x (accuracy): avg 55.00, chance 50.0 [dev: no test split]",
             "    ar 51.00  bg 52.00  de 53.00  el 54.00  en 55.00  es 56.00  fr 57.00  hi 58.00",
             "    zh 59.00",
             "[QA] 40.00"]
    assert format_table(_results(None)).split("\n") == lines + ["XTREME score: n/a (tasks not scored: xnli)"]
    assert format_table(_results(61.5)).split("\n") == lines + ["XTREME score: 61.50"]


def test_main_metric_of_an_unknown_task_prefers_f1_to_accuracy():
    assert main_metric("mytask", {"accuracy": 1.0, "f1": 2.0}) == "f1"
    assert main_metric("mytask", {"exact_match": 1.0, "f1": 2.0}) == "em_f1"
    assert main_metric("mytask", {"bleu": 1.0, "accuracy": 2.0}) == "accuracy"


def test_a_complete_xtreme_r_run_gets_its_score_and_note():
    per_task = {}
    for i, task in enumerate(XTREME_R_TASKS):
        names = ("exact_match", "f1") if TARGETS[task].metric == "em_f1" else (TARGETS[task].metric,)
        per_task[task] = {lang: {n: float(10 * i) for n in names} for lang in LANGUAGES[task]}
    res = build_results(per_task)
    assert res["xtreme_r_score"] == pytest.approx(45.0)  # (0 + 10 + ... + 90) / 10
    assert res["xtreme_r_score_note"] == "mean of the ten XTREME-R task scores (QA: (EM+F1)/2)"
    assert [k for k in res if k.startswith("xtreme_r")] == ["xtreme_r_category_scores", "xtreme_r_score",
                                                           "xtreme_r_score_note"]


def _hand(score, r_score, r_cats) -> dict:
    return {"tasks": {
        "xnli": {"metric": "accuracy", "chance": 33.3, "split": "test", "split_note": "dev had no labels",
                 "languages": {"de": {"accuracy": 70.0}, "fr": {"accuracy": 80.0}}, "averages": {"accuracy": 75.0},
                 "avg_metric": 75.0},
        "xquad": {"metric": "em_f1", "chance": None,
                  "languages": {"de": {"exact_match": 40.0, "f1": 60.0, "em_f1": 50.0}},
                  "averages": {"em_f1": 50.0, "exact_match": 40.0, "f1": 60.0}, "avg_metric": 50.0}},
        "skipped": [{"task": "panx", "reason": "no data"}, {"path": "/x/y.tsv", "reason": "unreadable"}],
        "category_scores": {"classification": 75.0, "QA": 50.0},
        "xtreme_score": score, "xtreme_score_note": "a note",
        "xtreme_r_score": r_score, "xtreme_r_category_scores": r_cats, "xtreme_r_score_note": "r note"}


HEAD_MD = [
    "# Results", "", "| task | language | main metric | score | all metrics |", "|---|---|---|---:|---|",
    "| xnli | de | accuracy | 70.00 | accuracy 70.00 |",
    "| xnli | fr | accuracy | 80.00 | accuracy 80.00 |",
    "| xquad | de | em_f1 | 50.00 | exact_match 40.00, f1 60.00, em_f1 50.00 |",
    "", "## Task averages", "", "| task | main metric | split | languages | average | chance |",
    "|---|---|---|---:|---:|---:|",
    "| xnli | accuracy | test (dev had no labels) | 2 | **75.00** | 33.30 |",
    "| xquad | em_f1 |  | 1 | **50.00** | - |",
    "", "## Not scored", "", "- panx: no data", "- /x/y.tsv: unreadable",
    "", "| category | score |", "|---|---:|", "| classification | 75.00 |", "| QA | 50.00 |"]


def test_results_markdown_line_by_line():
    assert results_markdown(_hand(62.5, 55.0, {"retrieval": 44.0})).split("\n") == HEAD_MD + [
        "", "**XTREME score: 62.50**", "", "_a note_", "",
        "**XTREME-R score: 55.00**", "", "| XTREME-R category | score |", "|---|---:|", "| retrieval | 44.00 |",
        "", "_r note_", ""]
    assert results_markdown(_hand(None, None, {})).split("\n") == HEAD_MD + [
        "", "**XTREME score: n/a**", "", "_a note_", "",
        "**XTREME-R score: n/a**", "", "", "_r note_", ""]


def test_results_csv_line_by_line():
    rows = ["task,language,main_metric,score,accuracy,f1,exact_match,em_f1",
            "xnli,de,accuracy,70.0000,70.0000,,,",
            "xnli,fr,accuracy,80.0000,80.0000,,,",
            "xnli,avg,accuracy,75.0000,75.0000,,,",
            "xquad,de,em_f1,50.0000,,60.0000,40.0000,50.0000",
            "xquad,avg,em_f1,50.0000,,60.0000,40.0000,50.0000"]
    assert results_csv(_hand(62.5, None, {})).split("\n") == rows + ["xtreme_score,,,62.5000,,,,", ""]
    assert results_csv(_hand(None, None, {})).split("\n") == rows + ["xtreme_score,,,,,,,", ""]


def test_heatmap_cells_labels_scale_and_size(tmp_path, figures):
    langs = [f"l{i:02d}" for i in range(12)]  # 12 languages: 0.35 * 12 + 2 = 6.2 inches wide
    res = {"tasks": {
        "t": {"metric": "accuracy", "languages": {lg: {"accuracy": 10.0 + i, "f1": 99.0} for i, lg in enumerate(langs)}},
        # an aggregate plots its mean; a language without the task is a blank cell
        "u": {"metric": "f1", "languages": {"l00": {"f1": {"mean": 40.4, "std": 1.0, "n": 2}}}}}}
    path = tmp_path / "heatmap.png"
    assert heatmap(res, str(path)) is True
    (fig,) = figures
    ax, bar = fig.axes
    (image,) = ax.get_images()
    data = image.get_array()
    assert data[0].tolist() == [10.0 + i for i in range(12)]
    assert data[1, 0] == 40.4 and bool(data.mask[1, 1:].all()) and not data.mask[0].any()
    assert image.get_clim() == (0.0, 100.0) and image.get_cmap().name == "viridis" and ax.get_aspect() == "auto"
    assert [t.get_text() for t in ax.get_xticklabels()] == langs
    assert [t.get_text() for t in ax.get_yticklabels()] == ["t (accuracy)", "u (f1)"]
    assert [(t.get_text(), t.get_position()) for t in ax.texts] == (
        [(f"{10 + i}", (i, 0)) for i in range(12)] + [("40", (0, 1))])
    assert all(t.get_ha() == "center" and t.get_va() == "center" and t.get_fontsize() == 6 for t in ax.texts)
    assert bar.get_ylabel() == "main metric (%)"
    assert tuple(fig.get_size_inches()) == pytest.approx((6.2, 2.5))
