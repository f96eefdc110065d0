"""Social IQa (Sap et al. 2019): commonsense about people's actions and feelings, three
candidate answers; the intermediate task XTREME-R trains on before COPA for XCOPA.

It shares the "copa" multiple-choice head with XCOPA (the head scores each choice on its own,
so three choices here and two there use the same weights), so a SIQA phase followed by a COPA
phase hands its scorer on. Canonical example: context, question, choices = [answerA, answerB,
answerC], label = 0-2.

Local layout, as released (``socialiqa-train-dev``): ``siqa/{train,dev}.jsonl`` (context,
question, answerA..C) with labels 1-3 one per line in ``siqa/{train,dev}-labels.lst`` beside
it. Hub: ``allenai/social_i_qa`` (the same fields, label "1".."3").
"""
from __future__ import annotations

import os
from typing import Iterator

from trainer.tasks import formats
from trainer.tasks.base import DataError, HubSource, SkipCounter, Task

ANSWERS = ("answerA", "answerB", "answerC")


def siqa_example(row: dict, label: str | None, ex_id: str, path: str, line: int | None) -> dict:
    missing = [k for k in ("context", "question") + ANSWERS if not isinstance(row.get(k), str)]
    if missing:
        raise DataError(path, line, f"missing field(s) {missing}")
    raw = "" if label is None else str(label).strip()
    if raw not in ("", "1", "2", "3"):
        raise DataError(path, line, f"label {raw!r} is not 1, 2 or 3")
    return {"id": ex_id, "context": row["context"], "question": row["question"],
            "choices": [row[k] for k in ANSWERS], "label": int(raw) - 1 if raw else -1}


class SIQATask(Task):
    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        label_path = os.path.splitext(path)[0] + "-labels.lst"
        labels = None
        if os.path.isfile(label_path):
            labels = [t for _, t in formats.iter_lines(label_path, SkipCounter(False)) if t.strip()]
        elif split != "test":  # released test questions come without labels; nothing else does
            raise DataError(label_path, None, f"labels for {path} not found (SIQA keeps them in a "
                            f"separate file beside the questions)")
        rows = list(formats.read_jsonl(path, skips))
        if labels is not None and len(labels) != len(rows):
            raise DataError(label_path, None, f"{len(labels)} labels for {len(rows)} questions in {path}")
        for i, (n, row) in enumerate(rows):
            try:
                yield siqa_example(row, labels[i] if labels else None, f"{split}-{i}", path, n)
            except DataError as err:
                skips.handle(err)

    def hub_row(self, row: dict, index: int) -> dict:
        return siqa_example(row, row.get("label"), f"hub-{index}", "hub:allenai/social_i_qa", None)


SIQA = SIQATask(
    name="siqa",
    kind="multiple_choice",
    head="copa",
    metric="accuracy",
    num_choices=3,
    local={"train": "siqa/train.jsonl", "validation": "siqa/dev.jsonl"},
    hub={s: HubSource("allenai/social_i_qa", None, s) for s in ("train", "validation")},
    chance=100 / 3,
    train_size=33_410,
    description="Social IQa: commonsense questions about social situations, three answers.",
)
