"""The XTREME submission layout: writing predictions, reading them back, scoring a prediction
folder against a label folder (hand values, gold = 100 on the real samples), clear errors for
missing and misaligned files, and the ``xstilts score`` command."""
from __future__ import annotations

import json
import os

import pytest

from eval import scorer as S
from eval.results import load_results


def _write(path: str, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def _squad_json(qas: dict[str, list[str]]) -> str:
    return json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
        {"context": "c", "qas": [{"id": q, "question": "?", "answers": [{"text": a, "answer_start": 0}
                                                                          for a in golds]}
                                 for q, golds in qas.items()]}]}]}, ensure_ascii=False)


@pytest.fixture
def layout(tmp_path):
    """A small hand-made label folder and a prediction folder with known mistakes."""
    labels, preds = str(tmp_path / "labels"), str(tmp_path / "preds")
    _write(f"{labels}/xnli/test-de.tsv", "entailment\nneutral\ncontradiction\nneutral\n")
    _write(f"{preds}/xnli/test-de.tsv", "entailment\nneutral\nneutral\nneutral\n")  # 3/4
    _write(f"{labels}/panx/test-de.tsv", "B-PER\nI-PER\nO\n\nB-LOC\nO\n\n")
    _write(f"{preds}/panx/test-de.tsv", "B-PER\nI-PER\nO\n\nO\nO\n\n")  # P 1/1, R 1/2 -> F1 2/3
    _write(f"{labels}/mlqa/test-zh.json", _squad_json({"q1": ["北京"], "q2": ["上海"]}))
    _write(f"{preds}/mlqa/test-zh.json", json.dumps({"q1": "北京大学", "q2": "上海"}))
    _write(f"{labels}/bucc2018/test-de.tsv", "de-1\ten-1\nde-2\ten-2\n")
    _write(f"{preds}/bucc2018/test-de.tsv", "de-1\ten-1\nde-3\ten-3\nde-4\ten-9\n")
    _write(f"{labels}/tatoeba/test-de.tsv", "0\n1\n2\n3\n")
    _write(f"{preds}/tatoeba/test-de.tsv", "0\n[1]\n3\n3\n")
    return preds, labels


def test_score_layout_hand(layout):
    preds, labels = layout
    res = S.score_predictions(preds, labels)
    t = res["tasks"]
    assert t["xnli"]["languages"]["de"]["accuracy"] == 75.0
    assert t["panx"]["languages"]["de"]["f1"] == pytest.approx(200 / 3)
    assert t["panx"]["languages"]["de"]["recall"] == pytest.approx(50.0)
    # q1: F1 2/3 (北 京 of 北 京 大 学), EM 0; q2 exact -> EM 50, F1 83.33, em_f1 66.67
    zh = t["mlqa"]["languages"]["zh"]
    assert zh["exact_match"] == 50.0 and zh["f1"] == pytest.approx(250 / 3)
    assert t["mlqa"]["avg_metric"] == pytest.approx((50 + 250 / 3) / 2)
    # 1 right of 3 predicted, of 2 gold: P 1/3, R 1/2, F1 = 2/5
    assert t["bucc2018"]["languages"]["de"]["f1"] == pytest.approx(40.0)
    assert t["tatoeba"]["languages"]["de"]["accuracy"] == 75.0
    assert res["xtreme_score"] is None and "not scored" in res["xtreme_score_note"]


def test_task_and_language_filters(layout):
    preds, labels = layout
    res = S.score_predictions(preds, labels, tasks=["xnli"], languages=["de", "fr"])
    assert list(res["tasks"]) == ["xnli"] and list(res["tasks"]["xnli"]["languages"]) == ["de"]
    with pytest.raises(S.ScoreError, match="no label files for languages fr for task xnli"):
        S.score_predictions(preds, labels, tasks=["xnli"], languages=["fr"])


def test_missing_prediction_file_is_named(layout):
    preds, labels = layout
    _write(f"{labels}/xnli/test-fr.tsv", "neutral\n")
    with pytest.raises(S.ScoreError, match=r"preds/xnli/test-fr\.tsv: missing prediction file \(xnli fr has labels\)"):
        S.score_predictions(preds, labels)


def test_line_count_mismatch_is_named(layout):
    preds, labels = layout
    _write(f"{preds}/xnli/test-de.tsv", "neutral\nneutral\n")
    with pytest.raises(S.ScoreError, match=r"preds/xnli/test-de\.tsv: 2 lines but .*labels/xnli/test-de\.tsv has 4"):
        S.score_predictions(preds, labels, tasks=["xnli"])
    _write(f"{preds}/panx/test-de.tsv", "B-PER\nO\n\nO\nO\n\n")
    with pytest.raises(S.ScoreError, match=r"test-de\.tsv sentence 1: 2 tags but .* has 3"):
        S.score_predictions(preds, labels, tasks=["panx"])
    _write(f"{preds}/panx/test-de.tsv", "B-PER\nI-PER\nO\n\n")
    with pytest.raises(S.ScoreError, match="1 sentences but .* has 2"):
        S.score_predictions(preds, labels, tasks=["panx"])


def test_bad_json_is_named(layout):
    preds, labels = layout
    _write(f"{preds}/mlqa/test-zh.json", "{not json")
    with pytest.raises(S.ScoreError, match=r"preds/mlqa/test-zh\.json: not valid JSON"):
        S.score_predictions(preds, labels, tasks=["mlqa"])
    _write(f"{labels}/mlqa/test-zh.json", json.dumps({"data": [{"title": "t"}]}))
    with pytest.raises(S.ScoreError, match="not a SQuAD-format dataset"):
        S.score_predictions(preds, labels, tasks=["mlqa"])


def test_write_predictions_round_trip(tmp_path):
    out = str(tmp_path)
    p = S.write_predictions("xnli", "de", ["entailment", "neutral"], out)
    assert p.endswith(os.path.join("xnli", "test-de.tsv")) and S.read_labels(p) == ["entailment", "neutral"]
    p = S.write_predictions("panx", "de", [["B-PER", "O"], [], ["O"]], out)
    assert S.read_tags(p) == [["B-PER", "O"], [], ["O"]]
    p = S.write_predictions("xquad", "zh", {"q1": "北京"}, out)
    assert p.endswith("test-zh.json") and S.read_qa_predictions(p) == {"q1": "北京"}
    p = S.write_predictions("mlqa_gxlt", "de-en", {"q": "a"}, out)
    assert p.endswith(os.path.join("mlqa_gxlt", "test-de-en.json"))
    p = S.write_predictions("bucc2018", "fr", [("fr-1", "en-7")], out)
    assert S.read_pairs(p) == [("fr-1", "en-7")]
    import numpy as np

    p = S.write_predictions("tatoeba", "de", np.array([3, 1, 2]), out)
    assert S.read_labels(p) == ["3", "1", "2"]
    with pytest.raises(ValueError, match="one line"):
        S.write_predictions("xnli", "de", ["a\nb"], out)
    with pytest.raises(ValueError, match="empty tag"):
        S.write_predictions("panx", "de", [["B-PER", ""]], out)


def test_main_writes_results(layout, tmp_path, capsys):
    preds, labels = layout
    out = str(tmp_path / "res" / "results.json")
    assert S.main(["--predictions", preds, "--labels", labels, "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "xnli (accuracy): avg 75.00" in printed and "XTREME score: n/a" in printed
    assert load_results(out)["tasks"]["tatoeba"]["avg_metric"] == 75.0
    folder = str(tmp_path / "folder")
    assert S.main(["--predictions", preds, "--labels", labels, "--out", folder, "--tasks", "xnli"]) == 0
    assert {"results.json", "results.csv", "results.md"} <= set(os.listdir(folder))
    os.remove(f"{preds}/tatoeba/test-de.tsv")
    assert S.main(["--predictions", preds, "--labels", labels, "--out", out]) == 2
    assert "missing prediction file" in capsys.readouterr().err


# ---------------------------------------------------------------- real samples as label layouts


def _real_layout(real: str, root: str) -> None:
    """Label files in the leaderboard layout, built from the gold of the real samples."""
    for lang in ("de", "zh"):
        rows = [l.rstrip("\n").split("\t") for l in open(f"{real}/xnli/dev-{lang}.tsv", encoding="utf-8") if l.strip()]
        _write(f"{root}/xnli/test-{lang}.tsv", "".join(r[-1] + "\n" for r in rows))
        rows = [l.rstrip("\n").split("\t") for l in open(f"{real}/pawsx/dev-{lang}.tsv", encoding="utf-8") if l.strip()]
        _write(f"{root}/pawsx/test-{lang}.tsv", "".join(r[-1] + "\n" for r in rows))
        for task in ("panx", "udpos"):
            lines = open(f"{real}/{task}/dev-{lang}.tsv", encoding="utf-8").read().split("\n")
            _write(f"{root}/{task}/test-{lang}.tsv", "\n".join(l.split("\t")[-1] for l in lines))
        with open(f"{real}/xquad/xquad.{lang}.json", encoding="utf-8") as f:
            _write(f"{root}/xquad/test-{lang}.json", f.read())
        with open(f"{real}/mlqa/MLQA_V1/dev/dev-context-{lang}-question-{lang}.json", encoding="utf-8") as f:
            _write(f"{root}/mlqa/test-{lang}.json", f.read())
    with open(f"{real}/bucc2018/zh-en.dev.gold", encoding="utf-8") as f:
        _write(f"{root}/bucc2018/test-zh.tsv", f.read())
    n = sum(1 for _ in open(f"{real}/tatoeba/v1/tatoeba.deu-eng.eng", encoding="utf-8"))
    _write(f"{root}/tatoeba/test-de.tsv", "".join(f"{i}\n" for i in range(n)))


def _gold_predictions(labels: str, preds: str) -> None:
    for task in os.listdir(labels):
        for name in os.listdir(os.path.join(labels, task)):
            src = os.path.join(labels, task, name)
            if name.endswith(".json"):
                refs = S.read_squad_references(src)
                _write(os.path.join(preds, task, name),
                       json.dumps({r["id"]: r["answers"]["text"][0] for r in refs}, ensure_ascii=False))
            else:
                with open(src, encoding="utf-8") as f:
                    _write(os.path.join(preds, task, name), f.read())


def test_real_gold_layout_scores_100(real_data, tmp_path):
    labels, preds = str(tmp_path / "labels"), str(tmp_path / "preds")
    _real_layout(real_data, labels)
    _gold_predictions(labels, preds)
    res = S.score_predictions(preds, labels)
    assert set(res["tasks"]) == {"xnli", "pawsx", "panx", "udpos", "xquad", "mlqa", "bucc2018", "tatoeba"}
    for task, entry in res["tasks"].items():
        for lang, m in entry["languages"].items():
            assert all(v == 100.0 for v in m.values()), (task, lang, m)
        assert entry["avg_metric"] == 100.0
    assert res["xtreme_score"] is None  # tydiqa missing, and most languages


def test_real_layout_corrupted_hand(real_data, tmp_path):
    labels, preds = str(tmp_path / "labels"), str(tmp_path / "preds")
    _real_layout(real_data, labels)
    _gold_predictions(labels, preds)
    # xnli de: flip 50 of 200 labels -> 75 %
    gold = S.read_labels(f"{labels}/xnli/test-de.tsv")
    flip = {"entailment": "neutral", "neutral": "contradiction", "contradiction": "entailment"}
    S.write_predictions("xnli", "de", [flip[g] if i % 4 == 0 else g for i, g in enumerate(gold)], preds)
    # xquad de: blank every answer of the first 20 of 200 questions -> EM = F1 = 90
    refs = S.read_squad_references(f"{labels}/xquad/test-de.json")
    S.write_predictions("xquad", "de", {r["id"]: ("" if i < 20 else r["answers"]["text"][0])
                                        for i, r in enumerate(refs)}, preds)
    res = S.score_predictions(preds, labels, tasks=["xnli", "xquad"], languages=["de"])
    assert len(gold) == 200 and len(refs) == 200
    assert res["tasks"]["xnli"]["languages"]["de"]["accuracy"] == 75.0
    assert res["tasks"]["xquad"]["languages"]["de"] == {"exact_match": 90.0, "f1": 90.0, "em_f1": 90.0}
