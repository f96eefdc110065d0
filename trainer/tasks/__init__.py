"""The task registry: every task the trainer knows, in one explicit dict.

Intermediate tasks (English; train_size = full training set, the sampler's weight):

  task           kind             head           train_size  data
  anli_plus      classification   nli             1,104,934  SNLI + MNLI + ANLI R1-R3
  mnli           classification   nli               392,702  MultiNLI
  qqp            classification   qqp               363,846  GLUE QQP
  sst2           classification   sst2               67,349  GLUE SST-2
  squad_v2       span             qa_v2             130,319  SQuAD 2.0
  squad_v1       span             qa                 87,599  SQuAD 1.1
  hellaswag      multiple_choice  hellaswag          39,905  HellaSwag
  ccg            tagging          ccg                39,604  CCGbank 02-21 (licensed, local only)
  cosmosqa       multiple_choice  cosmosqa           25,262  CosmosQA
  commonsenseqa  multiple_choice  commonsenseqa       9,741  CommonsenseQA

XTREME targets (zero-shot: trained on English, languages from eval.xtreme.LANGUAGES):

  task       kind            head       train_size  English training data (train_group)
  xnli       classification  nli           392,702  MNLI (xnli)
  pawsx      classification  pawsx          49,401  PAWS-Wiki (pawsx)
  udpos      tagging         udpos          21,253  UD v2.5 English treebanks (udpos)
  panx       tagging         panx           20,000  WikiANN English (panx)
  xquad      span            qa             87,599  SQuAD 1.1 (squad_v1)
  mlqa       span            qa             87,599  SQuAD 1.1 (squad_v1)
  mlqa_gxlt  span            qa             87,599  SQuAD 1.1 (squad_v1); all 7x7 context-question pairs
  tydiqa     span            qa              3,696  TyDiQA-GoldP English (tydiqa)
  bucc2018   retrieval       -                   -  none (sentence embeddings)
  tatoeba    retrieval       -                   -  none (sentence embeddings)

Multilingual MLM co-training: ``mlm`` (kind mlm, head mlm) reads a user-given text corpus
(trainer/tasks/mlm.py). Any trainable task also exists as ``TASK@LANG``, trained on translated or
native ``LANG`` data from local files (Task.in_language: ``xnli@de`` reads ``xnli/train-de.tsv``,
``mnli@de`` XNLI-MT's German MNLI; data.train_files points a variant at other files).

XTREME-R targets (eval.xtreme.XTREME_R_CATEGORIES; xnli, mlqa and tydiqa as above):

  task       kind             head       train_size  English training data (train_group)
  xcopa      multiple_choice  copa              400  COPA (xcopa); siqa (33,410) shares its head
  udpos_r    tagging          udpos          21,253  as udpos (udpos), XTREME-R languages
  panx_r     tagging          panx           20,000  as panx (panx), XTREME-R languages
  xquad_r    span             qa             87,599  as xquad (squad_v1), XTREME-R languages
  tatoeba_r  retrieval        -                   -  as tatoeba, XTREME-R languages
  lareqa     retrieval        lareqa         87,599  SQuAD 1.1 question -> answer sentence pairs
                                                     (a dual encoder; mAP@20 over an 11-language pool)
  mewslix    retrieval        mewslix             -  Wikipedia mention -> entity pairs (a dual
                                                     encoder; mAP@20 over a multilingual pool)
  squad_r, mewslix_wiki: their English dev sets as retrieval (checkpoint selection)

The demo's generated suite (synth_*: English intermediate tasks of each head kind, targets in
en/de/fr/sw) is listed in trainer/tasks/synth.py.
"""
from __future__ import annotations

from trainer.errors import UnknownTask
from trainer.tasks.anli import ANLI_PLUS
from trainer.tasks.base import Task
from trainer.tasks.bucc2018 import BUCC2018
from trainer.tasks.ccg import CCG
from trainer.tasks.commonsenseqa import COMMONSENSEQA
from trainer.tasks.cosmosqa import COSMOSQA
from trainer.tasks.hellaswag import HELLASWAG
from trainer.tasks.lareqa import LAREQA, SQUAD_R
from trainer.tasks.mewslix import MEWSLIX, MEWSLIX_WIKI
from trainer.tasks.mlm import MLM
from trainer.tasks.mlqa import MLQA, MLQA_GXLT
from trainer.tasks.mnli import MNLI
from trainer.tasks.panx import PANX, PANX_R
from trainer.tasks.pawsx import PAWSX
from trainer.tasks.qqp import QQP
from trainer.tasks.siqa import SIQA
from trainer.tasks.squad import SQUAD_V1, SQUAD_V2
from trainer.tasks.sst2 import SST2
from trainer.tasks.synth import SYNTH_TASKS
from trainer.tasks.tatoeba import TATOEBA, TATOEBA_R
from trainer.tasks.tydiqa import TYDIQA
from trainer.tasks.udpos import UDPOS, UDPOS_R
from trainer.tasks.xcopa import XCOPA
from trainer.tasks.xnli import XNLI
from trainer.tasks.xquad import XQUAD, XQUAD_R

TASKS: dict[str, Task] = {
    # intermediate tasks
    "anli_plus": ANLI_PLUS,
    "mnli": MNLI,
    "qqp": QQP,
    "sst2": SST2,
    "squad_v1": SQUAD_V1,
    "squad_v2": SQUAD_V2,
    "hellaswag": HELLASWAG,
    "cosmosqa": COSMOSQA,
    "commonsenseqa": COMMONSENSEQA,
    "ccg": CCG,
    # multilingual MLM on a user-given corpus, co-trained at a set rate (sampler.fixed)
    "mlm": MLM,
    # XTREME targets
    "xnli": XNLI,
    "pawsx": PAWSX,
    "udpos": UDPOS,
    "panx": PANX,
    "xquad": XQUAD,
    "xquad_r": XQUAD_R,
    "mlqa": MLQA,
    "mlqa_gxlt": MLQA_GXLT,
    "tydiqa": TYDIQA,
    "bucc2018": BUCC2018,
    "tatoeba": TATOEBA,
    "tatoeba_r": TATOEBA_R,
    # XTREME-R targets beyond XTREME, and SIQA, the intermediate task of its XCOPA baseline
    "siqa": SIQA,
    "xcopa": XCOPA,
    "udpos_r": UDPOS_R,
    "panx_r": PANX_R,
    "lareqa": LAREQA,
    "mewslix": MEWSLIX,
    # English dev sets that select LAReQA's and Mewsli-X's checkpoints (they train like them)
    "squad_r": SQUAD_R,
    "mewslix_wiki": MEWSLIX_WIKI,
    # the generated multilingual suite of the embedded demo (trainer/synth/suite.py)
    **SYNTH_TASKS,
}


_VARIANTS: dict[str, Task] = {}


def get_task(name: str) -> Task:
    """A registered task, or ``TASK@LANG``: that task trained on ``LANG`` data (translate-train
    or native; Task.in_language), built once and kept."""
    base, _, lang = name.partition("@")
    try:
        task = TASKS[base]
    except KeyError:
        raise UnknownTask(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))} "
                          f"(TASK@LANG trains TASK on LANG data)") from None
    if not lang:
        return task
    if name not in _VARIANTS:
        try:
            _VARIANTS[name] = task.in_language(lang)
        except (ValueError, FileNotFoundError) as err:
            raise UnknownTask(str(err)) from None
    return _VARIANTS[name]
