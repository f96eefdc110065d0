"""XQuAD (Artetxe et al. 2020): 1,190 SQuAD v1.1 dev questions professionally translated into
10 languages, a zero-shot QA target.

Fine-tunes on English SQuAD v1.1 (87,599 questions) in the training group "squad_v1", which
it shares with MLQA: one fine-tuning run serves both. Shares the span head "qa". XQuAD has a
single evaluation set, so its dev and test split are the same file.
Local layout: ``squad/train-v1.1.json`` and ``xquad/xquad.{lang}.json`` (SQuAD format).
Hub: ``rajpurkar/squad`` (train) and ``google/xtreme`` configs ``XQuAD.{lang}`` (validation).
"""
from __future__ import annotations

import dataclasses

from eval.xtreme import LANGUAGES
from trainer.tasks.base import HubSource
from trainer.tasks.squad import SquadTask

XQUAD = SquadTask(
    name="xquad",
    target_epochs=2.0, target_batch=16, target_source="jiant X-STILTs d_write_configs.sh (4 x 4 accumulation for QA)",
    kind="span",
    head="qa",
    metric="f1",
    languages=LANGUAGES["xquad"],
    local={"train": "squad/train-v1.1.json", "validation": "xquad/xquad.{lang}.json"},
    hub={"train": HubSource("rajpurkar/squad", None, "train"),
         "validation": HubSource("google/xtreme", "XQuAD.{lang}", "validation")},
    test_split="validation",  # one evaluation set
    train_group="squad_v1",
    train_size=87_599,
    selection="squad_v1",  # XQuAD's only set is the reported one: select on SQuAD v1.1 dev
    description="XQuAD: SQuAD v1.1 dev paragraphs and questions in 11 languages.",
)

XQUAD_R = dataclasses.replace(XQUAD, name="xquad_r", languages=LANGUAGES["xquad_r"],
                              description="XQuAD on the XTREME-R language list (12 languages, with Romanian).")
