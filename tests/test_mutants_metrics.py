"""Metric plumbing checked against hand-worked values and the exact messages a user sees:
MLM sums, token accuracy, mAP@k's cut, the XTREME score's refusal, task categories, and the
evaluator's work split."""
from __future__ import annotations

import math

import pytest

from eval import evaluator as E
from eval import metrics as M
from eval.xtreme import XTREME_TASKS, category_of


def test_mlm_scores_from_batch_sums():
    out = M.mlm([(6.0, 3, 2), (2.0, 1, 1)])
    assert out == {"loss": 2.0, "perplexity": pytest.approx(math.exp(2.0)), "accuracy": 75.0}
    # one batch without right-token counts: no accuracy at all
    assert set(M.mlm([(6.0, 3, 2), (2.0, 1)])) == {"loss", "perplexity"}
    assert "accuracy" not in M.mlm([(2.0, 1)]) and M.mlm([(2.0, 1)])["loss"] == 2.0
    for batches in ([], [(0.0, 0)], [(1.0, 0, 0)]):
        with pytest.raises(ValueError, match=r"^mlm: no scored tokens$"):
            M.mlm(batches)
    # a negative count (a corrupted sum) is refused the same way
    with pytest.raises(ValueError, match=r"^mlm: no scored tokens$"):
        M.mlm([(1.0, -1)])


def test_token_accuracy_hand_and_messages():
    assert M.token_accuracy([["A", "B"], ["C"]], [["A", "X"], ["C"]]) == {"accuracy": pytest.approx(200 / 3)}
    with pytest.raises(ValueError, match=r"^token_accuracy: 1 predictions but 2 references$"):
        M.token_accuracy([["A"]], [["A"], ["B"]])
    with pytest.raises(ValueError, match=r"^token_accuracy: sentence 1 has 1 predicted tags, 2 gold tags$"):
        M.token_accuracy([["A"], ["B"]], [["A"], ["B", "C"]])


def test_ranked_map_cuts_at_k():
    refs = {"q1": ["c3"], "q2": ["c1"]}
    preds = {"q1": ["c1", "c2", "c3"], "q2": ["c1"]}
    assert M.ranked_map(preds, refs) == {"map@20": pytest.approx(100 * (1 / 3 + 1) / 2)}
    # at k = 2 q1's answer (rank 3) is cut off: (0 + 1) / 2; a missing query scores 0
    assert M.ranked_map(preds, refs, k=2) == {"map@2": 50.0}
    assert M.ranked_map({"q2": ["c1"]}, refs) == {"map@20": 50.0}


def test_xtreme_score_names_every_missing_task():
    have = {t: 50.0 for t in XTREME_TASKS if t not in ("mlqa", "tatoeba")}
    with pytest.raises(ValueError, match=r"^XTREME score needs all nine tasks; missing: mlqa, tatoeba$"):
        M.xtreme_score(have)


def test_category_of():
    assert category_of("xnli") == "classification"
    assert category_of("tydiqa") == "QA"
    assert category_of("mnli") == ""


def test_chunk_splits_examples_into_items():
    items = E.chunk("xnli", "de", 5, 2, cost_per_example=3.0, part="src")
    assert [(it.start, it.stop, it.cost) for it in items] == [(0, 2, 6.0), (2, 4, 6.0), (4, 5, 3.0)]
    assert {(it.task, it.lang, it.part) for it in items} == {("xnli", "de", "src")}
    # a chunk size under 1 means one example an item; the part defaults to ""
    assert [(it.start, it.stop, it.part) for it in E.chunk("xnli", "de", 2, 0)] == [(0, 1, ""), (1, 2, "")]
    assert [(it.start, it.stop) for it in E.chunk("xnli", "de", 3, 1)] == [(0, 1), (1, 2), (2, 3)]
    assert E.chunk("xnli", "de", 0, 4) == []
    assert [it.cost for it in E.chunk("xnli", "de", 3, 2)] == [2.0, 1.0]  # one unit an example by default


def test_squad_v2_f1_of_empty_answers_as_the_official_v2_script():
    # compute_f1: if either side has no tokens, F1 = int(both have none)
    assert M.squad_v2_f1("", "") == 1.0
    assert M.squad_v2_f1("", "Paris") == 0.0 and M.squad_v2_f1("Paris", "") == 0.0
    assert M.squad_v2_f1("the", "Paris") == 0.0  # "the" normalises to nothing
    assert M.squad_v2_f1("Paris France", "Paris") == pytest.approx(2 / 3)


def test_squad_v2_skips_unpredicted_questions_anywhere_and_splits_has_and_no_answers():
    refs = [{"id": "q0", "answers": {"text": ["x"]}},  # no prediction: left out
            {"id": "q1", "answers": {"text": ["Paris"]}},
            {"id": "q2", "answers": {"text": ["Rome"]}},
            {"id": "q3", "answers": {"text": []}}]
    out = M.squad_v2({"q1": "Paris", "q2": "Milan", "q3": ""}, refs)
    assert out == {"exact_match": pytest.approx(200 / 3), "f1": pytest.approx(200 / 3),
                   "HasAns_exact_match": 50.0, "HasAns_f1": 50.0,
                   "NoAns_exact_match": 100.0, "NoAns_f1": 100.0}
    with pytest.raises(ValueError, match=r"^squad_v2: no reference has a prediction$"):
        M.squad_v2({"other": "x"}, refs)


def test_xtreme_r_score_names_every_missing_task():
    from eval.xtreme import XTREME_R_TASKS

    have = {t: 50.0 for t in XTREME_R_TASKS[2:]}
    with pytest.raises(ValueError, match=rf"^XTREME-R score needs all ten tasks; missing: "
                                         rf"{XTREME_R_TASKS[0]}, {XTREME_R_TASKS[1]}$"):
        M.xtreme_r_score(have)


def test_mlqa_splits_on_whitespace_except_chinese():
    # the official MLQA script segments CJK characters only for zh; other languages split on spaces
    assert M.normalize_mlqa("東京 Tower", "en") == "東京 tower"
    assert M.normalize_mlqa("東京 Tower", "zh") == "東 京 tower"


@pytest.mark.parametrize("fn, name", [(M.accuracy, "accuracy"), (M.seqeval_prf, "seqeval")])
def test_length_messages_name_the_metric(fn, name):
    with pytest.raises(ValueError, match=rf"^{name}: 1 predictions but 2 references$"):
        fn([["O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match=rf"^{name}: nothing to score \(no references\)$"):
        fn([], [])


def test_qa_scores_keep_going_past_an_unanswered_question_and_refuse_nothing():
    refs = [{"id": "q0", "answers": {"text": ["x"]}}, {"id": "q1", "answers": {"text": ["Paris"]}}]
    assert M.squad_v1({"q1": "Paris"}, refs) == {"exact_match": 50.0, "f1": 50.0}
    with pytest.raises(ValueError, match=r"^QA scoring: nothing to score \(no references\)$"):
        M.squad_v1({}, [])


def test_gold_answers_of_every_layout():
    assert M.gold_answers({"answers": {"text": ["a", 3]}}) == ["a", "3"]
    assert M.gold_answers({"answers": {}}) == []
    assert M.gold_answers({"answers": [{"text": "a"}, "b"]}) == ["a", "b"]
    assert M.gold_answers({}) == []


def test_score_task_dispatches_token_accuracy():
    assert M.score_task("token_accuracy", [["N", "V"]], [["N", "N"]], "de") == {"accuracy": 50.0}
