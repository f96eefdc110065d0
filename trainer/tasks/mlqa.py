"""MLQA (Lewis et al. 2020): extractive QA in 7 languages, a zero-shot target, and its
cross-lingual G-XLT matrix as a second, opt-in task.

Both fine-tune on English SQuAD v1.1 in the training group "squad_v1" (shared with XQuAD) and
use the span head "qa". Scoring uses MLQA's own answer normalisation (scorer "mlqa").

Language codes. ``mlqa`` is the XTREME task: one ISO code per language, context and question
in that language (``de`` = dev-context-de-question-de.json). ``mlqa_gxlt`` holds every
context/question pair, named ``{context}-{question}`` in the order of the released file names
and of the hub configs: ``de-en`` = German context, English question
(``dev-context-de-question-en.json``, ``google/xtreme`` config ``MLQA.de.en``). It includes the
diagonal (``de-de``) so its results form the full 7x7 matrix; it is kept out of ``mlqa`` so the
XTREME language list and averages stay exact.
"""
from __future__ import annotations

import os
from typing import Iterator

from eval.xtreme import LANGUAGES
from trainer.tasks import formats
from trainer.tasks.base import HubSource
from trainer.tasks.squad import SquadTask

_DIR = "mlqa/MLQA_V1/{folder}/{folder}-context-{context}-question-{question}.json"


def pair_of(lang: str) -> tuple[str, str]:
    """(context language, question language) of a language code: ``de`` or ``de-en``."""
    context, _, question = lang.partition("-")
    return context, question or context


class MLQATask(SquadTask):
    def local_path(self, root: str, split: str, lang: str) -> str:
        if split == self.train_split:
            return super().local_path(root, split, lang)
        if split not in self.local:
            raise FileNotFoundError(f"task {self.name} has no local file layout for split {split!r}")
        context, question = pair_of(lang)
        return os.path.join(root, self.local[split].format(context=context, question=question))

    def from_hub(self, split: str, lang: str) -> Iterator[dict]:
        src = self.hub[split]
        if split != self.train_split:
            context, question = pair_of(lang)
            src = HubSource(src.path, src.config.format(context=context, question=question), src.split)
        for i, row in enumerate(formats.hub_rows(src, split, lang)):
            yield self.hub_row(row, i)


def _mlqa(name: str, languages: tuple[str, ...], description: str) -> MLQATask:
    return MLQATask(
        name=name,
        kind="span",
        head="qa",
        metric="f1",
        languages=languages,
        local={"train": "squad/train-v1.1.json",
               "validation": _DIR.replace("{folder}", "dev"),
               "test": _DIR.replace("{folder}", "test")},
        hub={"train": HubSource("rajpurkar/squad", None, "train"),
             "validation": HubSource("google/xtreme", "MLQA.{context}.{question}", "validation"),
             "test": HubSource("google/xtreme", "MLQA.{context}.{question}", "test")},
        train_group="squad_v1",
        train_size=87_599,
        scorer="mlqa",
        description=description,
        target_epochs=2.0, target_batch=16,
        target_source="jiant X-STILTs d_write_configs.sh (4 x 4 accumulation for QA)",
    )


MLQA = _mlqa("mlqa", LANGUAGES["mlqa"],
             "MLQA: Wikipedia QA with context and question in the same one of 7 languages.")
MLQA_GXLT = _mlqa("mlqa_gxlt", tuple(f"{c}-{q}" for c in LANGUAGES["mlqa"] for q in LANGUAGES["mlqa"]),
                  "MLQA G-XLT: every context-language/question-language pair ({context}-{question}).")
