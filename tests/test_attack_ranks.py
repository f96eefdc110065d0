"""`xstilts evaluate --attack` end to end: one process and 2 ranks under the deepspeed launcher
attack the same items and write the same report and the same adversarial examples; every
adversarial example keeps its gold (label, answers and context, entity tokens) and its budget."""
from __future__ import annotations

import json
import math
import os

import pytest

import eval_helpers as H

KINDS = ["char_greedy", "codemix_greedy", "random"]
ARGS = ["--tasks", "xnli", "panx", "xquad", "--languages", "de", "fr", "--attack", *KINDS,
        "--attack-budget", "0.3", "--attack-queries", "40", "--attack-seed", "5"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    root = str(tmp_path_factory.mktemp("attack_ranks"))
    ws = H.make_workspace(root, {"xnli": {"en": 6, "de": 24, "fr": 20}, "panx": {"de": 16, "fr": 12},
                                 "xquad": {"de": 8, "fr": 6}})
    tree = H.config_tree(ws["data"], ws["tok"], os.path.join(root, "run"), languages=["de", "fr"])
    tree["eval"]["attack"] = {"chunk_examples": 4, "min_f1": 0.2}
    tree["model"]["init_config"]["initializer_range"] = 0.6  # large weights: predictions follow the input
    export = H.make_export(os.path.join(root, "export"), tree)
    lines = [f"{w} {w.lower()}x" for w in H.WORDS]
    lexicon = [H.write(os.path.join(root, f"{pair}.txt"), "\n".join(lines) + "\n") for pair in ("de-en", "fr-en")]
    out = {}
    for launcher, ranks in (("single", 1), ("deepspeed", 2)):
        folder = os.path.join(root, launcher)
        done = H.launch(H.evaluate_cmd(launcher, [export, "--out", folder, *ARGS, "--lexicon", *lexicon], ranks),
                        os.path.join(root, f"{launcher}.log"), timeout=600)
        assert done.rc == 0, done.output[-4000:]
        out[launcher] = folder
    return out


def _adversarial(folder: str) -> dict[str, bytes]:
    files = {}
    for base, _, names in os.walk(os.path.join(folder, "adversarial")):
        for name in names:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = f.read()
    return files


@pytest.mark.slow
def test_one_rank_and_two_ranks_give_the_same_attacks(runs):
    one, two = (H.read_json(os.path.join(runs[k], "robustness.json")) for k in ("single", "deepspeed"))
    assert list(one["attacks"]) == [f"{k}@0.3" for k in KINDS]
    assert one["attacks"] == two["attacks"] and one["attack_averages"] == two["attack_averages"]
    a, b = _adversarial(runs["single"]), _adversarial(runs["deepspeed"])
    assert sorted(a) == sorted(os.path.join("adversarial", f"{k}@0.3", f"{t}.jsonl")
                               for k in KINDS for t in ("xnli", "panx", "xquad"))
    assert a == b
    stats = one["attack_config"]["passes"][0]
    assert len(two["attack_config"]["passes"][0]["busy_s"]) == 2 and len(stats["busy_s"]) == 1


@pytest.mark.slow
def test_the_clean_score_of_the_attack_is_the_results_score(runs):
    res = H.read_json(os.path.join(runs["single"], "results.json"))
    rep = H.read_json(os.path.join(runs["single"], "robustness.json"))
    for setting, tasks in rep["attacks"].items():
        for task, langs in tasks.items():
            for lang, row in langs.items():
                entry = res["tasks"][task]
                assert row["clean"] == pytest.approx(entry["languages"][lang][entry["metric"]]), (setting, task, lang)
                assert row["drop"] == pytest.approx(row["clean"] - row["attacked"])
                assert row["drop"] >= 0 or task != "xnli"  # an attack never helps a classifier it searched
    for name in ("robustness.md", "robustness.csv", "robustness.png"):
        assert os.path.getsize(os.path.join(runs["single"], name)) > 0, name


@pytest.mark.slow
def test_saved_items_recompute_every_score(runs):
    """items/<task>/<split>-<lang>.json (for the paired test over items) gives back each score."""
    import numpy as np

    from eval.items import metric_of, read_items

    res = H.read_json(os.path.join(runs["single"], "results.json"))
    for task, entry in res["tasks"].items():
        for lang, metrics in entry["languages"].items():
            got = read_items(os.path.join(runs["single"], "items", task, f"{entry['split']}-{lang}.json"))
            assert got is not None, (task, lang)
            assert metric_of(got["form"], np.asarray(got["items"], dtype=float)) == pytest.approx(
                metrics[entry["metric"]]), (task, lang)


@pytest.mark.slow
def test_adversarial_examples_keep_their_gold_and_budget(runs):
    flipped = 0
    for path in _adversarial(runs["single"]):
        with open(os.path.join(runs["single"], path), encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        assert rows
        for r in rows:
            o, p = r["original"], r["perturbed"]
            assert r["queries"] <= 40 and r["words_changed"] <= math.floor(0.3 * r["eligible_words"] + 1e-9)
            assert r["flipped"] == (r["correct_before"] and not r["correct_after"])
            flipped += r["flipped"]
            if "text_a" in o:
                assert p["label"] == o["label"] == r["gold"]
            elif "tags" in o:
                assert p["tags"] == o["tags"] and len(p["tokens"]) == len(o["tokens"])
                for tok_o, tok_p, tag in zip(o["tokens"], p["tokens"], o["tags"]):
                    assert tag == "O" or tok_o == tok_p, (tok_o, tok_p, tag)  # entities untouched
            else:
                assert p["context"] == o["context"] and p["answers"] == o["answers"]
            if not r["correct_before"]:
                assert p == o and r["queries"] == 1
    assert flipped > 0  # the runs attacked something
