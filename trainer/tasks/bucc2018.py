"""BUCC 2018 (Zweigenbaum et al. 2018): mine translation pairs from comparable corpora, a
retrieval target of XTREME (de, fr, ru, zh to English). No training: the sentences are
embedded by the encoder and pairs above a score threshold are mined (scorer "bucc2018", F1).

Local layout (XTREME's copy of the shared-task files):
``bucc2018/{lang}-en.{dev,test}.{lang}`` and ``.en`` with ``id\\tsentence`` lines, and
``bucc2018/{lang}-en.dev.gold`` with ``src_id\\ttrg_id`` lines. XTREME's test split is the
shared task's training data with its gold pairs withheld, so it has no ``.gold`` file (gold =
[]). Sentence ids (``zh-000000057``) are kept as released. Hub: ``google/xtreme`` configs
``bucc18.{lang}`` hold only the gold-linked sentences, without the distractors that make the
task, so this task reads local files only.
"""
from __future__ import annotations

import os

from eval.xtreme import LANGUAGES
from trainer.tasks import formats
from trainer.tasks.base import DataError, HubSource, RetrievalTask, SkipCounter

Sentences = list[tuple[str, str]]


class BUCCTask(RetrievalTask):
    def read_pairs(self, root: str, split: str, lang: str
                   ) -> tuple[Sentences, Sentences, list[tuple[str, str]]]:
        self.check_language(lang)
        base = self.local_path(root, split, lang)
        strict = SkipCounter(False)
        src = formats.read_id_sentences(f"{base}.{lang}", strict)
        trg = formats.read_id_sentences(f"{base}.en", strict)
        gold_path = f"{base}.gold"
        gold = read_gold(gold_path, {i for i, _ in src}, {i for i, _ in trg}) \
            if os.path.isfile(gold_path) else []
        return src, trg, gold


def read_gold(path: str, src_ids: set[str], trg_ids: set[str]) -> list[tuple[str, str]]:
    """Gold pairs; each must name a source and a target sentence that exist."""
    gold = []
    for n, (s, t) in formats.read_rows(path, SkipCounter(False), widths=(2,)):
        if s not in src_ids or t not in trg_ids:
            raise DataError(path, n, f"gold pair ({s}, {t}) names a sentence not in the corpus")
        gold.append((s, t))
    return gold


BUCC2018 = BUCCTask(
    name="bucc2018",
    kind="retrieval",
    head="retrieval",
    metric="f1",
    languages=LANGUAGES["bucc2018"],
    local={"validation": "bucc2018/{lang}-en.dev", "test": "bucc2018/{lang}-en.test"},
    hub={"validation": HubSource("google/xtreme", "bucc18.{lang}", "validation"),
         "test": HubSource("google/xtreme", "bucc18.{lang}", "test")},
    scorer="bucc2018",
    description="BUCC 2018: parallel sentence mining between comparable corpora (X-English).",
)
