"""`xstilts report` (eval/report.py): where it writes by default, what it says of scores some runs
lack, and its refusals, checked against hand-worked paths and messages: survivors of a mutation
run of eval/report.py, each killed here."""
from __future__ import annotations

import json
import os

import pytest

from eval.report import default_out, find_results, incomplete, main
from eval.results import build_results, save_json


def _run(folder: str, xnli_de: float, panx_de: float | None = None) -> str:
    scores = {"xnli": {"de": {"accuracy": xnli_de}, "fr": {"accuracy": 50.0}}}
    if panx_de is not None:
        scores["panx"] = {lang: {"f1": panx_de, "precision": panx_de, "recall": panx_de} for lang in ("de", "fr")}
    os.makedirs(folder, exist_ok=True)
    save_json(build_results(scores), os.path.join(folder, "results.json"))
    return folder


def test_default_out_is_report_in_the_runs_common_folder():
    assert default_out(["/w/sweep/a/seed1/results.json", "/w/sweep/a/seed2/results.json"]) == "/w/sweep/a/report"
    # one run: beside it, in its parent (not inside the run)
    assert default_out(["/w/runs/x/results.json"]) == "/w/runs/report"
    # results in eval/ (xstilts evaluate's layout): the run is the folder above
    assert default_out(["/w/r1/eval/results.json", "/w/r2/eval/results.json"]) == "/w/report"
    assert default_out(["/w/runs/r1/eval/results.json"]) == "/w/runs/report"


def test_find_results_gives_an_absolute_path_or_names_what_it_looked_for(tmp_path, monkeypatch):
    run = _run(str(tmp_path / "seed1"), 60.0)
    monkeypatch.chdir(tmp_path)
    assert find_results(os.path.join("seed1", "results.json")) == os.path.join(run, "results.json")
    assert find_results("seed1") == os.path.join(run, "results.json")
    with pytest.raises(FileNotFoundError) as err:
        find_results("nothing")
    assert str(err.value) == f"nothing: no results.json (looked for results.json, {os.path.join('eval', 'results.json')})"


def test_incomplete_lists_each_score_not_every_run_has():
    agg = {"runs": 3, "tasks": {"xnli": {"languages": {
        "de": {"accuracy": {"n": 2}, "f1": {"n": 1}},
        "fr": {"accuracy": {"n": 3}},
        "sw": {}}}}}
    assert incomplete(agg) == ["xnli/de (2 of 3)", "xnli/sw (0 of 3)"]


def test_report_names_only_the_file_given_twice(tmp_path, capsys):
    one, two = _run(str(tmp_path / "s1"), 60.0), _run(str(tmp_path / "s2"), 70.0)
    assert main([one, two, one], None) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"xstilts report: the same results file was given twice: {os.path.join(one, 'results.json')}"
    three = _run(str(tmp_path / "s3"), 80.0)
    assert main([two, one, three, two, one], None) == 2
    assert capsys.readouterr().err.strip() == ("xstilts report: the same results file was given twice: "
                                               f"{os.path.join(one, 'results.json')}, {os.path.join(two, 'results.json')}")


def test_report_refuses_an_aggregate_with_its_run_count(tmp_path, capsys):
    one, two = _run(str(tmp_path / "s1"), 60.0), _run(str(tmp_path / "s2"), 70.0)
    agg = str(tmp_path / "agg")
    assert main([one, two], agg) == 0
    capsys.readouterr()
    assert main([one, agg], None) == 2
    assert capsys.readouterr().err.strip() == (
        f"xstilts report: {os.path.join(agg, 'results.json')} is already an aggregate of 2 runs")


def test_report_records_its_sources_and_prints_what_it_wrote(tmp_path, capsys):
    one, two = _run(str(tmp_path / "s1"), 60.0, 40.0), _run(str(tmp_path / "s2"), 70.0)
    for run, drops in ((one, (2.0, 4.0)), (two, (4.0, 6.0))):  # two tasks in one noise setting
        save_json({"settings": ["char_swap@0.1"], "tasks": {
            "xnli": {"languages": {"de": {"drop": {"char_swap@0.1": drops[0]}}}},
            "panx": {"languages": {"de": {"drop": {"char_swap@0.1": drops[1]}}}}}},
            os.path.join(run, "robustness.json"))
    out = str(tmp_path / "agg")
    assert main([one, two], out) == 0
    got = capsys.readouterr()
    with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
        agg = json.load(f)
    assert agg["sources"] == [os.path.join(one, "results.json"), os.path.join(two, "results.json")]
    assert got.err.strip() == "xstilts report: not in every run, averaged over the runs that have them: panx/de (1 of 2), panx/fr (1 of 2)"
    lines = got.out.strip().splitlines()
    assert "noise char_swap@0.1: xnli 3.00 ± 1.41 (n=2); panx 5.00 ± 1.41 (n=2)" in lines
    written = sorted(os.path.join(out, f"results.{ext}") for ext in ("csv", "json", "md"))
    assert lines[-1].startswith("mean ± std over 2 runs: ")
    listed = lines[-1][len("mean ± std over 2 runs: "):].split(", ")
    assert set(written) <= set(listed) and all(os.path.isfile(p) for p in listed)
