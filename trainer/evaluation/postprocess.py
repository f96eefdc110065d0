"""Prediction postprocessing: model outputs over features -> one prediction per example.

This module owns the way back from features (trainer/data/features.py) to what the XTREME scorers
compare with the gold: answer strings for extractive QA (best span over all windows of an
example), one tag per original word for tagging, and arg-max indices for classification and
multiple choice.

Logits may be given as one array (rows padded to a common length) or as a sequence of per-row
arrays of their own lengths; torch tensors and numpy arrays are both accepted.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

import numpy as np


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor (possibly bf16, which numpy cannot hold)
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def _rows(logits: Any) -> list[np.ndarray]:
    """Per-row arrays from either a padded array or a sequence of rows."""
    if isinstance(logits, (list, tuple)):
        return [_numpy(row) for row in logits]
    return list(_numpy(logits))


def _stacked(logits: Any) -> np.ndarray:
    if isinstance(logits, (list, tuple)) and logits and np.ndim(_numpy(logits[0])) == 2:
        return np.concatenate([_numpy(part) for part in logits])  # a list of batch outputs
    return _numpy(logits)


def classification_predictions(logits: Any) -> list[int]:
    """Arg-max class per example; ``logits`` (examples, classes) or a list of batch outputs."""
    return [int(i) for i in _stacked(logits).argmax(-1)]


def choice_predictions(logits: Any) -> list[int]:
    """Arg-max choice per example; ``logits`` (examples, choices) or a list of batch outputs."""
    return [int(i) for i in _stacked(logits).argmax(-1)]


def _column(rows: Any, key: str) -> list:
    """One column of rows given as a datasets.Dataset, a dict of columns (what featurize
    returns) or a list of dicts."""
    if hasattr(rows, "column_names") or isinstance(rows, dict):
        return list(rows[key])
    return [r[key] for r in rows]


def _best_span(start: np.ndarray, end: np.ndarray, offsets: list, n_best: int,
               max_answer_length: int) -> tuple[float, int, int] | None:
    """Best (score, start char, end char) of one window: among the ``n_best`` highest start
    and end logits, pairs of context tokens with start <= end and at most
    ``max_answer_length`` tokens; score = start logit + end logit."""
    n = len(offsets)
    start, end = np.asarray(start[:n], dtype=np.float64), np.asarray(end[:n], dtype=np.float64)
    in_context = np.array([o[0] >= 0 for o in offsets], dtype=bool)
    if not in_context.any():
        return None
    # question and special tokens can never bound an answer: rank context tokens only
    start, end = np.where(in_context, start, -np.inf), np.where(in_context, end, -np.inf)
    tops = [np.argsort(-x, kind="stable")[:n_best] for x in (start, end)]
    s_idx, e_idx = (t[in_context[t]] for t in tops)
    if not len(s_idx) or not len(e_idx):
        return None
    length = e_idx[None, :] - s_idx[:, None] + 1
    valid = (length >= 1) & (length <= max_answer_length)
    if not valid.any():
        return None
    score = np.where(valid, start[s_idx][:, None] + end[e_idx][None, :], -np.inf)
    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
    s, e = int(s_idx[i]), int(e_idx[j])
    return float(score[i, j]), int(offsets[s][0]), int(offsets[e][1])


def span_predictions(examples: Any, features: Any, start_logits: Any, end_logits: Any, *,
                     n_best: int = 20, max_answer_length: int = 30) -> dict[str, str]:
    """Answer text per example id: the best span over all windows of the example, sliced from
    the original context by character offsets (outer whitespace dropped, as offsets of
    Metaspace pieces may include a word's leading space); "" where no window has a valid span.

    ``features`` are span eval features (``example_idx``, ``offset_mapping`` with [-1, -1]
    outside the context), in the order of the logits rows.
    """
    ids, contexts = _column(examples, "id"), _column(examples, "context")
    owners, offsets = _column(features, "example_idx"), _column(features, "offset_mapping")
    starts, ends = _rows(start_logits), _rows(end_logits)
    if not len(starts) == len(ends) == len(owners):
        raise ValueError(f"{len(owners)} features but {len(starts)}/{len(ends)} start/end rows")
    windows: dict[int, list[int]] = defaultdict(list)
    for f, owner in enumerate(owners):
        windows[int(owner)].append(f)
    answers = {}
    for idx, ex_id in enumerate(ids):
        best = None
        for f in windows.get(idx, ()):
            cand = _best_span(starts[f], ends[f], offsets[f], n_best, max_answer_length)
            if cand is not None and (best is None or cand[0] > best[0]):
                best = cand
        answers[ex_id] = contexts[idx][best[1]:best[2]].strip() if best else ""
    return answers


def default_tag(labels: Sequence[str]) -> str:
    """The tag given to words with no prediction (cut off by truncation): "O" where the tag
    set has it, else the first label. Scorers count every gold word, so such words still need
    a tag; "O" is the neutral one."""
    return "O" if "O" in labels else labels[0]


def tagging_predictions(features: Any, logits: Any, labels: Sequence[str],
                        num_words: Sequence[int]) -> list[list[str]]:
    """One tag per original word of every example, read at each word's first sub-token.

    ``features`` are tagging features (``word_ids``: first sub-token position per word, -1
    where none; ``example_idx``), one per example, in the order of the logits rows.
    ``num_words[i]`` is the word count of example i; words without a position, or beyond
    the features' word list, get ``default_tag(labels)``.
    """
    if not labels:
        raise ValueError("tagging predictions need the tag set")
    fallback = default_tag(labels)
    out = [[fallback] * int(n) for n in num_words]
    firsts, owners = _column(features, "word_ids"), _column(features, "example_idx")
    rows = _rows(logits)
    if len(rows) != len(firsts):
        raise ValueError(f"{len(firsts)} features but {len(rows)} logits rows")
    for row, positions, owner in zip(rows, firsts, owners):
        tags = out[int(owner)]
        for word, pos in enumerate(positions[:len(tags)]):
            if 0 <= pos < len(row):
                tags[word] = labels[int(np.argmax(row[pos]))]
    return out
