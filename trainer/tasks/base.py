"""The Task type: what one task file declares, and the example schema of each head kind.

A task file owns its data sources (a datasets hub id and the released on-disk format), the
schema it maps them to, its head kind and head name, its languages and its metric. Tasks do
not tokenize: featurization is per head kind (trainer/data/features.py), so a new task is only a
reader plus metadata.

Canonical example schemas, one per head kind (every reader yields dicts of exactly this shape):

  classification   {"id": str, "text_a": str, "text_b": str ("" for single sentences),
                    "label": int (index into Task.labels; -1 where the file withholds it)}
  multiple_choice  {"id": str, "context": str, "question": str, "choices": list[str],
                    "label": int (-1 where withheld)}
  span             {"id": str, "context": str, "question": str,
                    "answers": {"text": list[str], "answer_start": list[int]}}
                    (empty lists where withheld or unanswerable)
  tagging          {"id": str, "tokens": list[str], "tags": list[str]} (tags = [] where withheld)
  mlm              {"id": str, "text": str}
  retrieval        scoring: see RetrievalTask.read_pairs; training (a dual encoder, where the
                   task has a training split): {"id": str, "query": str, "candidate": str}
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from eval.metrics import score_task
from trainer.errors import DataError

HEAD_KINDS = ("classification", "multiple_choice", "span", "tagging", "mlm", "retrieval")
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]+)*")  # de, fil, zh-Hans, de-en
DEFAULT_SCORER = {"classification": "accuracy", "multiple_choice": "accuracy", "span": "squad",
                  "tagging": "seqeval", "mlm": "mlm", "retrieval": "tatoeba"}


class SkipCounter:
    """Counts rows skipped on purpose (data.skip_bad_rows = true); nothing is dropped silently.

    Readers call ``handle(err)`` for every bad row: it raises unless skipping was asked for,
    in which case the row is counted (and the first few messages kept for the log).
    """

    def __init__(self, skip: bool = False, keep: int = 5):
        self.skip, self.keep = skip, keep
        self.count = 0
        self.examples: list[str] = []

    def handle(self, err: DataError) -> None:
        if not self.skip:
            raise err
        self.count += 1
        if len(self.examples) < self.keep:
            self.examples.append(str(err))


@dataclass(frozen=True)
class HubSource:
    """Where a split lives on the datasets hub. ``config`` and ``split`` may hold ``{lang}``."""

    path: str
    config: str | None = None
    split: str = "{split}"


@dataclass
class Task:
    """One task: sources, schema, head, languages and metric.

    Subclasses override ``read_local`` (the released format) and, where the hub layout
    differs from the canonical schema, ``from_hub``.
    """

    name: str
    kind: str  # one of HEAD_KINDS
    head: str  # head instance name; tasks that share a head share its weights (mnli, xnli)
    metric: str  # main metric, named as the official XTREME scorer names it
    languages: tuple[str, ...] = ("en",)
    labels: tuple[str, ...] = ()  # class labels, tag set, or () for span/mlm
    num_choices: int = 0  # multiple_choice only
    # split -> path pattern relative to data.root, may contain {lang} and {split}
    local: dict[str, str] = field(default_factory=dict)
    hub: dict[str, HubSource] = field(default_factory=dict)  # split -> hub source
    train_split: str = "train"
    dev_split: str = "validation"
    test_split: str = "test"
    # Target tasks that fine-tune on the same English data share one fine-tuning run
    # (xquad and mlqa both train on SQuAD v1.1): they name the same group.
    train_group: str = ""
    train_language: str = "en"  # the language of the training data (zero-shot: English)
    chance: float = 0.0  # the score of a random guess on the main metric, in percent
    train_size: int | None = None  # examples in the full training split (sampler weight)
    # which official scoring routine applies (eval.metrics.score_task); default by kind
    scorer: str = ""
    description: str = ""
    # task whose English dev set selects this task's checkpoints, where the task's own dev set is
    # its reported evaluation set (XQuAD: SQuAD v1.1 dev); empty: its own dev set
    selection: str = ""
    # Training data in another language (translate-train or native), read by ``in_language``:
    # a pattern with {lang} relative to data.root; empty means the train pattern itself where it
    # has {lang} (XTREME's ``xnli/train-{lang}.tsv``), else the train file with "-{lang}" before
    # its extension (``MNLI/train.tsv`` -> ``MNLI/train-de.tsv``).
    translated: str = ""
    # Canonical fields that hold the same text in every language (XCOPA's English prompt):
    # robustness noise leaves them alone.
    fixed_fields: tuple[str, ...] = ()
    # Fine-tuning as a target, as the benchmark's own scripts do it (``target_source`` names
    # them): epochs and global batch of its per-task run (None: the phase's), and the tasks
    # trained first in that run, each ``(task, epochs)`` (XCOPA: SIQA, then COPA). A per-task
    # phase's ``task_epochs`` / ``task_batch`` override them; overriding the targets keeps them.
    target_epochs: float | None = None
    target_batch: int | None = None
    target_lr: float | None = None  # the run's peak learning rate unless the phase sets ``lr``
    target_before: tuple[tuple[str, float], ...] = ()
    # a retrieval task listed among a per-task phase's targets is scored with the export of this
    # training group's run (XTREME-R scores Tatoeba with the SQuAD v1.1 model: squad_v1)
    target_scored_with: str = ""
    target_source: str = ""

    @property
    def trainable(self) -> bool:
        """Whether the task has training data (a retrieval task only where it has a training
        split: LAReQA and Mewsli-X train a dual encoder; BUCC and Tatoeba do not train)."""
        return True

    def __post_init__(self) -> None:
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"task {self.name}: unknown head kind {self.kind!r}")
        if not self.train_group:
            self.train_group = self.name
        if not self.scorer:
            self.scorer = DEFAULT_SCORER[self.kind]

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def label_index(self, value: Any, path: str, line: int) -> int:
        """Map a raw label to its index; an unknown label is a DataError naming file and line."""
        key = str(value).strip()
        try:
            return self.labels.index(key)
        except ValueError:
            raise DataError(path, line, f"unknown label {key!r} for task {self.name} "
                                        f"(expected one of {list(self.labels)})") from None

    def check_language(self, lang: str) -> None:
        if lang not in self.languages and lang != self.train_language:
            raise ValueError(f"task {self.name}: unknown language {lang!r}; "
                             f"known: {', '.join(self.languages)}")

    def translated_pattern(self) -> str:
        """Where ``in_language`` looks for training data in another language (see ``translated``)."""
        if self.translated:
            return self.translated
        train = self.local.get(self.train_split, "")
        if not train:
            raise FileNotFoundError(f"task {self.name} has no local training file to translate")
        if "{lang}" in train:
            return train
        stem, ext = os.path.splitext(train)
        return f"{stem}-{{lang}}{ext}"

    def in_language(self, lang: str) -> "Task":
        """This task trained on ``lang`` data (``mnli@de``): same reader, head, labels and metric,
        training files from ``translated_pattern``. The variant is its own training stream (mix
        it with English by training both) and its own target group in a per-task phase. The hub
        copy is kept only where its training source names a language."""
        if not LANGUAGE_CODE.fullmatch(lang):
            raise ValueError(f"task {self.name}@{lang}: {lang!r} is not a language code")
        if isinstance(self, RetrievalTask):
            raise ValueError(f"task {self.name} is a retrieval task: no {self.name}@{lang} (its "
                             f"training data, if any, is English only)")
        src = self.hub.get(self.train_split)
        keep_hub = src is not None and "{lang}" in f"{src.config}{src.split}"
        hub = {s: h for s, h in self.hub.items() if s != self.train_split or keep_hub}
        return dataclasses.replace(
            self, name=f"{self.name}@{lang}", train_language=lang, hub=hub,
            local={**self.local, self.train_split: self.translated_pattern()},
            train_group=f"{self.train_group}@{lang}",
            description=f"{self.description} Trained on {lang} data.".strip())

    def local_path(self, root: str, split: str, lang: str) -> str:
        if split not in self.local:
            raise FileNotFoundError(f"task {self.name} has no local file layout for split {split!r}")
        return os.path.join(root, self.local[split].format(lang=lang, split=split))

    def read_local(self, path: str, split: str, lang: str,
                   skips: SkipCounter) -> Iterator[dict]:
        """Yield canonical examples from one released file. Bad rows go through ``skips``."""
        raise NotImplementedError(f"task {self.name} has no local reader")

    def from_hub(self, split: str, lang: str) -> Iterator[dict]:
        """Yield canonical examples from the hub source for ``split``/``lang``."""
        import datasets

        src = self.hub.get(split)
        if src is None:
            raise FileNotFoundError(f"task {self.name} has no hub source for split {split!r}")
        ds = datasets.load_dataset(src.path, src.config.format(lang=lang) if src.config else None,
                                   split=src.split.format(split=split, lang=lang))
        for i, row in enumerate(ds):
            yield self.hub_row(row, i)

    def hub_row(self, row: dict, index: int) -> dict:
        """Map one hub row to the canonical schema (identity by default)."""
        return row

    def score(self, predictions: list, references: list, lang: str) -> dict[str, float]:
        """Every metric the official scorer reports for this task, in percent."""
        return score_task(self.scorer, predictions, references, lang)


@dataclass
class RetrievalTask(Task):
    """Retrieval, scored from embeddings: each source sentence (query) against a pool of targets.

    BUCC and Tatoeba do not train: they embed with the encoder's mean-pooled
    ``model.retrieval_layer``. A retrieval task with a training split (LAReQA, Mewsli-X) trains a
    dual encoder as the benchmark does: query and candidate through the same encoder, the first
    token's final state through the head's pooler, L2-normalized; a softmax over the candidates
    of the other pairs in the batch, in groups of ``negatives_group`` rows (XTREME-R: the per-GPU
    batch), so the negatives do not depend on the number of ranks. A model that has a trained
    head for the task embeds with that head, else with the mean-pooled layer; the results record
    which (``embedding``)."""

    # the longest query and candidate (tokens) in training and scoring; 0: data.max_length
    # (data.task_max_length of the task, where given, caps both)
    query_max_length: int = 0
    candidate_max_length: int = 0
    negatives_group: int = 0  # rows per in-batch softmax (0: the whole micro-batch)

    @property
    def trainable(self) -> bool:
        return self.train_split in self.local

    def read_pairs(self, root: str, split: str, lang: str
                   ) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
        """Return (source sentences, target sentences, gold pairs) for ``lang``-English.

        Sentences are (id, text); gold pairs are (source id, target id)."""
        raise NotImplementedError

    def subset(self, src: list, trg: list, gold: list, limit: int) -> tuple[list, list, list]:
        """The first ``limit`` sources with their gold pairs, and the pool (dev selection on a
        subset: ``eval.dev_subset``). The whole pool by default; a task whose pool is made of
        the sources' documents keeps those of the kept sources."""
        keep = {i for i, _ in src[:limit]}
        return src[:limit], trg, [(s, t) for s, t in gold if s in keep]

    def perturb_source(self, root: str, split: str, lang: str, src: list[tuple[str, str]],
                       perturb: Callable[[str, str, str], str]) -> list[tuple[str, str]]:
        """The source sentences under robustness noise: ``perturb(id, field, text)`` on each
        sentence (field "text"). A task that composes its queries from parts perturbs the
        parts instead (Mewsli-X)."""
        return [(i, perturb(i, "text", t)) for i, t in src]


def selection_set(target: RetrievalTask, cls: type, name: str, local: dict[str, str], description: str,
                  **extra) -> RetrievalTask:
    """An English dev set, as a ``cls`` task, that selects the checkpoints of the dual encoder
    ``target``: scored as it is, with its head, lengths and in-batch groups."""
    return cls(name=name, kind="retrieval", head=target.head, metric=target.metric, languages=("en",),
               local=local, test_split="validation", scorer=target.scorer,
               query_max_length=target.query_max_length, candidate_max_length=target.candidate_max_length,
               negatives_group=target.negatives_group, description=description, **extra)


Reader = Callable[[str, str, str, SkipCounter], Iterator[dict]]
