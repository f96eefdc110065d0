"""eval/attack_results.py worked by hand: the outcome of each head kind (loss, right, prediction),
the gold part of an example, the record of one attacked example field by field, the summary per
task and language, and the JSONL file of adversarial examples."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eval import attack_results as R
from eval.attack_results import AttackResult, Outcome


# ---------------------------------------------------------------- outcomes


def test_as_outcome_takes_tuples_of_two_or_three_and_refuses_the_rest():
    assert R.as_outcome((1, 0)) == Outcome(1.0, False, None)
    assert R.as_outcome([0.5, 1, "x"]) == Outcome(0.5, True, "x")
    same = Outcome(2.0, True, 1)
    assert R.as_outcome(same) is same
    for bad in ((1.0,), (1.0, True, "x", "y"), 3.0, "ab"):
        with pytest.raises(TypeError, match=r"^an objective returns Outcome or \(loss, correct\[, "
                                            r"prediction\]\) per candidate, got "):
            R.as_outcome(bad)
    with pytest.raises(ValueError, match="^the objective returned a NaN loss$"):
        R.as_outcome((float("nan"), True))
    with pytest.raises(ValueError, match="NaN"):
        R.as_outcome(Outcome(float("nan"), True))


def test_choice_outcome_is_the_cross_entropy_of_the_gold_label():
    o = R.choice_outcome([0.2, 0.5, 0.3], 2)
    assert o == Outcome(-math.log(0.3), False, 1)
    assert R.choice_outcome([0.2, 0.5, 0.3], 1) == Outcome(-math.log(0.5), True, 1)
    # a probability of 0 is floored at 1e-12, not an infinite loss
    assert R.choice_outcome([1.0, 0.0], 1).loss == pytest.approx(-math.log(1e-12))
    # ties go to the first label
    assert R.choice_outcome([0.5, 0.5], 1) == Outcome(-math.log(0.5), False, 0)


def test_span_outcome_is_one_minus_the_best_f1():
    answers = {"text": ["the red cat", "a cat"], "answer_start": [0, 0]}
    o = R.span_outcome("red cat", answers)
    assert o == Outcome(0.0, True, "red cat")  # "the" is an article: F1 1 against the first gold
    o = R.span_outcome("cat sat", answers)
    # F1 against "a cat" (normalised "cat"): precision 1/2, recall 1 -> 2/3; against "red cat" 1/2
    assert o.loss == pytest.approx(1 - 2 / 3) and o.correct and o.prediction == "cat sat"
    # right means F1 >= min_f1, the bound included
    assert R.span_outcome("red dog", {"text": ["red cat"]}, min_f1=0.5).correct
    assert not R.span_outcome("red dog", {"text": ["red cat"]}, min_f1=0.51).correct
    assert R.span_outcome("red dog", {"text": ["red cat"]}, tie_break=0.25).loss == pytest.approx(0.75)
    # the default bound is 0.5
    assert not R.span_outcome("one two three", {"text": ["one four five"]}).correct  # F1 1/3


def test_span_outcome_of_an_unanswerable_question():
    # no gold text (or only empty ones): right only when the prediction is empty too
    for answers in ({"text": []}, {"text": [""]}, {}):
        assert R.span_outcome("", answers) == Outcome(0.0, True, "")
        assert R.span_outcome("cat", answers) == Outcome(1.0, False, "cat")
    # empty golds beside a real one are ignored
    assert R.span_outcome("cat", {"text": ["", "cat"]}) == Outcome(0.0, True, "cat")


def test_tagging_outcome_is_the_mean_cross_entropy_over_words():
    labels = ["O", "B-PER", "I-PER"]
    probs = [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.3, 0.5]]
    o = R.tagging_outcome(probs, ["O", "B-PER", "O"], labels)
    assert o.loss == pytest.approx(-(math.log(0.7) + math.log(0.6) + math.log(0.2)) / 3)
    assert o.correct is False and o.prediction == ["O", "B-PER", "I-PER"]
    o = R.tagging_outcome(probs, ["O", "B-PER", "I-PER"], labels)
    assert o.correct is True and o.loss == pytest.approx(-(math.log(0.7) + math.log(0.6) + math.log(0.5)) / 3)
    # a sentence of no words: loss 0, right
    assert R.tagging_outcome([], [], labels) == Outcome(0.0, True, [])
    # ties go to the first label
    assert R.tagging_outcome([[0.5, 0.5, 0.0]], ["B-PER"], labels).prediction == ["O"]


def test_gold_of_reads_the_field_of_the_head_kind():
    example = {"label": 2, "answers": {"text": ["x"]}, "tags": ["O"]}
    assert R.gold_of("classification", example) == 2
    assert R.gold_of("multiple_choice", example) == 2
    assert R.gold_of("span", example) == {"text": ["x"]}
    assert R.gold_of("tagging", example) == ["O"]
    with pytest.raises(KeyError):
        R.gold_of("span", {"label": 1})


# ---------------------------------------------------------------- one attacked example


def result(**kw) -> AttackResult:
    base = dict(task="xnli", lang="de", id="7", attack="char_swap@0.2", head_kind="classification",
                original={"text_a": "Ein Hund.", "label": 1}, perturbed={"text_a": "Ein Hnud.", "label": 1},
                before=Outcome(0.1, True, 1), after=Outcome(2.5, False, 0), words_changed=1,
                eligible_words=4, queries=9)
    base.update(kw)
    return AttackResult(**base)


def test_an_attacked_example_as_json_field_by_field():
    assert result().to_json() == {
        "task": "xnli", "lang": "de", "id": "7", "attack": "char_swap@0.2",
        "original": {"text_a": "Ein Hund.", "label": 1}, "perturbed": {"text_a": "Ein Hnud.", "label": 1},
        "gold": 1, "prediction_before": 1, "prediction_after": 0, "correct_before": True,
        "correct_after": False, "loss_before": 0.1, "loss_after": 2.5, "flipped": True,
        "words_changed": 1, "eligible_words": 4, "share": 0.25, "queries": 9}


def test_share_and_flip():
    assert result(words_changed=0, eligible_words=0).share == 0.0
    assert result(words_changed=3, eligible_words=4).share == 0.75
    assert not result(before=Outcome(0.1, False, 0)).flipped  # wrong before: not a flip
    assert not result(after=Outcome(0.2, True, 1)).flipped
    assert result(head_kind="tagging", original={"tags": ["O"]}).gold == ["O"]


# ---------------------------------------------------------------- summary


def test_summary_per_task_and_language_by_hand():
    rs = [result(id="1"),  # right -> wrong: a flip, share 1/4, 9 queries
          result(id="2", after=Outcome(0.2, True, 1), words_changed=2, queries=3),  # stays right
          result(id="3", before=Outcome(1.0, False, 0), after=Outcome(1.2, False, 0), words_changed=0,
                 queries=1),  # wrong before
          result(id="4", lang="fr", words_changed=4, queries=5)]
    got = R.summarize(rs)
    assert got == {"xnli": {
        "de": {"examples": 3, "clean": pytest.approx(200 / 3), "attacked": pytest.approx(100 / 3),
               "drop": pytest.approx(100 / 3), "success_rate": 50.0,
               "words_changed": pytest.approx(100 * (0.25 + 0.5 + 0) / 3), "queries": 13 / 3},
        "fr": {"examples": 1, "clean": 100.0, "attacked": 0.0, "drop": 100.0, "success_rate": 100.0,
               "words_changed": 100.0, "queries": 5.0}}}


def test_summary_with_no_right_example_has_no_success_rate_and_takes_the_tasks_metric():
    rs = [result(before=Outcome(1.0, False, 0), after=Outcome(1.0, False, 0))]
    assert R.summarize(rs)["xnli"]["de"]["success_rate"] is None
    seen = []

    def metric(task, lang, predictions, golds):
        seen.append((task, lang, predictions, golds))
        return 40.0 if predictions == [0] else 90.0

    rs = [result(before=Outcome(0.1, True, 1), after=Outcome(2.0, False, 0))]
    fig = R.summarize(rs, metric)["xnli"]["de"]
    assert (fig["clean"], fig["attacked"], fig["drop"]) == (90.0, 40.0, 50.0)
    assert seen == [("xnli", "de", [1], [1]), ("xnli", "de", [0], [1])]


# ---------------------------------------------------------------- the JSONL file


def test_examples_written_and_read_back_in_order(tmp_path):
    path = str(tmp_path / "deep" / "er" / "adversarial.jsonl")
    rs = [result(id="1", perturbed={"text_a": "Über den Fluß", "label": 1}),
          result(id="2", before=Outcome(np.float32(0.5), True, np.int64(1)),
                 after=Outcome(0.5, True, np.array([1, 2])))]
    assert R.write_examples(iter(rs), path) == 2
    raw = open(path, encoding="utf-8").read()
    assert raw.count("\n") == 2 and raw.endswith("\n")
    assert "Über den Fluß" in raw  # UTF-8 as is, not \u escapes
    rows = R.read_examples(path)
    assert [r["id"] for r in rows] == ["1", "2"]
    assert rows[0] == json.loads(json.dumps(rs[0].to_json()))
    assert rows[1]["prediction_before"] == 1 and rows[1]["prediction_after"] == [1, 2]
    assert rows[1]["loss_before"] == 0.5
    # blank lines are skipped when read
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n  \n")
    assert len(R.read_examples(path)) == 2
    assert R.write_examples([], str(tmp_path / "none.jsonl")) == 0
    assert open(tmp_path / "none.jsonl", encoding="utf-8").read() == ""


def test_examples_file_is_utf8_under_an_ascii_default(tmp_path, ascii_default_open):
    path = str(tmp_path / "a.jsonl")
    R.write_examples([result(perturbed={"text_a": "naïve", "label": 1})], path)
    assert R.read_examples(path)[0]["perturbed"]["text_a"] == "naïve"


def test_a_value_json_cannot_hold_is_refused_by_name(tmp_path):
    with pytest.raises(TypeError, match="^cannot write object to JSON$"):
        R.write_examples([result(after=Outcome(1.0, False, object()))], str(tmp_path / "b.jsonl"))
    assert R._plain(np.float64(1.5)) == 1.5 and R._plain(np.arange(2)) == [0, 1]


def test_tagging_outcome_of_one_word_is_its_cross_entropy():
    o = R.tagging_outcome([[0.25, 0.75]], ["B-PER"], ["O", "B-PER"])
    assert o == Outcome(pytest.approx(-math.log(0.75)), True, ["B-PER"])
