"""The scorer's readers and writer at their edges (the last tab-separated field, a sentence with
no closing blank line, SQuAD files without ``data`` or without answers, files read and written as
UTF-8 whatever the locale), the exact messages of its errors, what ``allow_missing`` lists as
skipped, and the scoring family of a task outside the XTREME table."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from eval import scorer as S
from tests.test_scorer import _squad_json, _write

KNOWN = ("bucc2018, lareqa, mewslix, mlqa, panx, panx_r, pawsx, tatoeba, tatoeba_r, tydiqa, udpos, "
         "udpos_r, xcopa, xnli, xquad, xquad_r")


def _message(exc_info) -> str:
    return str(exc_info.value)


# ---------------------------------------------------------------- scoring family


def test_scoring_family_of_tasks_outside_the_table():
    assert S.scorer_of("mlqa_gxlt") == "mlqa"  # MLQA's own normalisation for every MLQA variant
    assert S.scorer_of("bucc2017") == "bucc"
    assert S.scorer_of("sentiment") == "accuracy"
    assert S.scorer_of("xnli") == "accuracy" and S.scorer_of("tatoeba") == "tatoeba"


# ---------------------------------------------------------------- readers


def test_labels_are_the_last_tab_field_and_may_hold_spaces(tmp_path):
    path = _write(str(tmp_path / "l.tsv"), "new york\nsome text\tnot entailment\nx\ty\tentailment\n")
    assert S.read_labels(path) == ["new york", "not entailment", "entailment"]


def test_tags_are_the_last_tab_field_and_a_last_sentence_needs_no_blank_line(tmp_path):
    path = _write(str(tmp_path / "t.tsv"), "Paris\tB-LOC\nis\tO\n\nB X\nNew York\tI LOC")
    assert S.read_tags(path) == [["B-LOC", "O"], ["B X", "I LOC"]]


def test_pairs_split_on_tabs_only(tmp_path):
    path = _write(str(tmp_path / "p.tsv"), "de 1\ten 1\n\nde-2\ten-2\n")
    assert S.read_pairs(path) == [("de 1", "en 1"), ("de-2", "en-2")]


def test_readers_read_utf8_whatever_the_locale(tmp_path, ascii_default_open):
    labels = _write(str(tmp_path / "l.tsv"), "é\nß\n")
    tags = _write(str(tmp_path / "t.tsv"), "北京\tB-LOC\n\n")
    pairs = _write(str(tmp_path / "p.tsv"), "zh-北\ten-1\n")
    choices = _write(str(tmp_path / "c.jsonl"), '{"label": "é"}\n')
    qa = _write(str(tmp_path / "q.json"), '{"q1": "北京"}')
    assert S.read_labels(labels) == ["é", "ß"]
    assert S.read_tags(tags) == [["B-LOC"]]
    assert S.read_pairs(pairs) == [("zh-北", "en-1")]
    assert S.read_choices(choices) == ["é"]
    assert S.read_qa_predictions(qa) == {"q1": "北京"}


def test_bad_choice_line_message(tmp_path):
    path = _write(str(tmp_path / "c.jsonl"), '{"label": 1}\n{bad\n')
    with pytest.raises(S.ScoreError) as exc:
        S.read_choices(path)
    assert _message(exc) == f"{path}:2: not a JSON object (Expecting property name enclosed in double quotes)"


def test_qa_predictions_not_an_object_message(tmp_path):
    path = _write(str(tmp_path / "q.json"), '["a", "b"]')
    with pytest.raises(S.ScoreError) as exc:
        S.read_qa_predictions(path)
    assert _message(exc) == f"{path}: QA predictions must be a JSON object {{question_id: answer}}"


@pytest.mark.parametrize("text", ['{"q1": ["a"], "q2": "abc"}', '[["a"]]'])
def test_ranked_file_must_map_ids_to_lists(tmp_path, text):
    path = _write(str(tmp_path / "r.json"), text)
    with pytest.raises(S.ScoreError) as exc:
        S.read_ranked(path)
    assert _message(exc) == f"{path}: expected a JSON object {{query_id: [candidate ids]}}"


def test_squad_references_bare_list_and_question_without_answers(tmp_path):
    articles = [{"title": "t", "paragraphs": [{"context": "c", "qas": [
        {"id": 7, "question": "?"}, {"id": "q2", "question": "?", "answers": [{"text": "x"}]}]}]}]
    path = _write(str(tmp_path / "bare.json"), json.dumps(articles))
    assert S.read_squad_references(path) == [{"id": "7", "answers": {"text": []}},
                                             {"id": "q2", "answers": {"text": ["x"]}}]


def test_squad_object_without_data_is_not_a_dataset(tmp_path):
    path = _write(str(tmp_path / "v.json"), '{"version": "1.1"}')
    with pytest.raises(S.ScoreError, match="not a SQuAD-format dataset"):
        S.read_squad_references(path)


# ---------------------------------------------------------------- score_file


def test_score_file_names_the_missing_file(tmp_path):
    there = _write(str(tmp_path / "there.tsv"), "a\n")
    gone = str(tmp_path / "gone.tsv")
    with pytest.raises(S.ScoreError) as exc:
        S.score_file("xnli", "de", there, gone)
    assert _message(exc) == f"missing label file: {gone}"
    with pytest.raises(S.ScoreError) as exc:
        S.score_file("xnli", "de", gone, there)
    assert _message(exc) == f"missing prediction file: {gone}"


def test_score_file_count_messages_name_both_files(tmp_path):
    gold = _write(str(tmp_path / "gold.tsv"), "B-PER\nI-PER\nO\n\nB-LOC\nO\n\n")
    pred = _write(str(tmp_path / "pred.tsv"), "B-PER\nO\n\nO\nO\n\n")
    with pytest.raises(S.ScoreError) as exc:
        S.score_file("panx", "de", pred, gold)
    assert _message(exc) == f"{pred} sentence 1: 2 tags but {gold} has 3"
    _write(pred, "B-PER\nI-PER\nO\n\n")
    with pytest.raises(S.ScoreError) as exc:
        S.score_file("panx", "de", pred, gold)
    assert _message(exc) == f"{pred}: 1 sentences but {gold} has 2"


def test_score_file_bad_index_message(tmp_path):
    gold = _write(str(tmp_path / "gold.tsv"), "0\n1\n")
    pred = _write(str(tmp_path / "pred.tsv"), "0\nabc\n")
    with pytest.raises(S.ScoreError) as exc:
        S.score_file("tatoeba", "de", pred, gold)
    assert _message(exc) == f"{pred}: invalid literal for int() with base 10: 'abc'"


def test_score_file_reads_by_task_family_not_extension(tmp_path):
    # a classification task reads one label per line even from a file named .jsonl
    gold = _write(str(tmp_path / "gold.jsonl"), "entailment\nneutral\n")
    pred = _write(str(tmp_path / "pred.jsonl"), "entailment\ncontradiction\n")
    assert S.score_file("xnli", "de", pred, gold) == {"accuracy": 50.0}


# ---------------------------------------------------------------- score_predictions


def test_missing_folders_messages(tmp_path):
    there = str(tmp_path)
    gone = str(tmp_path / "gone")
    with pytest.raises(S.ScoreError) as exc:
        S.score_predictions(gone, there)
    assert _message(exc) == f"{gone}: no such prediction folder"
    with pytest.raises(S.ScoreError) as exc:
        S.score_predictions(there, gone)
    assert _message(exc) == f"{gone}: no such label folder"


def test_unknown_task_message_lists_the_known_ones(tmp_path):
    with pytest.raises(S.ScoreError) as exc:
        S.score_predictions(str(tmp_path), str(tmp_path), tasks=["xnlii"])
    assert _message(exc) == f"unknown task 'xnlii' (known: {KNOWN})"


def test_results_name_both_folders(tmp_path):
    preds, labels = str(tmp_path / "p"), str(tmp_path / "l")
    _write(f"{labels}/xnli/test-de.tsv", "a\nb\n")
    _write(f"{preds}/xnli/test-de.tsv", "a\na\n")
    res = S.score_predictions(preds, labels)
    assert res["predictions"] == os.path.abspath(preds) and res["labels"] == os.path.abspath(labels)
    assert res["skipped"] == []
    assert res["tasks"]["xnli"]["languages"]["de"]["accuracy"] == 50.0


def test_named_task_without_label_folder_is_skipped(tmp_path):
    preds, labels = str(tmp_path / "p"), str(tmp_path / "l")
    _write(f"{labels}/pawsx/test-de.tsv", "0\n")
    _write(f"{preds}/pawsx/test-de.tsv", "0\n")
    res = S.score_predictions(preds, labels, tasks=["xnli", "pawsx"], allow_missing=True)
    assert res["skipped"] == [{"path": os.path.join(labels, "xnli"), "reason": "no label files for task xnli"}]
    assert res["tasks"]["pawsx"]["languages"]["de"]["accuracy"] == 100.0
    with pytest.raises(S.ScoreError) as exc:
        S.score_predictions(preds, labels, tasks=["xnli"])
    assert _message(exc) == (f"{os.path.join(labels, 'xnli')}: no label files for task xnli "
                             "(--allow-missing scores the rest and lists what it skipped)")


def test_named_task_without_the_languages_is_skipped_with_its_folder(tmp_path):
    preds, labels = str(tmp_path / "p"), str(tmp_path / "l")
    _write(f"{labels}/udpos/test-de.tsv", "NOUN\n\n")
    _write(f"{preds}/udpos/test-de.tsv", "NOUN\n\n")
    _write(f"{labels}/xnli/test-de.tsv", "a\n")
    _write(f"{preds}/xnli/test-de.tsv", "a\n")
    res = S.score_predictions(preds, labels, tasks=["udpos_r", "xnli"], languages=["fr", "es"],
                              allow_missing=True)
    assert res["skipped"] == [
        {"path": os.path.join(labels, "udpos"), "reason": "no label files for languages fr, es for task udpos_r"},
        {"path": os.path.join(labels, "xnli"), "reason": "no label files for languages fr, es for task xnli"}]
    assert res["tasks"] == {}


def test_named_task_missing_a_prediction_language_is_skipped(tmp_path):
    preds, labels = str(tmp_path / "p"), str(tmp_path / "l")
    _write(f"{labels}/xnli/test-de.tsv", "a\nb\n")
    _write(f"{labels}/xnli/test-fr.tsv", "a\n")
    _write(f"{preds}/xnli/test-de.tsv", "a\nb\n")
    res = S.score_predictions(preds, labels, tasks=["xnli"], allow_missing=True)
    assert res["skipped"] == [{"path": os.path.join(preds, "xnli", "test-fr.tsv"),
                               "reason": "missing prediction file (xnli fr has labels)"}]
    assert res["tasks"]["xnli"]["languages"]["de"]["accuracy"] == 100.0


def test_task_folder_on_one_side_only_is_skipped(tmp_path):
    preds, labels = str(tmp_path / "p"), str(tmp_path / "l")
    _write(f"{labels}/xnli/test-de.tsv", "a\n")
    _write(f"{preds}/xnli/test-de.tsv", "a\n")
    _write(f"{preds}/pawsx/test-de.tsv", "1\n")
    _write(f"{labels}/panx/test-de.tsv", "O\n\n")
    res = S.score_predictions(preds, labels, allow_missing=True)
    assert res["skipped"] == [
        {"path": os.path.join(preds, "panx"), "reason": "missing task folder (the labels have one)"},
        {"path": os.path.join(labels, "pawsx"), "reason": "missing task folder (the predictions have one)"}]
    assert list(res["tasks"]) == ["xnli"]


def test_pairs_without_wanted_tasks_takes_the_label_tasks(tmp_path):
    preds, labels = str(tmp_path / "p"), str(tmp_path / "l")
    _write(f"{labels}/xnli/test-de.tsv", "a\n")
    _write(f"{preds}/xnli/test-de.tsv", "a\n")
    skip = S.Skips(False)
    assert S._pairs(preds, labels, "xnli", None, skip, None) == {"xnli": ["de"]}
    # a task the folder does not hold has no languages on either side: nothing to score, nothing skipped
    assert S._pairs(preds, labels, "xnli", ["pawsx"], skip, None) == {}
    assert skip.items == []


# ---------------------------------------------------------------- writing


def test_qa_predictions_written_as_indented_utf8(tmp_path, ascii_default_open):
    path = S.write_predictions("xquad", "zh", {"q1": "北京", 2: 3}, str(tmp_path))
    with ascii_default_open(path, encoding="utf-8") as f:
        assert f.read() == '{\n "q1": "北京",\n "2": "3"\n}'


def test_ranked_lists_written_as_strings(tmp_path):
    path = S.write_predictions("mewslix", "de", {"q": ["Q1", 2]}, str(tmp_path))
    with open(path, encoding="utf-8") as f:
        assert f.read() == '{\n "q": [\n  "Q1",\n  "2"\n ]\n}'


def test_choices_from_numpy_scalars(tmp_path):
    path = S.write_predictions("xcopa", "et", [np.int64(1), np.int64(0)], str(tmp_path))
    with open(path, encoding="utf-8") as f:
        assert f.read() == '{"label": 1}\n{"label": 0}\n'


def test_bucc_lines_written_as_given(tmp_path):
    path = S.write_predictions("bucc2018", "fr", ["fr-1\ten-X", "fr-2\ten-2 \n", ("fr-3", "en-3")], str(tmp_path))
    with open(path, encoding="utf-8") as f:
        assert f.read() == "fr-1\ten-X\nfr-2\ten-2 \nfr-3\ten-3\n"


def test_lists_of_lists_are_written_as_sentences(tmp_path):
    path = S.write_predictions("xnli", "de", [["a", "b"], ("c",)], str(tmp_path))
    with open(path, encoding="utf-8") as f:
        assert f.read() == "a\nb\n\nc\n\n"
    path = S.write_predictions("panx", "de", [np.array(["B-PER", "O"]), np.array(["O"])], str(tmp_path))
    with open(path, encoding="utf-8") as f:
        assert f.read() == "B-PER\nO\n\nO\n\n"


def test_an_empty_label_is_a_line_but_an_empty_tag_is_refused(tmp_path):
    path = S.write_predictions("xnli", "de", ["", "a"], str(tmp_path))
    with open(path, encoding="utf-8") as f:
        assert f.read() == "\na\n"
    with pytest.raises(ValueError) as exc:
        S.write_predictions("panx", "de", [["B-PER", " "]], str(tmp_path))
    assert _message(exc) == "an empty tag would end its sentence early"


# ---------------------------------------------------------------- command line


def test_help_description_is_its_own_paragraph(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit):
        S.main(["--help"])
    assert "\n\nScore XTREME-layout prediction files against labels.\n\n" in capsys.readouterr().out


def test_named_task_whose_prediction_folder_is_missing_is_skipped_or_refused(tmp_path):
    labels, preds = str(tmp_path / "labels"), str(tmp_path / "preds")
    _write(f"{labels}/xnli/test-de.tsv", "entailment\n")
    _write(f"{labels}/pawsx/test-de.tsv", "1\n")
    _write(f"{preds}/pawsx/test-de.tsv", "1\n")
    res = S.score_predictions(preds, labels, tasks=["xnli", "pawsx"], allow_missing=True)
    assert res["skipped"] == [{"path": os.path.join(preds, "xnli"),
                               "reason": "missing task folder (the labels have one)"}]
    assert set(res["tasks"]) == {"pawsx"}
    with pytest.raises(S.ScoreError) as err:
        S.score_predictions(preds, labels, tasks=["xnli"])
    assert _message(err) == (f"{os.path.join(preds, 'xnli')}: missing task folder (the labels have one) "
                             f"(--allow-missing scores the rest and lists what it skipped)")


def test_named_task_scored_from_a_legacy_folder_on_one_side(tmp_path):
    # labels in the official udpos folder, predictions in the udpos_r folder earlier versions wrote
    labels, preds = str(tmp_path / "labels"), str(tmp_path / "preds")
    _write(f"{labels}/udpos/test-lt.tsv", "NOUN\nVERB\n\n")
    _write(f"{preds}/udpos_r/test-lt.tsv", "NOUN\nVERB\n\n")
    res = S.score_predictions(preds, labels, tasks=["udpos_r"])
    assert res["tasks"]["udpos_r"]["languages"]["lt"]["f1"] == 100.0 and res["skipped"] == []
