"""TyDiQA-GoldP (Clark et al. 2020): typologically diverse extractive QA given the gold
passage, a zero-shot target in 9 languages.

Unlike XQuAD and MLQA it fine-tunes on its own English training set (3,696 questions), in its
own training group; it shares the span head "qa". XTREME evaluates on the dev set, so dev is
also the test split here. Local layout (XTREME's processed copy):
``tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.en.train.json`` and
``tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.{lang}.dev.json`` (answers blanked -> empty).

Ids: XTREME's preprocessing cut the training ids down to their last "-" field, so they repeat.
The reader keeps the first occurrence of an id as is and renames the k-th repeat ``{id}#{k}``
(k = 2, 3, ... in file order), so the ids are unique and stable; ``original_id`` gives back the
file's id (TyDiQA ids contain no "#"). Hub: ``google/xtreme`` config ``tydiqa`` holds every
language in one split with the original full ids, selected by their language-name prefix.
"""
from __future__ import annotations

from typing import Iterator

from eval.xtreme import LANGUAGES
from trainer.tasks import formats, squad_format
from trainer.tasks.base import HubSource, SkipCounter
from trainer.tasks.squad import SquadTask

# the hub copy's ids start with the language's English name ("english-...")
ID_PREFIX = {"ar": "arabic", "bn": "bengali", "en": "english", "fi": "finnish", "id": "indonesian",
             "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu"}


def original_id(ex_id: str) -> str:
    """The id as written in the file, before repeats were numbered."""
    return ex_id.split("#", 1)[0]


class TyDiQATask(SquadTask):
    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        return squad_format.read_squad(path, skips, unique_ids=True)

    def from_hub(self, split: str, lang: str) -> Iterator[dict]:
        prefix = ID_PREFIX[lang] + "-"
        rows = (r for r in formats.hub_rows(self.hub[split], split, lang) if r["id"].startswith(prefix))
        for i, row in enumerate(rows):
            yield self.hub_row(row, i)


TYDIQA = TyDiQATask(
    name="tydiqa",
    target_epochs=2.0, target_batch=16, target_source="jiant X-STILTs d_write_configs.sh (4 x 4 accumulation for QA)",
    kind="span",
    head="qa",
    metric="f1",
    languages=LANGUAGES["tydiqa"],
    local={"train": "tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.{lang}.train.json",
           "validation": "tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.{lang}.dev.json"},
    hub={s: HubSource("google/xtreme", "tydiqa", s) for s in ("train", "validation")},
    test_split="validation",  # XTREME scores TyDiQA-GoldP on its dev set
    train_size=3_696,
    description="TyDiQA-GoldP: information-seeking questions answered in their gold passage.",
)
