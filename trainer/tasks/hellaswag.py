"""HellaSwag (Zellers et al. 2019): pick the plausible continuation of a video caption or WikiHow
step among four, an intermediate multiple-choice task.

Canonical example: context = ``"{activity_label}: {ctx}"``, question = "", choices = the four
endings. That context is what the derived text format stores, so both formats give identical
examples. Local formats, chosen by file name:
  ``*.jsonl``  the official release (``hellaswag/hellaswag_{train,val,test}.jsonl``: ind,
               activity_label, ctx, endings, label; test has no label -> -1); id = ``ind``.
  otherwise    the derived text format, 6 lines per item: ``activity_label: ctx``, the gold
               label (0-3), then the four endings; id = ``{split}-{item}``.
Hub: ``Rowan/hellaswag`` (same fields as the jsonl; label is a string, "" on test).
"""
from __future__ import annotations

from typing import Iterator

from trainer.tasks import formats
from trainer.tasks.base import DataError, HubSource, SkipCounter, Task

NUM_ENDINGS = 4
ITEM_LINES = 2 + NUM_ENDINGS


def _label(raw: object, path: str, line: int | None) -> int:
    if raw in (None, ""):
        return -1
    text = str(raw).strip()
    if text not in {str(i) for i in range(NUM_ENDINGS)}:
        raise DataError(path, line, f"label {text!r} is not an ending index 0-{NUM_ENDINGS - 1}")
    return int(text)


def _from_official(row: dict, path: str, line: int | None) -> dict:
    missing = [k for k in ("ind", "activity_label", "ctx", "endings") if k not in row]
    if missing:
        raise DataError(path, line, f"missing field(s) {missing}")
    if len(row["endings"]) != NUM_ENDINGS:
        raise DataError(path, line, f"expected {NUM_ENDINGS} endings, found {len(row['endings'])}")
    return {"id": str(row["ind"]), "context": f"{row['activity_label']}: {row['ctx']}",
            "question": "", "choices": list(row["endings"]), "label": _label(row.get("label"), path, line)}


def read_text_items(path: str, split: str, skips: SkipCounter) -> Iterator[dict]:
    """The derived 6-lines-per-item text format."""
    lines = list(formats.iter_lines(path, skips))
    for item, start in enumerate(range(0, len(lines), ITEM_LINES)):
        block = lines[start:start + ITEM_LINES]
        try:
            if len(block) < ITEM_LINES:
                raise DataError(path, block[0][0], f"item {item} is cut short: {len(block)} of "
                                                   f"{ITEM_LINES} lines")
            yield {"id": f"{split}-{item}", "context": block[0][1], "question": "",
                   "choices": [t for _, t in block[2:]], "label": _label(block[1][1], path, block[1][0])}
        except DataError as err:
            skips.handle(err)


class HellaSwagTask(Task):
    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        if not path.lower().endswith(".jsonl"):
            yield from read_text_items(path, split, skips)
            return
        seen: set[str] = set()
        for n, row in formats.read_jsonl(path, skips):
            try:
                ex = _from_official(row, path, n)
                if ex["id"] in seen:
                    raise DataError(path, n, f"duplicate ind {ex['id']!r}")
            except DataError as err:
                skips.handle(err)
                continue
            seen.add(ex["id"])
            yield ex

    def hub_row(self, row: dict, index: int) -> dict:
        return _from_official(row, f"hub:{self.hub['train'].path}", None)


HELLASWAG = HellaSwagTask(
    name="hellaswag",
    kind="multiple_choice",
    head="hellaswag",
    metric="accuracy",
    num_choices=NUM_ENDINGS,
    local={"train": "hellaswag/hellaswag_train.jsonl", "validation": "hellaswag/hellaswag_val.jsonl",
           "test": "hellaswag/hellaswag_test.jsonl"},
    hub={s: HubSource("Rowan/hellaswag", None, s) for s in ("train", "validation", "test")},
    chance=25.0,
    train_size=39_905,
    description="HellaSwag: adversarially filtered commonsense sentence completion, 4 endings.",
)
