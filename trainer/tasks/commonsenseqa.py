"""CommonsenseQA (Talmor et al. 2019): five-way multiple-choice questions built from ConceptNet,
an intermediate task.

Canonical example: context = "", question = the question text, choices = the five answers in
label order (A-E), label = the index of ``answerKey`` (-1 where the test file withholds it).
Both JSONL schemas are read, row by row:
  original    ``{"id", "answerKey", "question": {"stem", "question_concept",
              "choices": [{"label", "text"}, ...]}}`` (``*_rand_split.jsonl`` as released)
  hub/HF      ``{"id", "question", "question_concept", "choices": {"label": [...],
              "text": [...]}, "answerKey"}``
Hub: ``tau/commonsense_qa`` (the HF schema; answerKey "" on test).
"""
from __future__ import annotations

from typing import Iterator

from trainer.tasks import formats
from trainer.tasks.base import DataError, HubSource, SkipCounter, Task

KEYS = ("A", "B", "C", "D", "E")


def _choices(row: dict) -> tuple[str, list[tuple[str, str]]]:
    """(question text, [(label, text)]) from either schema; KeyError/TypeError when malformed."""
    q = row["question"]
    if isinstance(q, dict):  # original layout: the question object nests stem and choices
        return q["stem"], [(c["label"], c["text"]) for c in q["choices"]]
    ch = row["choices"]
    return q, list(zip(ch["label"], ch["text"]))


def _example(row: dict, path: str, line: int | None) -> dict:
    try:
        question, pairs = _choices(row)
        ex_id = str(row["id"])
    except (KeyError, TypeError) as e:
        raise DataError(path, line, f"not a CommonsenseQA row (missing {e})") from None
    pairs.sort()
    if tuple(k for k, _ in pairs) != KEYS:
        raise DataError(path, line, f"expected choices labelled {KEYS}, found {[k for k, _ in pairs]}")
    key = (row.get("answerKey") or "").strip()
    if key and key not in KEYS:
        raise DataError(path, line, f"answerKey {key!r} is not one of {KEYS}")
    return {"id": ex_id, "context": "", "question": question, "choices": [t for _, t in pairs],
            "label": KEYS.index(key) if key else -1}


class CommonsenseQATask(Task):
    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        seen: set[str] = set()
        for n, row in formats.read_jsonl(path, skips):
            try:
                ex = _example(row, path, n)
                if ex["id"] in seen:
                    raise DataError(path, n, f"duplicate id {ex['id']!r}")
            except DataError as err:
                skips.handle(err)
                continue
            seen.add(ex["id"])
            yield ex

    def hub_row(self, row: dict, index: int) -> dict:
        return _example(row, "hub:tau/commonsense_qa", None)


COMMONSENSEQA = CommonsenseQATask(
    name="commonsenseqa",
    kind="multiple_choice",
    head="commonsenseqa",
    metric="accuracy",
    num_choices=len(KEYS),
    local={"train": "commonsenseqa/train_rand_split.jsonl",
           "validation": "commonsenseqa/dev_rand_split.jsonl",
           "test": "commonsenseqa/test_rand_split_no_answers.jsonl"},
    hub={s: HubSource("tau/commonsense_qa", None, s) for s in ("train", "validation", "test")},
    chance=20.0,
    train_size=9_741,
    description="CommonsenseQA: five-way questions on ConceptNet concepts needing commonsense.",
)
