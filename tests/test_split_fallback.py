"""A task whose evaluation split has no labels (the XTREME download withholds the test labels of
XNLI, PAWS-X, UD-POS and PAN-X) is scored on the dev split, and results.json, the tables and the
log say so; a task with labels in neither split is listed as not scored, with the reason."""
from __future__ import annotations

import json
import os
import random

import pytest

from tests import eval_helpers as H


def withheld(root: str) -> None:
    """XNLI test files without labels beside labelled dev files; PAN-X without labels anywhere."""
    rng = random.Random(5)
    for lang, n in (("en", 7), ("de", 5), ("fr", 4)):
        rows = [f"{' '.join(H.words(rng, 4, 9))}\t{' '.join(H.words(rng, 3, 6))}" for _ in range(n)]
        H.write(os.path.join(root, "xnli", f"test-{lang}.tsv"), "\n".join(rows) + "\n")
        for split in ("dev", "test"):
            blocks = ["\n".join(H.words(rng, 2, 6)) for _ in range(3)]
            H.write(os.path.join(root, "panx", f"{split}-{lang}.tsv"), "\n\n".join(blocks) + "\n")


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> dict:
    root = str(tmp_path_factory.mktemp("fallback"))
    ws = H.make_workspace(root, {"xnli": {"en": 9, "de": 6, "fr": 5}})
    withheld(ws["data"])
    tree = H.config_tree(ws["data"], ws["tok"], os.path.join(root, "run"))
    export = H.make_export(os.path.join(root, "export"), tree, tasks=("xnli", "panx"))
    out = os.path.join(root, "eval")
    done = H.launch(H.evaluate_cmd("single", [export, "--out", out, "--split", "test", "--tasks", "xnli", "panx"]),
                    os.path.join(root, "eval.log"))
    assert done.rc == 0, done.output[-4000:]
    return {"out": out, "output": done.output}


@pytest.mark.slow
def test_a_task_without_test_labels_is_scored_on_dev_and_says_so(evaluated):
    results = H.read_json(os.path.join(evaluated["out"], "results.json"))
    xnli = results["tasks"]["xnli"]
    assert xnli["split"] == "dev" and xnli["split_note"] == "no labels in the test split; scored on dev"
    assert set(xnli["languages"]) == {"en", "de", "fr"}
    # the submission files are the test predictions; the dev predictions that were scored sit beside
    test = H.prediction_files(os.path.join(evaluated["out"], "predictions"))
    dev = H.prediction_files(os.path.join(evaluated["out"], "predictions-dev"))
    assert len(test["xnli/test-de.tsv"].decode().splitlines()) == 5
    assert len(dev["xnli/test-de.tsv"].decode().splitlines()) == 6
    assert "no labels in the test split of xnli, panx: scoring on dev instead" in evaluated["output"]
    md = open(os.path.join(evaluated["out"], "results.md")).read()
    assert "| xnli | accuracy | dev (no labels in the test split; scored on dev) |" in md


@pytest.mark.slow
def test_a_task_with_labels_in_neither_split_is_listed_not_dropped(evaluated):
    results = H.read_json(os.path.join(evaluated["out"], "results.json"))
    assert "panx" not in results["tasks"]
    assert results["skipped"] == [{"task": "panx", "reason": "no labels in the test split nor the dev split"}]
    assert "panx: not scored (no labels in the test split nor the dev split)" in evaluated["output"]
    assert "## Not scored" in open(os.path.join(evaluated["out"], "results.md")).read()
    stats = H.read_json(os.path.join(evaluated["out"], "eval_stats.json"))
    assert json.dumps(next(iter(stats.values()))["splits"]["xnli"]) == \
        '{"split": "dev", "split_note": "no labels in the test split; scored on dev"}'
