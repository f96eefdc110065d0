"""The results format: building (averages, QA em_f1, the XTREME score and when it is withheld),
the written files, reading back, console table and multi-seed aggregation."""
from __future__ import annotations

import builtins
import csv
import io
import json
import math
import os

import pytest

from eval import results as RS
from eval.xtreme import LANGUAGES, XTREME_TASKS

HAND = {
    "xnli": {"de": {"accuracy": 70.0}, "fr": {"accuracy": 80.0}},
    "xquad": {"de": {"exact_match": 40.0, "f1": 60.0}, "zh": {"exact_match": 30.0, "f1": 50.0}},
    "panx": {"de": {"f1": 65.0, "precision": 60.0, "recall": 70.0}},
}


def test_build_results_hand():
    res = RS.build_results(HAND, {"run": "r1"})
    x = res["tasks"]["xnli"]
    assert x["metric"] == "accuracy" and x["avg_metric"] == 75.0  # (70 + 80) / 2
    assert x["chance"] == pytest.approx(100 / 3)
    q = res["tasks"]["xquad"]
    # QA: em_f1 per language (de 50, zh 40); average 45 = (avg EM 35 + avg F1 55) / 2
    assert q["metric"] == "em_f1" and q["languages"]["de"]["em_f1"] == 50.0
    assert q["avg_metric"] == 45.0 and q["averages"]["exact_match"] == 35.0
    assert res["tasks"]["panx"]["avg_metric"] == 65.0
    assert res["xtreme_score"] is None and "tatoeba" in res["xtreme_score_note"]
    assert res["run"] == "r1"
    with pytest.raises(ValueError, match="reserved"):
        RS.build_results(HAND, {"tasks": 1})


def test_unknown_task_main_metric_inferred():
    res = RS.build_results({"squad_v1": {"en": {"exact_match": 80.0, "f1": 88.0}},
                            "mnli": {"en": {"accuracy": 84.0}}})
    assert res["tasks"]["squad_v1"]["avg_metric"] == 84.0
    assert res["tasks"]["mnli"]["metric"] == "accuracy" and res["tasks"]["mnli"]["chance"] is None


def _full(value_of_task: dict[str, float]) -> dict:
    out = {}
    for task in XTREME_TASKS:
        v = value_of_task[task]
        m = {"exact_match": v - 10, "f1": v + 10} if task in ("xquad", "mlqa", "tydiqa") else \
            ({"accuracy": v} if task in ("xnli", "pawsx", "tatoeba") else {"f1": v, "precision": v, "recall": v})
        out[task] = {lang: dict(m) for lang in LANGUAGES[task]}
    return out


def test_xtreme_score_only_when_complete():
    values = {"pawsx": 80, "xnli": 70, "udpos": 75, "panx": 65, "xquad": 60, "mlqa": 50,
              "tydiqa": 40, "bucc2018": 30, "tatoeba": 20}
    full = _full(values)
    res = RS.build_results(full)
    assert res["xtreme_score"] == pytest.approx(490 / 9)  # QA em_f1 = ((v-10)+(v+10))/2 = v
    assert res["category_scores"]["QA"] == pytest.approx(50.0)
    del full["udpos"]["de"]
    res = RS.build_results(full)
    assert res["xtreme_score"] is None and "missing some XTREME languages: udpos" in res["xtreme_score_note"]
    assert "structured prediction" not in res["category_scores"] and "QA" in res["category_scores"]


def test_write_and_load(tmp_path):
    res = RS.build_results(HAND)
    paths = RS.write_results(res, str(tmp_path))
    assert RS.load_results(str(tmp_path)) == json.loads(json.dumps(res))
    assert RS.load_results(paths["json"])["tasks"]["xnli"]["avg_metric"] == 75.0
    rows = list(csv.DictReader(io.StringIO(open(paths["csv"], encoding="utf-8").read())))
    # 5 language rows + 3 average rows + the XTREME score row
    assert len(rows) == 9
    avg = [r for r in rows if r["task"] == "xquad" and r["language"] == "avg"][0]
    assert float(avg["score"]) == 45.0 and float(avg["exact_match"]) == 35.0
    md = open(paths["md"], encoding="utf-8").read()
    assert "| xquad | zh | em_f1 | 40.00 |" in md and "**XTREME score: n/a**" in md
    assert "| xnli | accuracy |  | 2 | **75.00** | 33.33 |" in md  # no split given: the column is empty
    # matplotlib is a dependency of the package: the heat map is always drawn here
    assert "heatmap" in paths and os.path.getsize(paths["heatmap"]) > 1000
    assert open(paths["heatmap"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="not a results file"):
        (tmp_path / "bad.json").write_text("{}")
        RS.load_results(str(tmp_path / "bad.json"))


def test_heatmap_skipped_without_matplotlib(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    paths = RS.write_results(RS.build_results(HAND), str(tmp_path))
    assert "heatmap" not in paths and not (tmp_path / "heatmap.png").exists()
    assert (tmp_path / "results.md").exists()


def test_format_table():
    text = RS.format_table(RS.build_results(HAND))
    assert "xnli (accuracy): avg 75.00, chance 33.3" in text
    assert "de 70.00  fr 80.00" in text
    assert "XTREME score: n/a" in text


def test_aggregate_runs_hand():
    a = RS.build_results({"xnli": {"de": {"accuracy": 70.0}}})
    b = RS.build_results({"xnli": {"de": {"accuracy": 74.0}, "fr": {"accuracy": 80.0}}})
    agg = RS.aggregate_runs([a, b])
    de = agg["tasks"]["xnli"]["languages"]["de"]["accuracy"]
    # mean 72; sample std sqrt((2^2 + 2^2) / 1) = 2.8284
    assert de == {"mean": 72.0, "std": pytest.approx(math.sqrt(8)), "n": 2}
    assert agg["tasks"]["xnli"]["languages"]["fr"]["accuracy"] == {"mean": 80.0, "std": 0.0, "n": 1}
    # avg_metric: run a 70, run b 77 -> mean 73.5
    assert agg["tasks"]["xnli"]["avg_metric"]["mean"] == 73.5
    assert agg["runs"] == 2 and agg["aggregate"] is True and agg["xtreme_score"] is None
    assert "72.00 ± 2.83" in RS.format_table(agg)
    # aggregated results render too
    assert "72.00 ± 2.83" in RS.to_markdown(agg)
    assert "accuracy_std" in RS.to_csv(agg).splitlines()[0]
    with pytest.raises(ValueError):
        RS.aggregate_runs([])
