"""MNLI (MultiNLI, Williams et al. 2018): English three-way NLI, an intermediate task.

This file also owns what every NLI task shares, because they share one head ("nli"): the label
order, the label aliases of the released files, and a reader that accepts each released NLI
format. ANLI+ (anli.py) and XNLI (xnli.py) import them, so the three can never disagree.

Local formats, chosen by file name: GLUE TSV with header (``MNLI/train.tsv``, the default
layout), MultiNLI/SNLI/ANLI JSONL (``*.jsonl``), the ANLI annotation CSV (``*.csv``), and XTREME
pair TSV without header. Pairs whose gold label is "-" (no annotator consensus) carry no
training signal and are left out; a missing label column means withheld (-1).
Translated training data (``mnli@de``, Task.in_language): XNLI-MT 1.0's
``XNLI-MT-1.0/multinli/multinli.train.{lang}.tsv`` (header premise, hypo, label).
Hub: ``nyu-mll/multi_nli`` (train, validation_matched), ``nyu-mll/glue`` mnli (test_matched,
labels withheld as -1).
"""
from __future__ import annotations

from typing import Any, Iterator

from trainer.tasks import formats
from trainer.tasks.base import DataError, HubSource, SkipCounter, Task

NLI_LABELS = ("entailment", "neutral", "contradiction")  # the ClassLabel order on the hub
# ANLI writes e/n/c; XNLI-MT's English MNLI copy writes "contradictory"
NLI_ALIASES = {"e": "entailment", "n": "neutral", "c": "contradiction",
               "contradictory": "contradiction"}
NO_GOLD = "-"
_A = ("sentence1", "premise", "context")
_B = ("sentence2", "hypothesis", "statement", "hypo")
_LABEL = ("gold_label", "label")
_ID = ("pairID", "uid", "id", "idx")


def _pick(row: dict, names: tuple[str, ...]) -> Any:
    return next((row[k] for k in names if k in row), None)


def nli_example(task: Task, ex_id: str, a: Any, b: Any, label: Any, path: str,
                line: int | None) -> dict | None:
    """One canonical NLI example; None for a no-consensus pair. Labels may be names, aliases,
    hub class indices, or None (withheld -> -1)."""
    if not isinstance(a, str) or not isinstance(b, str):
        raise DataError(path, line, "missing premise or hypothesis")
    if label is None or label == -1:
        index = -1
    elif isinstance(label, int):
        if not 0 <= label < len(task.labels):
            raise DataError(path, line, f"label index {label} out of range for {task.name}")
        index = label
    elif label.strip() == NO_GOLD:
        return None
    else:
        index = task.label_index(NLI_ALIASES.get(label.strip(), label), path, line or 0)
    return {"id": ex_id, "text_a": a, "text_b": b, "label": index}


def read_nli_file(task: Task, path: str, split: str, lang: str, skips: SkipCounter,
                  prefix: str = "") -> Iterator[dict]:
    """Canonical examples from any released NLI file; ids are ``prefix`` + the file's own id
    (or ``{split}-{lang}-{row}`` where the file has none). A repeated id is a bad row."""
    name = path.lower()
    if name.endswith(".jsonl"):
        rows = formats.read_jsonl(path, skips)
    elif name.endswith(".csv"):
        rows = formats.read_csv(path, skips)
    else:
        rows = _as_dicts(formats.read_pair_tsv(path, skips, lang))
    seen: set[str] = set()
    for count, (n, row) in enumerate(rows):
        raw_id = _pick(row, _ID)
        ex_id = prefix + (str(raw_id) if raw_id not in (None, "") else f"{split}-{lang}-{count}")
        try:
            if ex_id in seen:
                raise DataError(path, n, f"duplicate id {ex_id!r}")
            ex = nli_example(task, ex_id, _pick(row, _A), _pick(row, _B), _pick(row, _LABEL), path, n)
        except DataError as err:
            skips.handle(err)
            continue
        seen.add(ex_id)
        if ex is not None:
            yield ex


def _as_dicts(pairs) -> Iterator[tuple[int, dict]]:
    for n, pid, a, b, label in pairs:
        yield n, {"pairID": pid, "sentence1": a, "sentence2": b, "gold_label": label}


def nli_hub_row(row: dict, index: int, prefix: str = "") -> dict:
    """Hub NLI rows (multi_nli, glue, snli, anli, xtreme XNLI) in the canonical schema."""
    raw_id = _pick(row, _ID)
    label = _pick(row, _LABEL)
    if isinstance(label, str):
        label = NLI_LABELS.index(NLI_ALIASES.get(label, label)) if label not in ("", NO_GOLD) else -1
    return {"id": prefix + str(raw_id if raw_id is not None else index),
            "text_a": _pick(row, _A), "text_b": _pick(row, _B), "label": int(label)}


class NLITask(Task):
    """Shared behaviour of the NLI tasks: any released NLI file, hub rows by column name."""

    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        return read_nli_file(self, path, split, lang, skips)

    def hub_row(self, row: dict, index: int) -> dict:
        return nli_hub_row(row, index)


MNLI = NLITask(
    name="mnli",
    kind="classification",
    head="nli",
    metric="accuracy",
    labels=NLI_LABELS,
    local={"train": "MNLI/train.tsv", "validation": "MNLI/dev_matched.tsv",
           "test": "MNLI/test_matched.tsv"},
    hub={"train": HubSource("nyu-mll/multi_nli", None, "train"),
         "validation": HubSource("nyu-mll/multi_nli", None, "validation_matched"),
         "test": HubSource("nyu-mll/glue", "mnli", "test_matched")},
    chance=100 / 3,
    train_size=392_702,
    description="MultiNLI: premise/hypothesis entailment over ten genres (matched dev).",
    # mnli@de: the machine-translated MNLI training set released with XNLI (XNLI-MT 1.0)
    translated="XNLI-MT-1.0/multinli/multinli.train.{lang}.tsv",
)
