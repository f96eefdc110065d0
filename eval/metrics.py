"""Metric functions of the XTREME targets and the intermediate tasks, and the XTREME score.

Owns every per-example-list metric (accuracy, seqeval span F1, SQuAD v1.1/v2.0 and MLQA exact
match / F1), the dispatcher :func:`score_task` used by every task, and :func:`xtreme_score`.
All scores are in percent and named as the official XTREME scorer names them (``accuracy``,
``f1``, ``precision``, ``recall``, ``exact_match``); the arithmetic matches the official XTREME
scorer, including its normalisation quirks. Retrieval scoring from embeddings lives in
:mod:`eval.retrieval_metrics`.
"""
from __future__ import annotations

import functools
import math
import re
import string
import sys
import unicodedata
import warnings
from collections import Counter
from typing import Any, Callable, Iterable, Mapping, Sequence

from eval.retrieval_metrics import bucc_f1, index_accuracy, mean_average_precision
from eval.xtreme import CATEGORIES, XTREME_R_CATEGORIES, XTREME_R_TASKS, XTREME_TASKS

# ---------------------------------------------------------------- classification / tagging


def _same(prediction: Any, label: Any) -> bool:
    # Files give strings, models give ints or strings: compare by text when types differ.
    return prediction == label or str(prediction).strip() == str(label).strip()


def _check_lengths(predictions: Sequence, references: Sequence, what: str) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{what}: {len(predictions)} predictions but {len(references)} references")
    if not references:
        raise ValueError(f"{what}: nothing to score (no references)")


def accuracy(predictions: Sequence, references: Sequence) -> dict[str, float]:
    """Share of predictions equal to their label (XNLI, PAWS-X, XCOPA, Tatoeba)."""
    _check_lengths(predictions, references, "accuracy")
    correct = sum(int(_same(p, l)) for p, l in zip(predictions, references))
    return {"accuracy": 100.0 * correct / len(predictions)}


def token_accuracy(predictions: Sequence[Sequence], references: Sequence[Sequence]) -> dict[str, float]:
    """Share of tokens tagged right, for tag sets that are not BIO spans (e.g. CCG supertags)."""
    _check_lengths(predictions, references, "token_accuracy")
    flat_p, flat_r = [], []
    for i, (p, r) in enumerate(zip(predictions, references)):
        if len(p) != len(r):
            raise ValueError(f"token_accuracy: sentence {i} has {len(p)} predicted tags, {len(r)} gold tags")
        flat_p.extend(p)
        flat_r.extend(r)
    return accuracy(flat_p, flat_r)


def seqeval_prf(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Span F1/precision/recall by ``seqeval`` in its default (CoNLL) mode, as the official
    scorer computes them for both PAN-X and UD-POS. On POS tags (no B-/I- prefix) seqeval reads
    the first letter as the chunk tag, so adjacent tokens of one tag merge into a single span:
    this is the official behaviour and is kept on purpose."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    _check_lengths(predictions, references, "seqeval")
    for i, (p, r) in enumerate(zip(predictions, references)):
        if len(p) != len(r):
            raise ValueError(f"seqeval: sentence {i} has {len(p)} predicted tags, {len(r)} gold tags")
    y_true, y_pred = [list(r) for r in references], [list(p) for p in predictions]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on every non-BIO tag (all of UD-POS)
        return {"f1": 100.0 * float(f1_score(y_true, y_pred)),
                "precision": 100.0 * float(precision_score(y_true, y_pred)),
                "recall": 100.0 * float(recall_score(y_true, y_pred))}


# ---------------------------------------------------------------- SQuAD v1.1 / v2.0

_ARTICLES_EN = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_ASCII_PUNCT = frozenset(string.punctuation)


def normalize_squad(text: str) -> str:
    """SQuAD normalisation: lower case, drop ASCII punctuation, English articles, extra spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    return " ".join(_ARTICLES_EN.sub(" ", text).split())


def _token_f1(prediction_tokens: list[str], gold_tokens: list[str]) -> float:
    common = Counter(prediction_tokens) & Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_f1(prediction: str, gold: str) -> float:
    """Bag-of-tokens F1 of one answer (0..1), SQuAD v1.1: no overlap scores 0, even two empties."""
    return _token_f1(normalize_squad(prediction).split(), normalize_squad(gold).split())


def squad_exact(prediction: str, gold: str) -> float:
    return float(normalize_squad(prediction) == normalize_squad(gold))


def squad_v2_f1(prediction: str, gold: str) -> float:
    """SQuAD v2.0 F1: an empty answer on either side scores 1 only if both are empty."""
    p, g = normalize_squad(prediction).split(), normalize_squad(gold).split()
    if not p or not g:
        return float(p == g)
    return _token_f1(p, g)


def gold_answers(reference: Mapping) -> list[str]:
    """Answer texts of a reference: ``{"answers": {"text": [...]}}`` or SQuAD's list of dicts."""
    answers = reference.get("answers", [])
    if isinstance(answers, Mapping):
        return [str(t) for t in answers.get("text", [])]
    return [str(a["text"]) if isinstance(a, Mapping) else str(a) for a in answers]


def _qa_scores(predictions: Mapping[str, str], references: Sequence[Mapping],
               exact: Callable[[str, str], float], f1: Callable[[str, str], float]) -> dict[str, float]:
    # Unanswered questions stay in the total and score 0, as in the official scorers.
    if not references:
        raise ValueError("QA scoring: nothing to score (no references)")
    em_sum = f1_sum = 0.0
    for ref in references:
        qid = str(ref["id"])
        if qid not in predictions:
            continue
        golds = gold_answers(ref)
        if not golds:
            raise ValueError(f"QA scoring: question {qid!r} has no gold answer")
        pred = str(predictions[qid])
        em_sum += max(exact(pred, g) for g in golds)
        f1_sum += max(f1(pred, g) for g in golds)
    n = len(references)
    return {"exact_match": 100.0 * em_sum / n, "f1": 100.0 * f1_sum / n}


def squad_v1(predictions: Mapping[str, str], references: Sequence[Mapping]) -> dict[str, float]:
    """SQuAD v1.1 exact match and F1, max over gold answers (XQuAD, TyDiQA-GoldP, SQuAD v1.1)."""
    return _qa_scores(predictions, references, squad_exact, squad_f1)


def squad_v2(predictions: Mapping[str, str], references: Sequence[Mapping]) -> dict[str, float]:
    """SQuAD v2.0 exact match and F1 with no-answer questions (gold: no non-empty answer; the
    right prediction is ""), plus the HasAns_/NoAns_ breakdown. As in the official v2.0 script,
    questions without a prediction are left out of the totals."""
    has: dict[str, list[float]] = {"em": [], "f1": []}
    no: dict[str, list[float]] = {"em": [], "f1": []}
    for ref in references:
        qid = str(ref["id"])
        if qid not in predictions:
            continue
        answers = gold_answers(ref)
        golds = [g for g in answers if normalize_squad(g)] or [""]
        pred = str(predictions[qid])
        bucket = has if answers else no
        bucket["em"].append(max(squad_exact(pred, g) for g in golds))
        bucket["f1"].append(max(squad_v2_f1(pred, g) for g in golds))
    n = len(has["em"]) + len(no["em"])
    if n == 0:
        raise ValueError("squad_v2: no reference has a prediction")
    out = {"exact_match": 100.0 * (sum(has["em"]) + sum(no["em"])) / n,
           "f1": 100.0 * (sum(has["f1"]) + sum(no["f1"])) / n}
    for name, bucket in (("HasAns", has), ("NoAns", no)):
        if bucket["em"]:
            out[f"{name}_exact_match"] = 100.0 * sum(bucket["em"]) / len(bucket["em"])
            out[f"{name}_f1"] = 100.0 * sum(bucket["f1"]) / len(bucket["f1"])
    return out


# ---------------------------------------------------------------- MLQA


@functools.lru_cache(maxsize=1)
def mlqa_punctuation() -> frozenset[str]:
    """Every Unicode punctuation character (category P*) plus ASCII punctuation; built on first
    use because scanning the code space costs a noticeable fraction of a second."""
    return frozenset(chr(i) for i in range(sys.maxunicode)
                     if unicodedata.category(chr(i)).startswith("P")) | _ASCII_PUNCT


_WHITESPACE_LANGS = ("en", "es", "hi", "vi", "de", "ar")
_MIXED_SEGMENTATION_LANGS = ("zh",)
_MLQA_ARTICLES = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    # The first alternative can never match ("^" after a character), so in effect every
    # "ال" anywhere in the text becomes a space: kept as is to match the official scorer.
    "ar": re.compile(r"\sال^|ال"),
}
_CJK = re.compile(r"[\u4e00-\u9fa5]")


def mixed_segmentation(text: str) -> list[str]:
    """Chinese segmentation of MLQA: each CJK ideograph and each punctuation mark is a token;
    runs of other characters are split on whitespace."""
    punct = mlqa_punctuation()
    tokens: list[str] = []
    run = ""
    for ch in text:
        if _CJK.search(ch) or ch in punct:
            tokens.extend(run.split())
            run = ""
            tokens.append(ch)
        else:
            run += ch
    tokens.extend(run.split())
    return tokens


def normalize_mlqa(text: str, lang: str) -> str:
    """MLQA normalisation for the answer language ``lang`` (one of en es hi vi de ar zh)."""
    if lang not in _WHITESPACE_LANGS and lang not in _MIXED_SEGMENTATION_LANGS:
        raise ValueError(f"MLQA scoring: unknown answer language {lang!r}")
    punct = mlqa_punctuation()
    text = "".join(ch for ch in text.lower() if ch not in punct)
    if lang in _MLQA_ARTICLES:
        text = _MLQA_ARTICLES[lang].sub(" ", text)
    tokens = mixed_segmentation(text) if lang in _MIXED_SEGMENTATION_LANGS else text.split()
    return " ".join(t for t in tokens if t.strip())


def mlqa(predictions: Mapping[str, str], references: Sequence[Mapping], lang: str) -> dict[str, float]:
    """MLQA exact match and F1. ``lang`` is the context (answer) language; a G-XLT code such as
    ``de-en`` (German context, English question) is scored as German."""
    answer_lang = lang.partition("-")[0]
    normalize_mlqa("", answer_lang)  # fail early on an unknown language

    def exact(p: str, g: str) -> float:
        return float(normalize_mlqa(p, answer_lang) == normalize_mlqa(g, answer_lang))

    def f1(p: str, g: str) -> float:
        return _token_f1(normalize_mlqa(p, answer_lang).split(), normalize_mlqa(g, answer_lang).split())

    return _qa_scores(predictions, references, exact, f1)


# ---------------------------------------------------------------- language modelling


def mlm(batches: Iterable[Sequence[float]]) -> dict[str, float]:
    """Masked-LM scores from per-batch sums: each item is ``(sum_nll, count)`` or
    ``(sum_nll, count, correct)`` (summed token negative log-likelihood in nats, number of
    scored tokens, number predicted right). Returns ``loss`` (mean NLL), ``perplexity``
    (exp of it, not a percentage) and, when counts of right tokens are given, ``accuracy``."""
    nll = count = correct = 0.0
    with_correct = True
    for item in batches:
        nll += float(item[0])
        count += float(item[1])
        if len(item) > 2:
            correct += float(item[2])
        else:
            with_correct = False
    if count <= 0:
        raise ValueError("mlm: no scored tokens")
    out = {"loss": nll / count, "perplexity": math.exp(nll / count)}
    if with_correct:
        out["accuracy"] = 100.0 * correct / count
    return out


# ---------------------------------------------------------------- dispatch and XTREME score

SCORERS = ("accuracy", "token_accuracy", "seqeval", "squad", "squad_v2", "mlqa",
           "bucc", "bucc2018", "tatoeba", "map@20", "mlm")


def score_task(scorer: str, predictions: Any, references: Any, lang: str) -> dict[str, float]:
    """Score one task in one language with the scoring family ``scorer``.

    accuracy / token_accuracy: lists of labels / lists of tag lists; seqeval: lists of tag
    lists; squad / squad_v2 / mlqa: ``{id: answer}`` and ``[{"id", "answers": {"text": [...]}}]``;
    bucc (bucc2018): predicted and gold (source id, target id) pairs or "src\\ttrg" strings;
    tatoeba: predicted and gold indices (gold may be None: the i-th query's answer is i);
    map@20: ``{query_id: [ranked candidate ids]}`` and ``{query_id: [relevant ids]}`` (queries
    missing from the predictions score 0, as in the Mewsli-X scorer);
    mlm: per-batch sums, see :func:`mlm` (references unused)."""
    if scorer == "accuracy":
        return accuracy(predictions, references)
    if scorer == "token_accuracy":
        return token_accuracy(predictions, references)
    if scorer == "seqeval":
        return seqeval_prf(predictions, references)
    if scorer == "squad":
        return squad_v1(predictions, references)
    if scorer == "squad_v2":
        return squad_v2(predictions, references)
    if scorer == "mlqa":
        return mlqa(predictions, references, lang)
    if scorer in ("bucc", "bucc2018"):
        return bucc_f1(predictions, references)
    if scorer == "tatoeba":
        return index_accuracy(predictions, references)
    if scorer == "map@20":
        return ranked_map(predictions, references)
    if scorer == "mlm":
        return mlm(predictions)
    raise ValueError(f"unknown scorer {scorer!r}; known: {', '.join(SCORERS)}")


def ranked_map(predictions: Mapping[str, Sequence[str]], references: Mapping[str, Sequence[str]],
               k: int = 20) -> dict[str, float]:
    """mAP@k in percent of ranked candidate lists against each query's relevant candidates."""
    queries = list(references)
    return mean_average_precision([references[q] for q in queries],
                                  [list(predictions.get(q, [])) for q in queries], k)


def _task_value(entry: Any) -> float:
    return float(entry["avg_metric"] if isinstance(entry, Mapping) else entry)


def category_scores(task_averages: Mapping[str, Any]) -> dict[str, float]:
    """Mean task score of every XTREME category whose tasks are all present."""
    return {cat: sum(_task_value(task_averages[t]) for t in tasks) / len(tasks)
            for cat, tasks in CATEGORIES.items() if all(t in task_averages for t in tasks)}


def xtreme_score(task_averages: Mapping[str, Any]) -> float:
    """The XTREME score, as the official XTREME scorer computes it.

    ``task_averages`` maps task -> ``{"avg_metric": value, ...}`` (or the value itself). Each
    task's score is the average over its languages of its main metric: accuracy (XNLI, PAWS-X,
    Tatoeba), F1 (UD-POS, PAN-X, BUCC) and, for the QA tasks, (exact match + F1) / 2. The XTREME
    score is the unweighted mean of the nine task scores; it is defined only when all nine are
    present (a ValueError names the missing ones). Note it is a mean over tasks, not over the
    four categories: the QA category (three tasks) weighs 3/9; per-category means are in
    :func:`category_scores`."""
    missing = [t for t in XTREME_TASKS if t not in task_averages]
    if missing:
        raise ValueError(f"XTREME score needs all nine tasks; missing: {', '.join(missing)}")
    return sum(_task_value(task_averages[t]) for t in XTREME_TASKS) / len(XTREME_TASKS)


def xtreme_r_category_scores(task_averages: Mapping[str, Any]) -> dict[str, float]:
    """Mean task score of every XTREME-R category whose tasks are all present."""
    return {cat: sum(_task_value(task_averages[t]) for t in tasks) / len(tasks)
            for cat, tasks in XTREME_R_CATEGORIES.items() if all(t in task_averages for t in tasks)}


def xtreme_r_score(task_averages: Mapping[str, Any]) -> float:
    """The XTREME-R score: the unweighted mean of its ten task scores, each the average over
    the task's languages of its main metric (accuracy: XNLI, XCOPA, Tatoeba; F1: UD-POS,
    WikiANN; (EM + F1) / 2: XQuAD, MLQA, TyDiQA-GoldP; mAP@20: Mewsli-X, LAReQA).

    The mean is over tasks, as the official XTREME scorer (``evaluate.py``, ``all_task``)
    aggregates; the repository ships no XTREME-R aggregation of its own, so per-category means
    are reported beside it (:func:`xtreme_r_category_scores`) for a category-weighted reading.
    A ValueError names any of the ten tasks that is missing."""
    missing = [t for t in XTREME_R_TASKS if t not in task_averages]
    if missing:
        raise ValueError(f"XTREME-R score needs all ten tasks; missing: {', '.join(missing)}")
    return sum(_task_value(task_averages[t]) for t in XTREME_R_TASKS) / len(XTREME_R_TASKS)
