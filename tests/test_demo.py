"""The embedded default end to end, shortened: `xstilts demo` starts 2 ZeRO-2 ranks through the
deepspeed launcher, generates the synthetic suite and a tokenizer, runs MLM -> intermediate ->
per-target fine-tuning, scores every language, and writes results.json, results.md and
TensorBoard logs. The full-length run and its scores are in benchmarks/RESULTS.md."""
from __future__ import annotations

import glob
import json
import os

import pytest

from tests import helpers as h

SHORT = ["--phases.0.max_steps=30", "--phases.1.max_steps=40", "--phases.2.max_steps=40",
         "--data.max_eval_examples=100", "--run.log_every=10"]
TARGETS = {"synth_pawsx": "accuracy", "synth_pos": "f1", "synth_ner": "f1", "synth_xquad": "f1"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("demo") / "run")
    cmd = [os.path.join(h.BIN, "xstilts"), "demo", "--out", out, *SHORT]
    r = h.run(cmd, out + ".log", timeout=600)
    assert r.rc == 0, r.tail(80)
    assert not r.leftovers, r.leftovers
    return out, r


@pytest.mark.slow
def test_demo_scores_every_target_in_every_language(demo):
    out, _ = demo
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    tasks = results["tasks"]
    for task, metric in TARGETS.items():
        entry = tasks[task]
        assert entry["metric"] == metric
        assert sorted(entry["languages"]) == ["de", "en", "fr", "sw"]
        assert entry["chance"] is not None
        for lang, scores in entry["languages"].items():
            assert 0.0 <= scores[metric] <= 100.0, (task, lang, scores)
        values = [s[metric] for s in entry["languages"].values()]
        assert entry["avg_metric"] == pytest.approx(sum(values) / len(values))
    assert {"exact_match", "f1"} <= set(tasks["synth_xquad"]["languages"]["en"])
    assert sorted(tasks["synth_tatoeba"]["languages"]) == ["de", "fr", "sw"]
    # even 40 steps of tagging put English far above chance: the pipeline really trains
    assert tasks["synth_pos"]["languages"]["en"]["f1"] > tasks["synth_pos"]["chance"] + 20


@pytest.mark.slow
def test_demo_writes_table_predictions_and_tensorboard(demo):
    out, r = demo
    with open(os.path.join(out, "results.md")) as f:
        table = f.read()
    assert "synth_pawsx" in table and "synth_xquad" in table
    assert "synth_pos (f1)" in r.output  # the job prints the score table
    for phase in ("mlm", "intermediate", "target/synth_pawsx", "target/synth_qa"):
        assert glob.glob(os.path.join(out, "tb", phase, "events.out.tfevents.*")), phase
        assert os.path.isfile(os.path.join(out, phase, "export", "xstilts.json")), phase
    assert os.path.isfile(os.path.join(out, "predictions", "synth_pos", "test-sw.tsv"))
    from tests.test_launchers import _tags

    top = _tags(os.path.join(out, "tb"))  # zero-shot scores per task and language
    assert {"eval/synth_pos/sw/f1", "eval/synth_xquad/de/exact_match", "eval/synth_tatoeba/fr/accuracy"} <= top, \
        sorted(top)
    with open(os.path.join(out, "config.json")) as f:
        assert json.load(f)["phases"][0]["max_steps"] == 30  # the overrides reached the job


@pytest.mark.slow
def test_rerun_skips_finished_phases(demo):
    out, _ = demo
    r = h.run([os.path.join(h.BIN, "xstilts"), "demo", "--out", out, *SHORT], out + ".rerun.log",
              timeout=400)
    assert r.rc == 0, r.tail(60)
    assert r.output.count("export exists, skipping") >= 6, r.tail(60)
    assert "step 10/" not in r.output  # nothing trained again
