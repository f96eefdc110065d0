"""PAN-X (WikiANN named entities, Pan et al. 2017, XTREME split of Rahimi et al. 2019): a
zero-shot target.

Trains on English (20,000 sentences), evaluated on every XTREME PAN-X language with the span
F1 of seqeval. Its own "panx" head: BIO tags over PER, ORG and LOC, in the hub's class order.
Local layout: XTREME's processed files ``panx/{train,dev,test}-{lang}.tsv``, token\\ttag per
line with a blank line between sentences; test files hold tokens only (tags withheld -> []).
Hub: ``google/xtreme`` configs ``PAN-X.{lang}`` (tokens, ner_tags as class indices, langs).

``panx_r`` is the same task on XTREME-R's language list (the XTREME 40 plus qu, pl, uk, az, lt,
pa, gu, ro), read from the same local layout; on the hub it reads ``unimelb-nlp/wikiann``,
which holds every WikiANN language in the same (Rahimi et al.) splits and tag set. It shares
the head and the English fine-tuning run with ``panx`` (same training group).
"""
from __future__ import annotations

import dataclasses
from typing import Iterator

from eval.xtreme import LANGUAGES
from trainer.tasks import formats
from trainer.tasks.base import HubSource, SkipCounter, Task

TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")


class PANXTask(Task):
    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        rows = ((n, f"{split}-{lang}-{i}", toks, tags) for i, (n, toks, tags)
                in enumerate(formats.read_conll(path, skips)))
        return formats.tagging_examples(rows, self.labels, path, skips)

    def from_hub(self, split: str, lang: str) -> Iterator[dict]:
        src = self.hub[split]
        rows = formats.hub_tag_rows(src, split, src.config.format(lang=lang), "tokens", "ner_tags")
        for i, (tokens, tags) in enumerate(rows):
            yield {"id": f"{split}-{lang}-{i}", "tokens": tokens, "tags": tags}


PANX = PANXTask(
    name="panx",
    target_epochs=10.0, target_source="jiant X-STILTs d_write_configs.sh; XTREME(-R) train_panx.sh: 10",
    kind="tagging",
    head="panx",
    metric="f1",
    languages=LANGUAGES["panx"],
    labels=TAGS,
    local={"train": "panx/train-{lang}.tsv", "validation": "panx/dev-{lang}.tsv",
           "test": "panx/test-{lang}.tsv"},
    hub={s: HubSource("google/xtreme", "PAN-X.{lang}", s) for s in ("train", "validation", "test")},
    train_size=20_000,
    description="PAN-X: WikiANN named entities (PER, ORG, LOC) in BIO tags.",
)

PANX_R = dataclasses.replace(
    PANX, name="panx_r", languages=LANGUAGES["panx_r"], train_group="panx",
    hub={s: HubSource("unimelb-nlp/wikiann", "{lang}", s) for s in ("train", "validation", "test")},
    description="WikiANN NER on the XTREME-R language list (48 languages).")
