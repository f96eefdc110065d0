"""Readers of JSON documents in the released formats: the SQuAD layout (data/paragraphs/qas;
blanked answers, text "", count as withheld) shared by SQuAD, XQuAD, MLQA, TyDiQA-GoldP and the
demo's QA tasks, and whole-document JSON whose errors name a line (XQuAD-R).

Every reader takes the file path and a ``SkipCounter``; a bad question becomes a ``DataError``
naming the file and its line, which the counter raises or counts (``data.skip_bad_rows``).
"""
from __future__ import annotations

import json
import re
from typing import Iterator

from trainer.tasks.base import DataError, SkipCounter
from trainer.tasks.formats import check_nonempty


def load_json(path: str) -> tuple[object, str]:
    """(parsed document, its text); the text lets errors inside the document name a line."""
    check_nonempty(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(path, data.count(b"\n", 0, e.start) + 1, "invalid UTF-8") from None
    try:
        return json.loads(text), text
    except json.JSONDecodeError as e:
        raise DataError(path, e.lineno, f"bad JSON: {e.msg} at column {e.colno}") from None


def line_of(text: str, key: str, value: str, nth: int = 0) -> int | None:
    """The line of the ``nth`` occurrence of ``"key": value`` in a JSON text (None if absent)."""
    pat = re.compile(r'"%s"\s*:\s*%s' % (re.escape(key), re.escape(json.dumps(value))))
    for i, m in enumerate(pat.finditer(text)):
        if i == nth:
            return text.count("\n", 0, m.start()) + 1
    return None


def read_squad(path: str, skips: SkipCounter, unique_ids: bool = False) -> Iterator[dict]:
    """Canonical span examples from a SQuAD v1.1/v2.0-format file (XQuAD, MLQA, TyDiQA-GoldP).

    Blanked answers (text "", as in XTREME's TyDiQA dev) and v2.0 ``is_impossible`` questions
    give empty answer lists. A duplicate id is a bad row, unless ``unique_ids``: then the k-th
    repeat (k >= 2) of id X becomes ``X#k`` (ids in these files contain no "#"; the original
    is ``id.split("#")[0]``)."""
    doc, text = load_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise DataError(path, 1, "not a SQuAD-format file: no top-level 'data' list")
    seen: dict[str, int] = {}
    for article in doc["data"]:
        for para in article.get("paragraphs", []) if isinstance(article, dict) else []:
            for qa in para.get("qas", []) if isinstance(para, dict) else []:
                ex = _squad_example(path, text, para, qa, seen, unique_ids, skips)
                if ex is not None:
                    yield ex


def _squad_example(path: str, text: str, para: dict, qa: dict, seen: dict[str, int],
                   unique_ids: bool, skips: SkipCounter) -> dict | None:
    raw_id = qa.get("id") if isinstance(qa, dict) else None
    nth = seen.get(str(raw_id), 0)

    def reject(message: str) -> None:
        # the line is looked up only for a bad question: a scan of the text per question
        # would make reading SQuAD's 87k questions quadratic
        where = line_of(text, "id", str(raw_id), nth) if raw_id is not None else None
        skips.handle(DataError(path, where, message))

    qid = raw_id
    if qid is None or not isinstance(qa.get("question"), str) or not isinstance(
            para.get("context"), str):
        return reject("question lacks 'id', 'question' or its paragraph's 'context'")
    qid = str(qid)
    seen[qid] = nth + 1
    if nth:
        if not unique_ids:
            return reject(f"duplicate question id {qid!r}")
        qid = f"{qid}#{nth + 1}"
    context = para["context"]
    answers: dict[str, list] = {"text": [], "answer_start": []}
    for ans in [] if qa.get("is_impossible") else qa.get("answers", []):
        a_text, a_start = ans.get("text"), ans.get("answer_start")
        if not isinstance(a_text, str) or not isinstance(a_start, int):
            return reject(f"question {qid}: answer lacks text/answer_start")
        if a_text == "":
            continue  # blanked by the release: the answer is withheld
        if context[a_start:a_start + len(a_text)] != a_text:
            return reject(f"question {qid}: answer {a_text!r} is not at answer_start {a_start} "
                          f"of the context")
        answers["text"].append(a_text)
        answers["answer_start"].append(a_start)
    return {"id": qid, "context": context, "question": qa["question"], "answers": answers}
