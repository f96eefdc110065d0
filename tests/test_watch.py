"""`xstilts evaluate --watch RUN_DIR`: which folders count as exports (complete ones only, never
``.tmp``), the ledger, rank 0's decisions; then a watch on 2 ranks beside a "training job" (this
test) that writes a second export while it runs, a restart that skips what is scored, and the
idle limit.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import time

import eval_helpers as H
import pytest

from trainer.evaluation import watch as W

PHASES = [{"name": "a", "tasks": ["xnli"], "evaluate": True, "max_steps": 2},
          {"name": "b", "tasks": ["panx"], "init": "a", "evaluate": True, "max_steps": 2}]


def _fake_export(path: str, step: int, mtime: float, **meta) -> str:
    H.write(os.path.join(path, "xstilts.json"), json.dumps({"step": step, **meta}))
    os.utime(os.path.join(path, "xstilts.json"), (mtime, mtime))
    return path


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{"poll": 0.01, "max_idle": 0.0, "tasks": None, **kw})


def test_only_complete_exports_count(tmp_path):
    run = str(tmp_path)
    now = time.time()
    _fake_export(os.path.join(run, "a", "exports", "step_000010"), 10, now - 30)
    _fake_export(os.path.join(run, "a", "export"), 20, now - 10)
    _fake_export(os.path.join(run, "a", "export.tmp"), 30, now)  # being written: not yet
    os.makedirs(os.path.join(run, "b", "export"))  # no xstilts.json: incomplete
    _fake_export(os.path.join(run, "elsewhere", "export"), 1, now)  # not a planned run
    plan = {os.path.join(run, "a", "export"): ("xnli",), os.path.join(run, "b", "export"): ("panx",)}
    found = W.find_exports(plan)
    assert [(os.path.relpath(e.path, run), e.step, e.final, e.tasks) for e in found] == [
        ("a/exports/step_000010", 10, False, ("xnli",)), ("a/export", 20, True, ("xnli",))]
    # rewriting an export (same path, new metadata) makes it a new one
    again = _fake_export(os.path.join(run, "a", "export"), 20, now, checkpoint="step_000020")
    assert W.describe(again, ("xnli",), True).digest != found[1].digest


def test_ledger_survives_a_torn_line_and_keeps_the_newest_scores(tmp_path):
    path = str(tmp_path / "out" / W.LEDGER)
    ledger = W.Ledger(path)
    first = W.Export("/r/a/export", 3, "d1", ("xnli",), True)
    for export, acc in ((first, 40.0), (W.Export("/r/a/export", 9, "d2", ("xnli",), True), 55.0)):
        entry = {"export": export.path, "step": export.step, "digest": export.digest,
                 "scores": {"xnli": {"en": {"accuracy": acc}}}}
        if export.step == 9:  # ledgers written before splits were recorded have none
            entry["splits"] = {"xnli": {"split": "dev", "split_note": "no labels in the test split; scored on dev"}}
        ledger.add(entry)
    with open(path, "a") as f:
        f.write('{"export": "/r/b/exp')  # a crash in the middle of a line
    again = W.Ledger(path)
    assert first in again and len(again.entries) == 2
    scores, provenance, splits = again.latest_scores()
    assert scores == {"xnli": {"en": {"accuracy": 55.0}}} and provenance["xnli"]["step"] == 9
    assert splits["xnli"]["split"] == "dev"


def test_rank0_decides_score_then_stop(tmp_path):
    run = str(tmp_path / "run")
    a, b = os.path.join(run, "a", "export"), os.path.join(run, "b", "export")
    plan = {a: ("xnli",), b: ("panx",)}
    ledger = W.Ledger(str(tmp_path / "out" / W.LEDGER))
    _fake_export(a, 3, time.time())
    got = W.decide(plan, ledger, time.monotonic(), _args())
    assert got["action"] == "score" and got["export"]["path"] == a
    ledger.add({"export": a, "step": 3, "digest": got["export"]["digest"], "scores": {}})
    t0 = time.monotonic()
    got = W.decide(plan, ledger, t0, _args(max_idle=0.3))
    assert set(got) == {"action", "why"} and got["action"] == "stop"
    assert re.fullmatch(r"no new export for \d+ s \(--max-idle\)", got["why"]), got["why"]
    assert 0.3 <= time.monotonic() - t0 < 5
    _fake_export(b, 5, time.time())
    got = W.decide(plan, ledger, time.monotonic(), _args())
    ledger.add({"export": b, "step": 5, "digest": got["export"]["digest"], "scores": {}})
    assert W.decide(plan, ledger, time.monotonic(), _args())["why"] == "every final export of the run is scored"


# ---------------------------------------------------------------- the watch, end to end


@pytest.fixture()
def run_folder(tmp_path) -> dict:
    ws = H.make_workspace(str(tmp_path))
    run = str(tmp_path / "run")
    tree = H.config_tree(ws["data"], ws["tok"], run, phases=PHASES)
    H.write(os.path.join(run, "config.json"), json.dumps(tree))
    H.make_export(os.path.join(run, "a", "export"), tree, tasks=("xnli",), step=3)
    return {"run": run, "tree": tree, "out": str(tmp_path / "watch"), "root": str(tmp_path)}


def _ledger_lines(out: str) -> list[dict]:
    path = os.path.join(out, W.LEDGER)
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_watch_scores_exports_as_training_writes_them(run_folder):
    run, out, root = run_folder["run"], run_folder["out"], run_folder["root"]
    args = ["--watch", run, "--out", out, "--poll", "0.3", "--max-idle", "120"]
    log = os.path.join(root, "watch.log")
    t0 = time.monotonic()
    proc = H.start(H.evaluate_cmd("deepspeed", args), log)
    assert _wait_for(lambda: len(_ledger_lines(out)) == 1, 120), open(log).read()[-4000:]
    # the "training job" finishes phase b while the watch runs (written to .tmp, then renamed)
    H.make_export(os.path.join(run, "b", "export"), run_folder["tree"], tasks=("panx",), step=5, seed=1)
    done = H.finish(proc, log, t0, 240)
    assert done.rc == 0, done.output[-4000:]
    assert "stopping after 2 export(s): every final export of the run is scored" in done.output
    lines = _ledger_lines(out)
    assert [(e["rel"], e["step"], e["tasks"]) for e in lines] == [("a/export", 3, ["xnli"]),
                                                                  ("b/export", 5, ["panx"])]
    for e in lines:
        res = H.read_json(os.path.join(out, e["rel"], "results.json"))
        assert res["tasks"][e["tasks"][0]]["languages"] == e["scores"][e["tasks"][0]]
        assert os.path.isfile(os.path.join(out, e["rel"], "predictions", e["tasks"][0], "test-de.tsv"))
    combined = H.read_json(os.path.join(out, "results.json"))
    assert set(combined["tasks"]) == {"xnli", "panx"}
    assert combined["provenance"]["panx"]["step"] == 5
    tb = H.scalars(os.path.join(out, "tb"))
    assert [s for s, _ in tb["eval/xnli/en/accuracy"]] == [3] and [s for s, _ in tb["eval/panx/en/f1"]] == [5]
    assert not done.leftovers

    # a restart finds both in the ledger: nothing is scored again
    again = H.launch(H.evaluate_cmd("single", args), os.path.join(root, "watch2.log"), timeout=120)
    assert again.rc == 0, again.output[-4000:]
    assert "2 already scored" in again.output and "stopping after 0 export(s)" in again.output
    assert _ledger_lines(out) == lines


@pytest.mark.slow
def test_watch_gives_up_after_max_idle(run_folder):
    run, out = run_folder["run"], run_folder["out"]
    done = H.launch(H.evaluate_cmd("single", ["--watch", run, "--out", out, "--poll", "0.2",
                                              "--max-idle", "3"]),
                    os.path.join(run_folder["root"], "idle.log"), timeout=120)
    assert done.rc == 0, done.output[-4000:]
    assert "stopping after 1 export(s): no new export for" in done.output
    assert [e["rel"] for e in _ledger_lines(out)] == ["a/export"]


def test_watch_refuses_noise_it_would_not_apply(run_folder, capsys):
    from trainer.cli import main

    rc = main(["evaluate", "--watch", run_folder["run"], "--out", run_folder["out"] + "-noise",
               "--perturb", "char_swap", "--max-idle", "1"])
    assert rc == 2 and "--watch scores clean data only" in capsys.readouterr().err
