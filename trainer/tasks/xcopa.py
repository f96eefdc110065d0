"""XCOPA (Ponti et al. 2020): causal commonsense reasoning in 11 languages, an XTREME-R target.

Each item is a premise and two alternatives; the question asks for the more plausible cause or
effect. Trains on English COPA (Roemmele et al. 2011, 400 items; XTREME-R's baseline first
trains on SIQA, trainer/tasks/siqa.py, whose head it shares), evaluated zero-shot with
accuracy on every XCOPA language. Canonical example: context = the premise, question = an
English prompt for "cause" / "effect", choices = [choice1, choice2], label = 0 or 1 (-1 where
withheld).

Local layout, as released: ``xcopa/data/{lang}/{val,test}.{lang}.jsonl`` (cambridgeltl/xcopa)
and, for English, SuperGLUE's ``copa/{train,val,test}.jsonl`` (test without labels); one
object per line with premise, choice1, choice2, question, label and idx. Hub:
``cambridgeltl/xcopa`` configs ``{lang}`` (validation, test) and ``super_glue`` config ``copa``
for English.
"""
from __future__ import annotations

import os
from typing import Iterator

from eval.xtreme import LANGUAGES
from trainer.tasks import formats
from trainer.tasks.base import DataError, HubSource, SkipCounter, Task

PROMPTS = {"cause": "What was the cause?", "effect": "What happened as a result?"}
COPA_FILES = {"train": "train", "validation": "val", "test": "test"}


def copa_example(row: dict, ex_id: str, path: str, line: int | None) -> dict:
    """The canonical example of one COPA/XCOPA row; a bad row is a DataError."""
    missing = [k for k in ("premise", "choice1", "choice2", "question") if not isinstance(row.get(k), str)]
    if missing:
        raise DataError(path, line, f"missing field(s) {missing}")
    if row["question"] not in PROMPTS:
        raise DataError(path, line, f"question {row['question']!r} is neither 'cause' nor 'effect'")
    label = row.get("label", -1)
    if label not in (0, 1, -1, None):
        raise DataError(path, line, f"label {label!r} is not 0 or 1")
    return {"id": ex_id, "context": row["premise"], "question": PROMPTS[row["question"]],
            "choices": [row["choice1"], row["choice2"]], "label": -1 if label is None else int(label)}


class XCOPATask(Task):
    def local_path(self, root: str, split: str, lang: str) -> str:
        if lang == "en":  # English is SuperGLUE's COPA, in its own folder
            return os.path.join(root, "copa", f"{COPA_FILES.get(split, split)}.jsonl")
        return super().local_path(root, split, lang)

    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        for n, row in formats.read_jsonl(path, skips):
            try:
                yield copa_example(row, f"{split}-{lang}-{row.get('idx', n)}", path, n)
            except DataError as err:
                skips.handle(err)

    def from_hub(self, split: str, lang: str) -> Iterator[dict]:
        src = HubSource("super_glue", "copa", split) if lang == "en" else self.hub[split]
        for i, row in enumerate(formats.hub_rows(src, split, lang)):
            yield copa_example(row, f"{split}-{lang}-{row.get('idx', i)}", f"hub:{src.path}", None)


XCOPA = XCOPATask(
    name="xcopa",
    target_epochs=5.0, target_before=(("siqa", 5.0),), target_source="XTREME-R train_xcopa.sh: SIQA 5 epochs, then COPA 5 epochs",
    kind="multiple_choice",
    head="copa",
    metric="accuracy",
    languages=LANGUAGES["xcopa"],
    num_choices=2,
    local={"validation": "xcopa/data/{lang}/val.{lang}.jsonl",
           "test": "xcopa/data/{lang}/test.{lang}.jsonl"},
    hub={"validation": HubSource("cambridgeltl/xcopa", "{lang}", "validation"),
         "test": HubSource("cambridgeltl/xcopa", "{lang}", "test")},
    chance=50.0,
    train_size=400,
    fixed_fields=("question",),  # the English prompt for "cause" / "effect"
    description="XCOPA: choose the more plausible cause or effect of a premise (COPA in 11 languages).",
)
