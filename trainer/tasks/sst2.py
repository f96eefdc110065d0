"""SST-2 (Stanford Sentiment Treebank, GLUE version): binary sentence sentiment, an
intermediate task.

Local layout: GLUE TSVs with a header, ``SST-2/train.tsv`` and ``SST-2/dev.tsv``
(``sentence\\tlabel``) and ``SST-2/test.tsv`` (``index\\tsentence``, labels withheld -> -1).
Sentences are kept as released (GLUE's tokenized, lower-cased text). Hub: ``nyu-mll/glue``
config ``sst2`` (sentence, label, idx; test labels are -1).
"""
from __future__ import annotations

from typing import Iterator

from trainer.tasks import formats
from trainer.tasks.base import DataError, HubSource, SkipCounter, Task


class SST2Task(Task):
    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        for count, (n, row) in enumerate(formats.read_header_tsv(path, skips, ("sentence",))):
            try:
                label = self.label_index(row["label"], path, n) if "label" in row else -1
            except DataError as err:
                skips.handle(err)
                continue
            ex_id = row.get("index") or f"{split}-{count}"
            yield {"id": ex_id, "text_a": row["sentence"], "text_b": "", "label": label}

    def hub_row(self, row: dict, index: int) -> dict:
        return {"id": str(row.get("idx", index)), "text_a": row["sentence"], "text_b": "",
                "label": int(row["label"])}


SST2 = SST2Task(
    name="sst2",
    kind="classification",
    head="sst2",
    metric="accuracy",
    labels=("0", "1"),  # negative, positive: the GLUE file values and hub class indices
    local={"train": "SST-2/train.tsv", "validation": "SST-2/dev.tsv", "test": "SST-2/test.tsv"},
    hub={s: HubSource("nyu-mll/glue", "sst2", s) for s in ("train", "validation", "test")},
    chance=50.0,
    train_size=67_349,
    description="SST-2: binary sentiment of movie-review sentences (GLUE).",
)
