"""What an attack reads from the model and what it returns: the outcome of one query, ready-made
outcomes per head kind, the record of one attacked example, the per (task, language) summary
and the JSONL file of adversarial examples.

An outcome is (loss, correct, prediction): the loss is what the attack raises (higher = worse
for the model), ``correct`` says whether the prediction counts as right, and a flip is an
example that was right before the attack and is wrong after it. The helpers below define both
per head kind, so every caller attacks the same objective:
  classification, multiple choice  cross-entropy of the gold label; right = the arg-max is gold
  span (QA)   1 - F1 of the predicted span against the best gold answer (plus an optional tie
              break, e.g. a small multiple of the gold span's negative log-likelihood, so that
              candidates with equal F1 still rank); right = F1 >= ``min_f1``
  tagging     mean cross-entropy of the gold tags over the words; right = every tag right
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from eval.metrics import squad_f1


@dataclass(frozen=True)
class Outcome:
    """The model on one candidate example."""

    loss: float
    correct: bool
    prediction: Any = None


def as_outcome(value: Any) -> Outcome:
    """An :class:`Outcome` from an Outcome or a ``(loss, correct[, prediction])`` tuple."""
    if not isinstance(value, Outcome):
        if not isinstance(value, (tuple, list)) or len(value) not in (2, 3):
            raise TypeError(f"an objective returns Outcome or (loss, correct[, prediction]) per "
                            f"candidate, got {value!r}")
        value = Outcome(float(value[0]), bool(value[1]), *value[2:])
    if math.isnan(value.loss):
        raise ValueError("the objective returned a NaN loss")
    return value


def _log(p: float) -> float:
    return math.log(max(float(p), 1e-12))


def choice_outcome(probs: Sequence[float], label: int) -> Outcome:
    """Classification and multiple choice: ``probs`` over the labels (or choices)."""
    best = max(range(len(probs)), key=lambda i: probs[i])
    return Outcome(-_log(probs[label]), best == label, best)


def span_outcome(prediction: str, answers: Mapping, min_f1: float = 0.5,
                 tie_break: float = 0.0) -> Outcome:
    """Span extraction: the predicted answer text against the example's ``answers``."""
    golds = [t for t in answers.get("text", []) if t] or [""]
    f1 = max(squad_f1(prediction, gold) if gold else float(not prediction) for gold in golds)
    return Outcome(1.0 - f1 + tie_break, f1 >= min_f1, prediction)


def tagging_outcome(probs: Sequence[Sequence[float]], tags: Sequence[str],
                    labels: Sequence[str]) -> Outcome:
    """Tagging: per word, ``probs`` over ``labels``; ``tags`` are the gold tags."""
    gold = [labels.index(t) for t in tags]
    loss = sum(-_log(p[g]) for p, g in zip(probs, gold)) / max(1, len(gold))
    pred = [labels[max(range(len(p)), key=lambda i: p[i])] for p in probs]
    return Outcome(loss, pred == list(tags), pred)


def gold_of(head_kind: str, example: Mapping) -> Any:
    """The gold part of a canonical example (label, answers or tags)."""
    field = {"span": "answers", "tagging": "tags"}.get(head_kind, "label")
    return example[field]


@dataclass
class AttackResult:
    """One attacked example."""

    task: str
    lang: str
    id: str
    attack: str  # the setting's name, kind@budget
    head_kind: str
    original: dict
    perturbed: dict
    before: Outcome  # the model on the original
    after: Outcome  # the model on the perturbed example (= before when nothing changed)
    words_changed: int
    eligible_words: int  # words the attack may touch (the budget's denominator)
    queries: int  # candidates scored, the original included

    @property
    def gold(self) -> Any:
        return gold_of(self.head_kind, self.original)

    @property
    def share(self) -> float:
        """Share of the eligible words changed."""
        return self.words_changed / self.eligible_words if self.eligible_words else 0.0

    @property
    def flipped(self) -> bool:
        return self.before.correct and not self.after.correct

    def to_json(self) -> dict:
        return {"task": self.task, "lang": self.lang, "id": self.id, "attack": self.attack,
                "original": self.original, "perturbed": self.perturbed, "gold": self.gold,
                "prediction_before": self.before.prediction, "prediction_after": self.after.prediction,
                "correct_before": self.before.correct, "correct_after": self.after.correct,
                "loss_before": self.before.loss, "loss_after": self.after.loss,
                "flipped": self.flipped, "words_changed": self.words_changed,
                "eligible_words": self.eligible_words, "share": self.share, "queries": self.queries}


# ---------------------------------------------------------------- summary

Metric = Callable[[str, str, list, list], float]


def summarize(results: Iterable[AttackResult], metric: Metric | None = None) -> dict:
    """Per task and language: ``{task: {lang: figures}}``, figures in percent but ``queries``:

    examples, clean (score before), attacked (score under attack), drop (clean - attacked),
    success_rate (share of the correctly predicted examples that flipped; None when none was
    correct), words_changed (mean share of eligible words changed), queries (mean per example).

    Scores are the share of examples predicted right unless ``metric(task, lang, predictions,
    golds)`` gives the task's own score in percent (QA F1, seqeval F1) from the predictions."""
    groups: dict[tuple[str, str], list[AttackResult]] = {}
    for r in results:
        groups.setdefault((r.task, r.lang), []).append(r)
    out: dict[str, dict[str, dict]] = {}
    for (task, lang), rs in groups.items():
        out.setdefault(task, {})[lang] = _figures(task, lang, rs, metric)
    return out


def _score(task: str, lang: str, rs: list[AttackResult], after: bool, metric: Metric | None) -> float:
    outcomes = [r.after if after else r.before for r in rs]
    if metric is None:
        return 100.0 * sum(o.correct for o in outcomes) / len(rs)
    return float(metric(task, lang, [o.prediction for o in outcomes], [r.gold for r in rs]))


def _figures(task: str, lang: str, rs: list[AttackResult], metric: Metric | None) -> dict:
    clean = _score(task, lang, rs, False, metric)
    attacked = _score(task, lang, rs, True, metric)
    right = [r for r in rs if r.before.correct]
    return {"examples": len(rs), "clean": clean, "attacked": attacked, "drop": clean - attacked,
            "success_rate": 100.0 * sum(r.flipped for r in right) / len(right) if right else None,
            "words_changed": 100.0 * sum(r.share for r in rs) / len(rs),
            "queries": sum(r.queries for r in rs) / len(rs)}


# ---------------------------------------------------------------- files


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_examples(results: Iterable[AttackResult], path: str) -> int:
    """The adversarial examples as JSONL, one :meth:`AttackResult.to_json` per line, in the order
    given; returns the number written."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r.to_json(), ensure_ascii=False, default=_plain) + "\n")
            n += 1
    return n


def read_examples(path: str) -> list[dict]:
    """The rows :func:`write_examples` wrote."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
