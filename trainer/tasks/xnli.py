"""XNLI (Conneau et al. 2018): NLI in 15 languages, a zero-shot XTREME target.

Trains on English MNLI (392,702 pairs) and shares the "nli" head and label order with MNLI and
ANLI+ (mnli.py), so an intermediate NLI head carries over. Evaluated on the XNLI dev/test pairs
of every language.

Local layout (XTREME's processed files): ``xnli/train-en.tsv`` (MNLI from XNLI-MT, whose
"contradictory" is read as contradiction), ``xnli/dev-{lang}.tsv`` with premise\\thypothesis\\tlabel
and ``xnli/test-{lang}.tsv`` with two columns (labels withheld -> -1). The original XNLI-1.0
TSV (header with a ``language`` column) is also accepted; rows of other languages are skipped.
Rows are split on "\\n" only: some premises hold U+2028 or \\x1c, which ``str.splitlines`` breaks.
Hub: ``google/xtreme`` config ``XNLI`` (all languages in one split, filtered by ``language``);
training rows from ``nyu-mll/multi_nli``.
"""
from __future__ import annotations

from typing import Iterator

from eval.xtreme import LANGUAGES
from trainer.tasks import formats
from trainer.tasks.base import HubSource
from trainer.tasks.mnli import NLI_LABELS, NLITask, nli_hub_row


class XNLITask(NLITask):
    def from_hub(self, split: str, lang: str) -> Iterator[dict]:
        src = self.hub[split]
        rows = formats.hub_rows(src, split, lang)
        if src.path == "google/xtreme":  # one split holds every language
            rows = (r for r in rows if r["language"] == lang)
        for i, row in enumerate(rows):
            yield nli_hub_row(row, i, prefix=f"{split}-{lang}-")


XNLI = XNLITask(
    name="xnli",
    target_epochs=2.0, target_source="jiant X-STILTs d_write_configs.sh",
    kind="classification",
    head="nli",
    metric="accuracy",
    languages=LANGUAGES["xnli"],
    labels=NLI_LABELS,
    local={"train": "xnli/train-{lang}.tsv", "validation": "xnli/dev-{lang}.tsv",
           "test": "xnli/test-{lang}.tsv"},
    hub={"train": HubSource("nyu-mll/multi_nli", None, "train"),
         "validation": HubSource("google/xtreme", "XNLI", "validation"),
         "test": HubSource("google/xtreme", "XNLI", "test")},
    chance=100 / 3,
    train_size=392_702,
    description="XNLI: MNLI-style NLI dev/test pairs translated into 14 languages plus English.",
)
