"""MLM co-training: multilingual masked-LM on unlabeled text, mixed into intermediate training
at a set rate (``sampler.fixed = {mlm = 0.2}``), so that the encoder keeps modelling the other
languages while it learns English tasks.

The corpus is the user's: plain text, one paragraph per line, any mix of languages.
Local layout: ``mlm/train.txt`` under data.root; ``mlm@de`` reads ``mlm/train-de.txt`` (one
stream per language, each at its own rate). Point it elsewhere with
``data.train_files = {mlm = "/corpora/cc100-sample.txt"}``, or at a hub corpus with
``data.train_files = {mlm = "hub:ID[:CONFIG[:SPLIT]]"}`` (rows' ``text`` column; ``{lang}`` may
appear in CONFIG for ``mlm@lang``). Blank lines are skipped. Texts are cut into blocks of at
most ``data.max_length`` tokens and masked at ``data.mlm_probability`` when batched
(trainer/data/features.py, trainer/data/collate.py); the head scores masked positions only.
There is no evaluation split: the task trains, it is never a target.
"""
from __future__ import annotations

from typing import Iterator

from trainer.tasks import formats
from trainer.tasks.base import SkipCounter, Task

MULTILINGUAL = "mul"  # ISO 639-2 "multiple languages"


class CorpusTask(Task):
    """Unlabeled text for MLM: one example per non-blank line (local) or per hub row."""

    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        for n, line in formats.iter_lines(path, skips):
            if line.strip():
                yield {"id": f"{split}-{lang}-{n}", "text": line}

    def hub_row(self, row: dict, index: int) -> dict:
        if not isinstance(row.get("text"), str):
            raise ValueError(f"task {self.name}: hub rows need a 'text' column, got {sorted(row)}")
        return {"id": str(row.get("id", index)), "text": row["text"]}


MLM = CorpusTask(
    name="mlm",
    kind="mlm",
    head="mlm",
    metric="accuracy",
    scorer="mlm",
    languages=(MULTILINGUAL,),
    train_language=MULTILINGUAL,
    local={"train": "mlm/train.txt"},
    description="Masked-LM co-training on a user-given multilingual text corpus.",
)
