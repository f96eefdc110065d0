"""SQuAD v1.1 and v2.0 (Rajpurkar et al. 2016, 2018): English extractive QA, two intermediate
tasks; v1.1 is also the English training set of the XQuAD and MLQA targets (xquad.py, mlqa.py).

v1.1 uses the shared span head "qa" (with XQuAD, MLQA and TyDiQA); v2.0 has unanswerable
questions (empty answers) and its own head "qa_v2". Local layout: the official JSON files
``squad/train-v1.1.json``, ``squad/dev-v1.1.json``, ``squad/train-v2.0.json``,
``squad/dev-v2.0.json``. An answer whose text is not at its ``answer_start`` in the context,
or a repeated question id, is a bad row. Hub: ``rajpurkar/squad`` and ``rajpurkar/squad_v2``
(id, title, context, question, answers{text, answer_start}).
"""
from __future__ import annotations

from typing import Iterator

from trainer.tasks import squad_format
from trainer.tasks.base import HubSource, SkipCounter, Task


class SquadTask(Task):
    """Any SQuAD-format file, read by squad_format.read_squad; hub rows already match the schema."""

    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        return squad_format.read_squad(path, skips)

    def hub_row(self, row: dict, index: int) -> dict:
        answers = row["answers"]
        return {"id": str(row["id"]), "context": row["context"], "question": row["question"],
                "answers": {"text": list(answers["text"]),
                            "answer_start": [int(s) for s in answers["answer_start"]]}}


SQUAD_V1 = SquadTask(
    name="squad_v1",
    kind="span",
    head="qa",
    metric="f1",
    local={"train": "squad/train-v1.1.json", "validation": "squad/dev-v1.1.json"},
    hub={s: HubSource("rajpurkar/squad", None, s) for s in ("train", "validation")},
    test_split="validation",  # the official test set is hidden; dev is the reported split
    train_size=87_599,
    description="SQuAD v1.1: answer spans in English Wikipedia paragraphs.",
)

SQUAD_V2 = SquadTask(
    name="squad_v2",
    kind="span",
    head="qa_v2",
    metric="f1",
    local={"train": "squad/train-v2.0.json", "validation": "squad/dev-v2.0.json"},
    hub={s: HubSource("rajpurkar/squad_v2", None, s) for s in ("train", "validation")},
    test_split="validation",
    scorer="squad_v2",  # unanswerable questions: an empty prediction is the right answer
    train_size=130_319,
    description="SQuAD v2.0: v1.1 plus unanswerable questions written against the same paragraphs.",
)
