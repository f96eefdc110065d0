"""Rank 0's scoring (trainer/evaluation/collect.py) on a stand-in predictor: labels mapped to
their names on both sides, the language handed to the task's scorer, withheld labels giving a
prediction file and no score, the per-item file of the paired test where the results expect it,
and the balance, scalars and timings reported as the evaluator measured them."""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

import pytest

from eval.evaluator import RankReport, WorkItem
from trainer.evaluation import collect


@dataclass
class FakeTask:
    name: str
    kind: str
    labels: tuple = ()
    metric: str = "accuracy"
    seen: list = field(default_factory=list)

    def score(self, predictions, references, lang):
        self.seen.append((list(predictions) if not isinstance(predictions, dict) else predictions,
                          list(references), lang))
        hits = sum(p == r for p, r in zip(predictions, references)) if self.kind != "span" else 1
        return {self.metric: 100.0 * hits / max(len(references), 1)}


class FakePredictor:
    split = "test"

    def __init__(self, examples: dict):
        self._examples = examples  # (task, lang) -> columns

    def examples(self, task, lang):
        return self._examples[(task, lang)]


class Tracker:
    def __init__(self):
        self.calls = []

    def scalars(self, values, step):
        self.calls.append((values, step))


NLI = FakeTask("nli", "classification", labels=("e", "n", "c"))


def test_labels_are_compared_by_name_and_the_language_reaches_the_scorer():
    task = FakeTask("nli", "classification", labels=("e", "n", "c"))
    pred = FakePredictor({("nli", "de"): {"label": [0, 2, 1]}})
    metrics, out = collect.score_examples(pred, task, "de", [0, 2, 2])
    assert out == ["e", "c", "c"] and task.seen == [(["e", "c", "c"], ["e", "c", "n"], "de")]
    assert metrics == {"accuracy": pytest.approx(200 / 3)}
    plain = FakeTask("copa", "multiple_choice")  # no label names: the indices themselves
    pred = FakePredictor({("copa", "sw"): {"label": [1, 0]}})
    assert collect.score_examples(pred, plain, "sw", [1, 1]) == ({"accuracy": 50.0}, [1, 1])
    assert plain.seen[-1][2] == "sw"


def test_tagging_scores_one_word_sentences_and_withheld_tags_give_no_score():
    task = FakeTask("pos", "tagging", metric="f1")
    pred = FakePredictor({("pos", "fr"): {"tags": [["NOUN"], ["DET", "NOUN"]]}})
    metrics, _ = collect.score_examples(pred, task, "fr", [["NOUN"], ["DET", "VERB"]])
    assert metrics == {"f1": 50.0} and task.seen[-1][2] == "fr"
    withheld = FakePredictor({("pos", "fr"): {"tags": [["NOUN"], []]}})
    assert collect.score_examples(withheld, task, "fr", [["NOUN"], ["DET"]]) == ({}, [["NOUN"], ["DET"]])


def test_score_all_writes_predictions_and_the_items_beside_the_prediction_folder(tmp_path):
    task = FakeTask("nli", "classification", labels=("e", "n", "c"))
    pred = FakePredictor({("nli", "de"): {"label": [0, 1]}, ("nli", "en"): {"label": [0, 0]}})
    assembled = {("nli", "de", ""): [0, 0], ("nli", "en", ""): [0, 0]}
    out_dir = str(tmp_path / "run" / "predictions") + os.sep  # a trailing separator changes nothing
    scores = collect.score_all(pred, [task], assembled, out_dir)
    assert scores == {"nli": {"de": {"accuracy": 50.0}, "en": {"accuracy": 100.0}}}
    with open(tmp_path / "run" / "items" / "nli" / "test-de.json") as f:
        assert json.load(f) == {"metric": "accuracy", "form": "mean", "items": [1, 0]}
    assert (tmp_path / "run" / "predictions" / "nli" / "test-de.tsv").read_text().split() == ["e", "e"]


def test_score_on_main_reports_the_balance_scalars_and_timings(caplog):
    task = FakeTask("nli", "classification", labels=("e", "n", "c"))
    pred = FakePredictor({("nli", "de"): {"label": [0, 1, 2]}})
    items = [WorkItem(2.0, "nli", "de", 0, 2), WorkItem(1.0, "nli", "de", 2, 3)]
    merged = {items[0]: [0, 1], items[1]: [0]}
    reports = [RankReport(0, busy_s=3.0, items=1, examples=2, cost=2.0),
               RankReport(1, busy_s=1.0, items=1, examples=1, cost=1.0)]
    tracker, stats = Tracker(), {}
    with caplog.at_level(logging.INFO, logger="xstilts.eval"):
        scores = collect.score_on_main(pred, [task], merged, {("nli", "de", ""): 3}, reports, tracker, 17,
                                       None, stats)
    assert scores == {"nli": {"de": {"accuracy": pytest.approx(200 / 3)}}}
    assert "evaluated 3 examples in 2 items on 2 ranks; balance (slowest / mean busy time) 1.500" in caplog.text
    assert tracker.calls == [({"eval/nli/de/accuracy": pytest.approx(200 / 3)}, 17)]
    assert {k: stats[k] for k in ("ranks", "balance", "items", "examples", "busy_s", "cost")} == {
        "ranks": 2, "balance": 1.5, "items": [1, 1], "examples": [2, 1], "busy_s": [3.0, 1.0], "cost": [2.0, 1.0]}
    assert 0.0 <= stats["score_s"] < 60.0


def test_item_values_per_kind():
    pos = FakeTask("pos", "tagging", metric="accuracy")
    pred = FakePredictor({("pos", "en"): {"tags": [["DET", "NOUN", "VERB"], ["NOUN"]]}})
    form, values = collect.item_values(pred, pos, "en", [["DET", "VERB", "VERB"], ["NOUN"]])
    assert (form, values) == ("counts", [[2, 3], [1, 1]])  # right tokens, tokens
    ner = FakeTask("ner", "tagging", metric="f1")
    pred = FakePredictor({("ner", "en"): {"tags": [["B-PER", "I-PER", "O"]]}})
    form, values = collect.item_values(pred, ner, "en", [["B-PER", "O", "O"]])
    assert form == "counts" and values == [[0, 1, 1]]  # chunks right, predicted, gold

    class Squad(FakeTask):
        def score(self, predictions, references, lang):
            self.seen.append(lang)
            em = [predictions[r["id"]] in r["answers"]["text"] for r in references]
            return {"exact_match": 100.0 * sum(em) / len(em), "f1": 50.0}

    qa = Squad("xquad", "span", metric="f1")
    pred = FakePredictor({("xquad", "de"): {"id": ["a", "b"], "answers": [{"text": ["x"]}, {"text": ["y"]}]}})
    form, values = collect.item_values(pred, qa, "de", {"a": "x", "b": "z"})
    assert form == "mean" and values == [pytest.approx(0.75), pytest.approx(0.25)] and qa.seen == ["de", "de"]
    metrics, answers = collect.score_examples(pred, qa, "de", ["x", "z"])
    assert answers == {"a": "x", "b": "z"} and qa.seen[-1] == "de"
