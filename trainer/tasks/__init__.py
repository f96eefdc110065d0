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

The demo's generated suite (synth_*: English intermediate tasks of each head kind, targets in
en/de/fr/sw) is listed in trainer/tasks/synth.py.
"""
from __future__ import annotations

from trainer.tasks.anli import ANLI_PLUS
from trainer.tasks.base import Task
from trainer.tasks.bucc2018 import BUCC2018
from trainer.tasks.ccg import CCG
from trainer.tasks.commonsenseqa import COMMONSENSEQA
from trainer.tasks.cosmosqa import COSMOSQA
from trainer.tasks.hellaswag import HELLASWAG
from trainer.tasks.mlqa import MLQA, MLQA_GXLT
from trainer.tasks.mnli import MNLI
from trainer.tasks.panx import PANX
from trainer.tasks.pawsx import PAWSX
from trainer.tasks.qqp import QQP
from trainer.tasks.squad import SQUAD_V1, SQUAD_V2
from trainer.tasks.sst2 import SST2
from trainer.tasks.synth import SYNTH_TASKS
from trainer.tasks.tatoeba import TATOEBA
from trainer.tasks.tydiqa import TYDIQA
from trainer.tasks.udpos import UDPOS
from trainer.tasks.xnli import XNLI
from trainer.tasks.xquad import XQUAD

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
    # XTREME targets
    "xnli": XNLI,
    "pawsx": PAWSX,
    "udpos": UDPOS,
    "panx": PANX,
    "xquad": XQUAD,
    "mlqa": MLQA,
    "mlqa_gxlt": MLQA_GXLT,
    "tydiqa": TYDIQA,
    "bucc2018": BUCC2018,
    "tatoeba": TATOEBA,
    # the generated multilingual suite of the embedded demo (trainer/synthetic.py)
    **SYNTH_TASKS,
}


class UnknownTask(KeyError):
    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTask(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None
