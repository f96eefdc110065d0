"""ANLI+ : SNLI + MNLI + ANLI rounds 1-3 as one NLI task with one head (Phang et al. 2020).

The combination is a multi-source spec, ``PARTS``: per split, the component data sets in a
fixed order, each with its released file (relative to the data root) and its hub source.
Reading a split reads every part in order; ids are ``<part>/<the part's own id>`` so they stay
unique across parts. Labels are the shared NLI order (mnli.NLI_LABELS; ANLI's e/n/c map onto it).
Pairs without a gold label (SNLI "-", hub label -1 in SNLI) are left out, as is usual.

Local layout: ``local_path`` checks that every part of the split exists and returns the first;
``read_local`` given that path reads all parts from the same root. Any other single NLI file
(e.g. the ANLI annotation CSV ``anli/ANLI_analysis_r1_dev.csv``) is read on its own.
Dev and test are the three ANLI rounds (SNLI and MNLI have their own dev sets elsewhere).

train_size 1,104,934 = SNLI 549,367 (550,152 rows less 785 without gold label)
                       + MNLI 392,702 + ANLI 162,865 (R1 16,946 + R2 45,460 + R3 100,459).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterator

from trainer.tasks import formats
from trainer.tasks.base import HubSource, SkipCounter
from trainer.tasks.mnli import NLI_LABELS, NLITask, nli_hub_row, read_nli_file


@dataclass(frozen=True)
class Part:
    name: str  # id prefix
    local: str  # released file, relative to the data root
    hub: HubSource


def _anli_rounds(split: str) -> tuple[Part, ...]:
    return tuple(Part(f"anli_r{r}", f"anli_v1.0/R{r}/{split}.jsonl",
                      HubSource("facebook/anli", None, f"{split}_r{r}")) for r in (1, 2, 3))


PARTS: dict[str, tuple[Part, ...]] = {
    "train": (Part("snli", "snli_1.0/snli_1.0_train.jsonl", HubSource("stanfordnlp/snli", None, "train")),
              Part("mnli", "multinli_1.0/multinli_1.0_train.jsonl",
                   HubSource("nyu-mll/multi_nli", None, "train")))
    + _anli_rounds("train"),
    "validation": _anli_rounds("dev"),
    "test": _anli_rounds("test"),
}


@dataclass
class MultiSourceNLITask(NLITask):
    parts: dict[str, tuple[Part, ...]] = field(default_factory=dict)

    def local_path(self, root: str, split: str, lang: str) -> str:
        if split not in self.parts:
            return super().local_path(root, split, lang)
        paths = [os.path.join(root, p.local) for p in self.parts[split]]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(
                f"task {self.name}: the {split} split combines {len(paths)} files under {root}; "
                f"missing: {', '.join(missing)} (layout: "
                f"{', '.join(p.local for p in self.parts[split])})")
        return paths[0]

    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        parts = self.parts.get(split, ())
        if parts and path.endswith(parts[0].local):
            root = path[: len(path) - len(parts[0].local)]
            for part in parts:
                yield from read_nli_file(self, os.path.join(root, part.local), split, lang, skips,
                                         prefix=f"{part.name}/")
        else:
            yield from read_nli_file(self, path, split, lang, skips)

    def from_hub(self, split: str, lang: str) -> Iterator[dict]:
        for part in self.parts.get(split, ()):
            for i, row in enumerate(formats.hub_rows(part.hub, split, lang)):
                ex = nli_hub_row(row, i, prefix=f"{part.name}/")
                if part.name == "snli" and ex["label"] < 0:
                    continue  # SNLI marks pairs without a gold label with -1
                yield ex


ANLI_PLUS = MultiSourceNLITask(
    name="anli_plus",
    kind="classification",
    head="nli",
    metric="accuracy",
    labels=NLI_LABELS,
    parts=PARTS,
    local={s: ps[0].local for s, ps in PARTS.items()},
    hub={s: ps[0].hub for s, ps in PARTS.items()},
    chance=100 / 3,
    train_size=1_104_934,
    description="ANLI+: SNLI, MNLI and adversarial NLI rounds 1-3 combined, one NLI head.",
)
