"""PAWS-X (Yang et al. 2019): paraphrase identification in 7 languages, a zero-shot target.

Trains on English PAWS-Wiki (49,401 pairs), evaluated on the human-translated dev/test pairs.
Its own "pawsx" head with labels "0" (not paraphrase) and "1" (paraphrase).
Local formats, told apart by the first line:
  XTREME processed  ``pawsx/{train,dev,test}-{lang}.tsv``: sentence1\\tsentence2\\tlabel, or two
                    columns where the test labels are withheld (-> -1)
  original x-final  ``x-final/{lang}/{dev_2k,test_2k,train}.tsv`` with header
                    ``id\\tsentence1\\tsentence2\\tlabel``; ids come from the file
Rows are split on "\\n" only: sentences may hold U+2028 or \\x1c, which ``str.splitlines`` breaks.
Hub: ``google/xtreme`` configs ``PAWS-X.{lang}`` (sentence1, sentence2, label as a string).
"""
from __future__ import annotations

from typing import Iterator

from eval.xtreme import LANGUAGES
from trainer.tasks import formats
from trainer.tasks.base import DataError, HubSource, SkipCounter, Task


class PAWSXTask(Task):
    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        seen: set[str] = set()
        for count, (n, raw_id, a, b, raw_label) in enumerate(formats.read_pair_tsv(path, skips)):
            ex_id = raw_id if raw_id else f"{split}-{lang}-{count}"
            try:
                if ex_id in seen:
                    raise DataError(path, n, f"duplicate id {ex_id!r}")
                label = -1 if raw_label is None else self.label_index(raw_label, path, n)
            except DataError as err:
                skips.handle(err)
                continue
            seen.add(ex_id)
            yield {"id": ex_id, "text_a": a, "text_b": b, "label": label}

    def hub_row(self, row: dict, index: int) -> dict:
        label = row.get("label")
        return {"id": str(row.get("id", index)), "text_a": row["sentence1"],
                "text_b": row["sentence2"],
                "label": -1 if label in (None, "", -1) else self.labels.index(str(label))}


PAWSX = PAWSXTask(
    name="pawsx",
    target_epochs=5.0, target_source="jiant X-STILTs d_write_configs.sh",
    kind="classification",
    head="pawsx",
    metric="accuracy",
    languages=LANGUAGES["pawsx"],
    labels=("0", "1"),
    local={"train": "pawsx/train-{lang}.tsv", "validation": "pawsx/dev-{lang}.tsv",
           "test": "pawsx/test-{lang}.tsv"},
    hub={s: HubSource("google/xtreme", "PAWS-X.{lang}", s) for s in ("train", "validation", "test")},
    chance=50.0,
    train_size=49_401,
    description="PAWS-X: adversarial paraphrase pairs with high word overlap, 7 languages.",
)
