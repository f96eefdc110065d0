"""UD-POS (Universal Dependencies v2.5 part-of-speech tagging, as in XTREME): a zero-shot target.

Trains on the English treebanks (21,253 sentences), evaluated on every XTREME UD language. Its
own "udpos" head: the 17 UPOS tags. Local formats, chosen by file name:
  ``udpos/{train,dev,test}-{lang}.tsv``  XTREME's processed files, token\\tUPOS per line, a blank
                                         line between sentences; test files hold tokens only
                                         (tags withheld -> [])
  ``*.conllu``                           original UD treebanks: comment lines, multiword-token
                                         ids (``1-2``) and empty nodes (``1.1``) are skipped
Hub: ``google/xtreme`` configs ``udpos.<English language name>`` (``udpos.German``): tokens and
pos_tags (class indices, named through the split's own features).

``udpos_r`` is the same task on XTREME-R's language list (plus lt, pl, uk, wo, ro, read from
the same local layout; the hub copy has XTREME's languages only). It shares the head and the
English fine-tuning run with ``udpos`` (same training group).
"""
from __future__ import annotations

import dataclasses
from typing import Iterator

from eval.xtreme import LANGUAGES
from trainer.tasks import formats
from trainer.tasks.base import HubSource, SkipCounter, Task

UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
        "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X")
# google/xtreme names its UD configs by English language name
UD_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian",
    "id": "Indonesian", "it": "Italian", "ja": "Japanese", "kk": "Kazakh", "ko": "Korean",
    "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian", "ta": "Tamil",
    "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu",
    "vi": "Vietnamese", "yo": "Yoruba", "zh": "Chinese",
}


class UDPOSTask(Task):
    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        if path.lower().endswith(".conllu"):
            rows = ((n, sid or f"{split}-{lang}-{i}", toks, tags) for i, (n, sid, toks, tags)
                    in enumerate(formats.read_conllu(path, skips)))
        else:
            rows = ((n, f"{split}-{lang}-{i}", toks, tags) for i, (n, toks, tags)
                    in enumerate(formats.read_conll(path, skips)))
        return formats.tagging_examples(rows, self.labels, path, skips)

    def from_hub(self, split: str, lang: str) -> Iterator[dict]:
        if lang not in UD_NAMES:
            raise ValueError(f"task {self.name}: google/xtreme has no udpos config for {lang!r}")
        src = self.hub[split]
        rows = formats.hub_tag_rows(src, split, f"udpos.{UD_NAMES[lang]}", "tokens", "pos_tags")
        for i, (tokens, tags) in enumerate(rows):
            yield {"id": f"{split}-{lang}-{i}", "tokens": tokens, "tags": tags}


UDPOS = UDPOSTask(
    name="udpos",
    target_epochs=10.0, target_source="jiant X-STILTs d_write_configs.sh; XTREME(-R) train_udpos.sh: 10",
    kind="tagging",
    head="udpos",
    metric="f1",
    languages=LANGUAGES["udpos"],
    labels=UPOS,
    local={"train": "udpos/train-{lang}.tsv", "validation": "udpos/dev-{lang}.tsv",
           "test": "udpos/test-{lang}.tsv"},
    hub={s: HubSource("google/xtreme", "udpos.{lang}", s) for s in ("train", "validation", "test")},
    chance=100 / len(UPOS),
    train_size=21_253,
    description="UD-POS: universal part-of-speech tags over UD v2.5 treebanks.",
)

UDPOS_R = dataclasses.replace(UDPOS, name="udpos_r", languages=LANGUAGES["udpos_r"],
                              train_group="udpos",
                              description="UD-POS on the XTREME-R language list (38 languages).")
