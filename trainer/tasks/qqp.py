"""QQP (Quora Question Pairs, GLUE version): are two questions paraphrases? An intermediate task.

Local layout: GLUE TSVs with a header, ``QQP/train.tsv`` and ``QQP/dev.tsv`` (``id qid1 qid2
question1 question2 is_duplicate``) and ``QQP/test.tsv`` (``id question1 question2``, labels
withheld -> -1). A row with a wrong column count is a bad row (raised, or counted with
``data.skip_bad_rows``). Hub: ``nyu-mll/glue`` config ``qqp``
(question1, question2, label, idx).
"""
from __future__ import annotations

from typing import Iterator

from trainer.tasks import formats
from trainer.tasks.base import DataError, HubSource, SkipCounter, Task


class QQPTask(Task):
    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        seen: set[str] = set()
        rows = formats.read_header_tsv(path, skips, ("id", "question1", "question2"))
        for n, row in rows:
            try:
                if row["id"] in seen:
                    raise DataError(path, n, f"duplicate id {row['id']!r}")
                label = self.label_index(row["is_duplicate"], path, n) if "is_duplicate" in row else -1
            except DataError as err:
                skips.handle(err)
                continue
            seen.add(row["id"])
            yield {"id": row["id"], "text_a": row["question1"], "text_b": row["question2"],
                   "label": label}

    def hub_row(self, row: dict, index: int) -> dict:
        return {"id": str(row.get("idx", index)), "text_a": row["question1"],
                "text_b": row["question2"], "label": int(row["label"])}


QQP = QQPTask(
    name="qqp",
    kind="classification",
    head="qqp",
    metric="accuracy",
    labels=("0", "1"),  # not duplicate, duplicate: the GLUE file values and hub class indices
    local={"train": "QQP/train.tsv", "validation": "QQP/dev.tsv", "test": "QQP/test.tsv"},
    hub={s: HubSource("nyu-mll/glue", "qqp", s) for s in ("train", "validation", "test")},
    chance=50.0,
    train_size=363_846,
    description="QQP: whether two Quora questions ask the same thing (GLUE).",
)
