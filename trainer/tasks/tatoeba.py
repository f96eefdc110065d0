"""Tatoeba (Artetxe & Schwenk 2019): find the English translation of each sentence among 1,000
(fewer for some languages) candidates, a retrieval target of XTREME. No training; the score is
the accuracy of nearest-neighbour search over encoder embeddings.

Local layout (LASER's ``data/tatoeba/v1``): ``tatoeba/v1/tatoeba.{xxx}-eng.{xxx}`` and
``tatoeba/v1/tatoeba.{xxx}-eng.eng``, line i of one translating line i of the other, where xxx
is the 3-letter Tatoeba code (``deu``, ``cmn``, ``swh``; formats.ISO3 maps the ISO 639-1 codes
the project uses). Ids are ``{lang}-{i}`` and ``en-{i}`` (0-based line), gold pairs are
line-aligned. One evaluation set: dev and test are the same. Hub: ``google/xtreme`` configs
``tatoeba.{xxx}`` (validation; source_sentence and target_sentence with their line ends).
"""
from __future__ import annotations

import dataclasses

import os

from eval.xtreme import LANGUAGES
from trainer.tasks import formats
from trainer.tasks.base import HubSource, RetrievalTask

Sentences = list[tuple[str, str]]


def aligned(lang: str, src: list[str], trg: list[str]
            ) -> tuple[Sentences, Sentences, list[tuple[str, str]]]:
    s = [(f"{lang}-{i}", t) for i, t in enumerate(src)]
    t = [(f"en-{i}", x) for i, x in enumerate(trg)]
    return s, t, [(a, b) for (a, _), (b, _) in zip(s, t)]


class TatoebaTask(RetrievalTask):
    def local_path(self, root: str, split: str, lang: str) -> str:
        if split not in self.local:
            raise FileNotFoundError(f"task {self.name} has no local file layout for split {split!r}")
        return os.path.join(root, self.local[split].format(lang=formats.to_iso3(lang)))

    def read_pairs(self, root: str, split: str, lang: str
                   ) -> tuple[Sentences, Sentences, list[tuple[str, str]]]:
        self.check_language(lang)
        base = self.local_path(root, split, lang)
        src, trg = formats.read_parallel(f"{base}.{formats.to_iso3(lang)}", f"{base}.eng")
        return aligned(lang, src, trg)

    def pairs_from_hub(self, split: str, lang: str
                       ) -> tuple[Sentences, Sentences, list[tuple[str, str]]]:
        src = self.hub[split]
        rows = list(formats.hub_rows(HubSource(src.path, src.config.format(lang=formats.to_iso3(lang)),
                                               src.split), split, lang))
        # the hub copy keeps each line's "\n"
        return aligned(lang, [r["source_sentence"].rstrip("\n") for r in rows],
                       [r["target_sentence"].rstrip("\n") for r in rows])


TATOEBA = TatoebaTask(
    name="tatoeba",
    kind="retrieval",
    head="retrieval",
    metric="accuracy",
    languages=LANGUAGES["tatoeba"],
    local={"test": "tatoeba/v1/tatoeba.{lang}-eng"},
    hub={"test": HubSource("google/xtreme", "tatoeba.{lang}", "validation")},
    dev_split="test",  # a single evaluation set
    chance=0.1,  # one right answer among 1,000 candidates
    description="Tatoeba: nearest-neighbour translation retrieval, up to 1,000 pairs per language.",
)

TATOEBA_R = dataclasses.replace(TATOEBA, name="tatoeba_r", languages=LANGUAGES["tatoeba_r"],
                                target_scored_with="squad_v1",
                                target_source="XTREME-R run_tatoeba.sh: the SQuAD v1.1 fine-tuned model",
                                description="Tatoeba on the XTREME-R language list (41 languages).")
