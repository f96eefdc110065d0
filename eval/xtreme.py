"""The XTREME and XTREME-R benchmarks as data: language lists per task and the target-task table.

Owns ``LANGUAGES`` (task -> ISO 639-1 codes as XTREME names them), ``TARGETS`` (how each
target task is scored and where it sits in the XTREME score) and the XTREME-R task set
(``XTREME_R_CATEGORIES``: ten tasks in four categories). Nothing here computes anything;
the scoring lives in :mod:`eval.metrics`, :mod:`eval.retrieval_metrics` and :mod:`eval.scorer`.
"""
from __future__ import annotations

from dataclasses import dataclass


def _langs(spec: str) -> tuple[str, ...]:
    return tuple(spec.split())


# Order follows the benchmark's own listing; the set is what matters for scoring.
LANGUAGES: dict[str, tuple[str, ...]] = {
    # --- XTREME (the nine tasks of the XTREME score) ---
    "xnli": _langs("ar bg de el en es fr hi ru sw th tr ur vi zh"),
    "pawsx": _langs("de en es fr ja ko zh"),
    "udpos": _langs("af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru "
                    "ta te th tl tr ur vi yo zh"),
    "panx": _langs("ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es "
                   "bg ru ja ka ko th sw yo my zh kk tr et fi hu"),
    "xquad": _langs("en es de el ru tr ar vi th zh hi"),
    "mlqa": _langs("en es de ar hi vi zh"),
    "tydiqa": _langs("en ar bn fi id ko ru sw te"),
    "bucc2018": _langs("de fr ru zh"),
    "tatoeba": _langs("ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr it pt es bg "
                      "ru ja ka ko th sw zh kk tr et fi hu"),
}

# --- XTREME-R additions (not part of the XTREME score) ---
LANGUAGES.update({
    "xcopa": _langs("et ht id it qu sw ta th tr vi zh"),
    # XTREME-R POS: the XTREME 33 plus Lithuanian, Polish, Ukrainian, Wolof and Romanian.
    "udpos_r": LANGUAGES["udpos"] + _langs("lt pl uk wo ro"),
    # XTREME-R NER: the XTREME 40 plus eight more WikiANN languages.
    "panx_r": LANGUAGES["panx"] + _langs("qu pl uk az lt pa gu ro"),
    # XTREME-R Tatoeba: the XTREME 36 plus Azerbaijani, Lithuanian, Polish, Ukrainian, Romanian.
    "tatoeba_r": LANGUAGES["tatoeba"] + _langs("az lt pl uk ro"),
    # XTREME-R XQuAD: the XTREME 11 plus Romanian.
    "xquad_r": LANGUAGES["xquad"] + _langs("ro"),
    # LAReQA runs on XQuAD-R, which covers the XQuAD languages.
    "lareqa": _langs("ar de el en es hi ru th tr vi zh"),
    # Mewsli-X: WikiNews mentions in 11 languages, linked against one multilingual entity pool.
    "mewslix": _langs("ar de en es fa ja pl ro ta tr uk"),
})

# The four categories of the XTREME score, each with its tasks.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "classification": ("pawsx", "xnli"),
    "structured prediction": ("udpos", "panx"),
    "QA": ("xquad", "mlqa", "tydiqa"),
    "retrieval": ("bucc2018", "tatoeba"),
}
XTREME_TASKS: tuple[str, ...] = tuple(t for ts in CATEGORIES.values() for t in ts)

# XTREME-R (Ruder et al. 2021): ten tasks. PAWS-X and BUCC are gone; XCOPA, Mewsli-X and LAReQA
# are new; UD-POS, WikiANN, Tatoeba and XQuAD use the longer XTREME-R language lists (udpos_r,
# panx_r, tatoeba_r, xquad_r; in the submission layout they share the XTREME task's folder).
XTREME_R_CATEGORIES: dict[str, tuple[str, ...]] = {
    "classification": ("xnli", "xcopa"),
    "structured prediction": ("udpos_r", "panx_r"),
    "QA": ("xquad_r", "mlqa", "tydiqa"),
    "retrieval": ("tatoeba_r", "mewslix", "lareqa"),
}
XTREME_R_TASKS: tuple[str, ...] = tuple(t for ts in XTREME_R_CATEGORIES.values() for t in ts)

# The main metric of a QA task: the mean of exact match and F1, as the XTREME score uses it.
EM_F1 = "em_f1"


@dataclass(frozen=True)
class Target:
    """How one target task is scored.

    ``metric`` is the main metric (the one averaged over languages into the task score);
    ``metrics`` are all the metrics the scorer reports; ``scorer`` names the scoring family of
    :func:`eval.metrics.score_task`; ``chance`` is the expected main-metric score of random
    guessing in percent; ``category`` is the XTREME-score category ("" outside the score)."""

    kind: str
    metric: str
    metrics: tuple[str, ...]
    scorer: str
    chance: float
    category: str = ""
    split: str = "test"
    benchmark: str = "xtreme"


_ACC = ("accuracy",)
_PRF = ("f1", "precision", "recall")
_QA = ("exact_match", "f1")
MAP20 = "map@20"  # mean average precision over the top 20 candidates (LAReQA, Mewsli-X)
_UPOS_TAGS = 17  # the Universal POS tag set

TARGETS: dict[str, Target] = {
    "xnli": Target("classification", "accuracy", _ACC, "accuracy", 100 / 3, "classification"),
    "pawsx": Target("classification", "accuracy", _ACC, "accuracy", 50.0, "classification"),
    # Random tags rarely form a correct span: chance F1 is ~1/17 for POS and ~0 for NER.
    "udpos": Target("tagging", "f1", _PRF, "seqeval", 100 / _UPOS_TAGS, "structured prediction"),
    "panx": Target("tagging", "f1", _PRF, "seqeval", 0.0, "structured prediction"),
    "xquad": Target("span", EM_F1, _QA, "squad", 0.0, "QA"),
    "mlqa": Target("span", EM_F1, _QA, "mlqa", 0.0, "QA"),
    "tydiqa": Target("span", EM_F1, _QA, "squad", 0.0, "QA"),
    "bucc2018": Target("retrieval", "f1", _PRF, "bucc", 0.0, "retrieval"),
    # One right answer among the (up to) 1,000 candidate sentences of a language.
    "tatoeba": Target("retrieval", "accuracy", _ACC, "tatoeba", 0.1, "retrieval"),
    "xcopa": Target("multiple_choice", "accuracy", _ACC, "accuracy", 50.0, benchmark="xtreme-r"),
    "udpos_r": Target("tagging", "f1", _PRF, "seqeval", 100 / _UPOS_TAGS, benchmark="xtreme-r"),
    "panx_r": Target("tagging", "f1", _PRF, "seqeval", 0.0, benchmark="xtreme-r"),
    "tatoeba_r": Target("retrieval", "accuracy", _ACC, "tatoeba", 0.1, benchmark="xtreme-r"),
    "xquad_r": Target("span", EM_F1, _QA, "squad", 0.0, benchmark="xtreme-r"),
    # A shared pool of thousands of candidates (LAReQA ~13k answer sentences, Mewsli-X ~1M
    # entities): random ranking scores ~0.
    "lareqa": Target("retrieval", MAP20, (MAP20,), MAP20, 0.0, benchmark="xtreme-r"),
    "mewslix": Target("retrieval", MAP20, (MAP20,), MAP20, 0.0, benchmark="xtreme-r"),
}


def category_of(task: str) -> str:
    """The XTREME-score category of ``task`` ("" when the task is not part of the score)."""
    target = TARGETS.get(task)
    return target.category if target else ""


