"""CosmosQA (Huang et al. 2019): commonsense reading comprehension over everyday narratives,
four candidate answers, an intermediate multiple-choice task.

Local formats, chosen by file name: the released CSVs (``cosmosqa/train.csv``,
``cosmosqa/valid.csv``: id, context, question, answer0..answer3, label) and the released
``cosmosqa/test.jsonl`` (the same fields, no label -> -1). Quoted CSV fields may span lines;
errors name the first line of the record. Hub: ``allenai/cosmos_qa`` (the same columns; label
is an int).
"""
from __future__ import annotations

from typing import Iterator

from trainer.tasks import formats
from trainer.tasks.base import DataError, HubSource, SkipCounter, Task

ANSWERS = tuple(f"answer{i}" for i in range(4))
FIELDS = ("id", "context", "question") + ANSWERS


def _example(row: dict, path: str, line: int | None) -> dict:
    missing = [k for k in FIELDS if not isinstance(row.get(k), str)]
    if missing:
        raise DataError(path, line, f"missing field(s) {missing}")
    raw = row.get("label")
    if raw in (None, "", -1):
        label = -1
    elif str(raw).strip() in {"0", "1", "2", "3"}:
        label = int(str(raw).strip())
    else:
        raise DataError(path, line, f"label {raw!r} is not an answer index 0-3")
    return {"id": row["id"], "context": row["context"], "question": row["question"],
            "choices": [row[k] for k in ANSWERS], "label": label}


class CosmosQATask(Task):
    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        if path.lower().endswith(".jsonl"):
            rows = formats.read_jsonl(path, skips)
        else:
            rows = formats.read_csv(path, skips, required=FIELDS)
        seen: set[str] = set()
        for n, row in rows:
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
        return _example(row, "hub:allenai/cosmos_qa", None)


COSMOSQA = CosmosQATask(
    name="cosmosqa",
    kind="multiple_choice",
    head="cosmosqa",
    metric="accuracy",
    num_choices=len(ANSWERS),
    local={"train": "cosmosqa/train.csv", "validation": "cosmosqa/valid.csv",
           "test": "cosmosqa/test.jsonl"},
    hub={s: HubSource("allenai/cosmos_qa", None, s) for s in ("train", "validation", "test")},
    chance=25.0,
    train_size=25_262,
    description="CosmosQA: reading comprehension needing commonsense about people's everyday lives.",
)
