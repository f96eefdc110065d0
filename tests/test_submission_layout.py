"""The submission layout as the official XTREME / XTREME-R scorer reads it, and nothing in a
prediction or label folder passed over in silence.

The reader below is written from the official scorer's rules (google-research/xtreme
``evaluate.py``: ``get_suffix``, ``read_label``, ``read_tag``, ``read_squad``, ``read_xcopa``,
the per-version language lists), not from this project's readers."""
from __future__ import annotations

import json
import os
import re

import pytest

from eval import scorer as S
from eval.layout import file_path
from eval.xtreme import LANGUAGES
from tests import helpers as h

# The official language lists (evaluate.py), per benchmark version and task folder.
OFFICIAL = {
    "xtreme": {
        "pawsx": "de,en,es,fr,ja,ko,zh", "xnli": "ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh",
        "panx": "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,"
                "th,sw,yo,my,zh,kk,tr,et,fi,hu",
        "udpos": "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,"
                 "vi,yo,zh",
        "bucc2018": "de,fr,ru,zh",
        "tatoeba": "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,"
                   "sw,zh,kk,tr,et,fi,hu",
        "xquad": "en,es,de,el,ru,tr,ar,vi,th,zh,hi", "mlqa": "en,es,de,ar,hi,vi,zh",
        "tydiqa": "en,ar,bn,fi,id,ko,ru,sw,te"},
    "xtreme-r": {
        "xnli": "ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh",
        "panx": "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,"
                "th,sw,yo,my,zh,kk,tr,et,fi,hu,qu,pl,uk,az,lt,pa,gu,ro",
        "udpos": "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,"
                 "vi,yo,zh,lt,pl,uk,wo,ro",
        "tatoeba": "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,"
                   "sw,zh,kk,tr,et,fi,hu,az,lt,pl,uk,ro",
        "xcopa": "et,ht,id,it,qu,sw,ta,th,tr,vi,zh", "lareqa": "",
        "mewslix": "ar,de,en,es,fa,ja,pl,ro,ta,tr,uk",
        "xquad": "en,es,de,el,ru,tr,ar,vi,th,zh,hi,ro", "mlqa": "en,es,de,ar,hi,vi,zh",
        "tydiqa": "en,ar,bn,fi,id,ko,ru,sw,te"},
}
QA = ("xquad", "mlqa", "tydiqa")
# this project's task for each (version, official folder)
OURS = {("xtreme-r", "udpos"): "udpos_r", ("xtreme-r", "panx"): "panx_r", ("xtreme-r", "tatoeba"): "tatoeba_r",
        ("xtreme-r", "xquad"): "xquad_r"}


def official_suffix(folder: str, version: str) -> str:
    if folder in QA or folder == "mewslix":
        return "json"
    if version == "xtreme-r" and folder == "xcopa":  # the multi_choice group
        return "jsonl"
    return "tsv"


def official_read(path: str, folder: str):
    if folder in ("panx", "udpos"):
        sentences, current = [], []
        for line in open(path):
            line = line.strip()
            if line:
                current.append(line)
            else:
                sentences.append(current)
                current = []
        return sentences + ([current] if current else [])
    if folder in QA or folder == "mewslix":
        doc = json.load(open(path))
        return doc["data"] if "data" in doc else doc
    if folder == "xcopa":
        return [json.loads(row)["label"] for row in open(path)]
    return [line.strip() for line in open(path)]


def prediction(task: str, lang: str):
    """What the evaluator hands the writer for one language of ``task``, and what the official
    reader must read back."""
    if task in ("udpos", "udpos_r", "panx", "panx_r"):
        tags = [["NOUN", "VERB"], ["B-PER", "I-PER", "O"]]
        return tags, tags
    if task in QA or task == "xquad_r":
        answers = {f"{lang}-q1": "an answer", f"{lang}-q2": ""}
        return answers, answers
    if task in ("mewslix", "lareqa"):
        ranked = {f"{lang}-m1": ["Q1", "Q2"], f"{lang}-m2": ["Q3"]}
        return ranked, ranked
    if task == "xcopa":
        return [0, 1, 1], [0, 1, 1]
    if task == "bucc2018":
        return [(f"{lang}-1", "en-4"), (f"{lang}-2", "en-9")], [f"{lang}-1\ten-4", f"{lang}-2\ten-9"]
    if task in ("tatoeba", "tatoeba_r"):
        return [3, 0, 1], ["3", "0", "1"]
    return ["entailment", "neutral"], ["entailment", "neutral"]


@pytest.mark.parametrize("version", ["xtreme", "xtreme-r"])
def test_a_written_submission_reads_back_under_the_official_rules(tmp_path, version):
    out = str(tmp_path / "submission")
    for folder, spec in OFFICIAL[version].items():
        task = OURS.get((version, folder), folder)
        official = [lg for lg in spec.split(",") if lg]
        if official:  # the official scorer lists no language for LAReQA (scored by its own script)
            assert sorted(LANGUAGES[task]) == sorted(official), (version, folder)
        for lang in official:
            S.write_predictions(task, lang, prediction(task, lang)[0], out)
    for folder, spec in OFFICIAL[version].items():
        task = OURS.get((version, folder), folder)
        for lang in [lg for lg in spec.split(",") if lg]:
            path = os.path.join(out, folder, f"test-{lang}.{official_suffix(folder, version)}")
            assert os.path.isfile(path), path
            assert file_path(out, task, lang) == path
            assert official_read(path, folder) == prediction(task, lang)[1], path
    # LAReQA has no language in the official scorer (its own script scores it): ranked JSON
    assert file_path(out, "lareqa", "de").endswith(os.path.join("lareqa", "test-de.json"))


def _write(path: str, text: str) -> str:
    return h.write_text(path, text)


def _xcopa(root: str, lang: str, labels: list[int]) -> None:
    _write(f"{root}/xcopa/test-{lang}.jsonl", "".join(json.dumps({"idx": i, "label": v}) + "\n"
                                                      for i, v in enumerate(labels)))


def test_an_official_xcopa_folder_is_scored(tmp_path):
    preds, labels = str(tmp_path / "p"), str(tmp_path / "l")
    _xcopa(labels, "et", [0, 1, 1, 0])
    _xcopa(preds, "et", [0, 1, 0, 0])
    _xcopa(labels, "tr", [1, 1])
    _xcopa(preds, "tr", [1, 1])
    res = S.score_predictions(preds, labels)
    assert res["tasks"]["xcopa"]["languages"] == {"et": {"accuracy": 75.0}, "tr": {"accuracy": 100.0}}
    assert res["skipped"] == []


def test_xcopa_as_an_earlier_version_wrote_it_is_still_read(tmp_path):
    preds, labels = str(tmp_path / "p"), str(tmp_path / "l")
    _xcopa(labels, "et", [0, 1])
    _write(f"{preds}/xcopa/test-et.tsv", "0\n0\n")
    res = S.score_predictions(preds, labels)
    assert res["tasks"]["xcopa"]["languages"]["et"]["accuracy"] == 50.0


def test_a_malformed_xcopa_line_names_file_and_line(tmp_path):
    preds, labels = str(tmp_path / "p"), str(tmp_path / "l")
    _xcopa(labels, "et", [0, 1])
    _write(f"{preds}/xcopa/test-et.jsonl", '{"label": 0}\n{"choice": 1}\n')
    with pytest.raises(S.ScoreError, match=r"p/xcopa/test-et.jsonl:2: expected a JSON object with a \"label\""):
        S.score_predictions(preds, labels)


def _xnli(root: str, lang: str, n: int = 2) -> None:
    _write(f"{root}/xnli/test-{lang}.tsv", "neutral\n" * n)


CASES = {
    "prediction only": (lambda p, l: _write(f"{p}/xnli/test-fr.tsv", "neutral\n"),
                        "l/xnli/test-fr.tsv", "missing label file (xnli fr has predictions)"),
    "label only": (lambda p, l: _write(f"{l}/xnli/test-fr.tsv", "neutral\n"),
                   "p/xnli/test-fr.tsv", "missing prediction file (xnli fr has labels)"),
    "unknown task folder": (lambda p, l: _write(f"{l}/xnlii/test-de.tsv", "x\n"),
                            "l/xnlii", "unknown task folder"),
    "unexpected extension": (lambda p, l: _write(f"{p}/xnli/test-de.json", "{}"),
                             "p/xnli/test-de.json", "unexpected extension .json"),
    "unknown language": (lambda p, l: _write(f"{l}/xnli/test-xx.tsv", "neutral\n"),
                         "l/xnli/test-xx.tsv", "language 'xx' is not one of xnli's"),
    "folder without a scorable file": (lambda p, l: (_write(f"{l}/pawsx/notes.txt", "x"),
                                                     os.makedirs(f"{p}/pawsx")),
                                       "l/pawsx/notes.txt", "not a test-<lang>.<ext> file"),
    "task folder on one side": (lambda p, l: _write(f"{l}/panx/test-de.tsv", "O\n\n"),
                                "p/panx", "missing task folder (the labels have one)"),
    "stray file at the top": (lambda p, l: _write(f"{p}/results.json", "{}"),
                              "p/results.json", "a file where task folders are expected"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_nothing_in_either_folder_is_passed_over(tmp_path, case):
    preds, labels = str(tmp_path / "p"), str(tmp_path / "l")
    for root in (preds, labels):
        _xnli(root, "de")
    make, path, reason = CASES[case]
    make(preds, labels)
    with pytest.raises(S.ScoreError, match=re.escape(f"{path}: {reason}")):
        S.score_predictions(preds, labels)
    res = S.score_predictions(preds, labels, allow_missing=True)
    assert res["tasks"]["xnli"]["languages"] == {"de": {"accuracy": 100.0}}
    assert any(s["path"].endswith(path) and s["reason"].startswith(reason) for s in res["skipped"]), res["skipped"]


def test_folder_with_nothing_scorable_on_both_sides_is_reported(tmp_path):
    preds, labels = str(tmp_path / "p"), str(tmp_path / "l")
    os.makedirs(f"{preds}/pawsx")
    os.makedirs(f"{labels}/pawsx")
    with pytest.raises(S.ScoreError, match=r"l/pawsx: no test-<lang> file of a task and language on both sides"):
        S.score_predictions(preds, labels)


def test_score_command_warns_and_lists_what_it_skipped(tmp_path, capsys):
    from trainer.cli import main

    preds, labels = str(tmp_path / "p"), str(tmp_path / "l")
    for root in (preds, labels):
        _xnli(root, "de")
    _write(f"{labels}/xnli/test-fr.tsv", "neutral\n")
    out = str(tmp_path / "results.json")
    assert main(["score", "--predictions", preds, "--labels", labels, "--out", out]) == 2
    assert "missing prediction file (xnli fr has labels)" in capsys.readouterr().err
    assert main(["score", "--predictions", preds, "--labels", labels, "--out", out, "--allow-missing"]) == 0
    err = capsys.readouterr().err
    assert f"xstilts score: skipped {preds}/xnli/test-fr.tsv: missing prediction file" in err
    assert json.load(open(out))["skipped"] == [{"path": f"{preds}/xnli/test-fr.tsv",
                                                "reason": "missing prediction file (xnli fr has labels)"}]


def test_pos_folder_gives_the_xtreme_r_task_only_with_its_extra_languages(tmp_path):
    preds, labels = str(tmp_path / "p"), str(tmp_path / "l")
    for root in (preds, labels):
        _write(f"{root}/udpos/test-de.tsv", "NOUN\nVERB\n\n")
    assert set(S.score_predictions(preds, labels)["tasks"]) == {"udpos"}
    for root in (preds, labels):
        _write(f"{root}/udpos/test-lt.tsv", "NOUN\n\n")
    res = S.score_predictions(preds, labels)
    assert set(res["tasks"]["udpos"]["languages"]) == {"de"}
    assert set(res["tasks"]["udpos_r"]["languages"]) == {"de", "lt"}
