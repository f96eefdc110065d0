"""Retrieval scoring from gathered sentence embeddings: Tatoeba (nearest neighbour accuracy),
BUCC (margin mining, threshold tuned on dev gold and applied to test) and the language-agnostic
retrieval of XTREME-R (LAReQA, Mewsli-X: mAP@20 over a shared candidate pool), as the official
procedure does it. Returns (metrics in percent, predictions for the submission files)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from eval import retrieval_metrics as rm


def score(scorer: str, parts: dict[str, list], emb: dict[str, np.ndarray]) -> tuple[dict, list]:
    """``parts``: "src"/"trg" (and "dev_src"/"dev_trg" for BUCC) lists of (id, text), plus
    "gold" (and "dev_gold") lists of (src id, trg id); ``emb``: an embedding matrix per part."""
    if scorer == "tatoeba":
        return tatoeba(emb["src"], emb["trg"])
    if scorer in ("bucc", "bucc2018"):
        return bucc(parts, emb)
    if scorer == f"map@{rm.MAP_K}":
        return ranked(parts, emb)
    raise ValueError(f"no retrieval scorer named {scorer!r}")


def tatoeba(src_emb: np.ndarray, trg_emb: np.ndarray) -> tuple[dict, list]:
    if src_emb.shape[0] != trg_emb.shape[0]:
        raise ValueError(f"tatoeba: {src_emb.shape[0]} source but {trg_emb.shape[0]} target sentences")
    preds = [int(i) for i in rm.tatoeba_predictions(src_emb, trg_emb)]
    return rm.index_accuracy(preds), preds


def _candidates(parts: dict, emb: dict, prefix: str) -> dict:
    src, trg = parts[prefix + "src"], parts[prefix + "trg"]
    return rm.bucc_candidates(emb[prefix + "src"], emb[prefix + "trg"], _ids(src), _ids(trg),
                              _texts(src), _texts(trg))


def bucc(parts: dict, emb: dict) -> tuple[dict, list]:
    cands = _candidates(parts, emb, "")
    if "dev_src" in parts:  # the protocol: threshold from dev gold, applied to this split
        out = rm.bucc_dev_test(_candidates(parts, emb, "dev_"), parts["dev_gold"], cands,
                               parts.get("gold") or None)
        metrics = dict(out.get("test", {}))
        pairs = out["pairs"]
        if metrics:
            metrics["threshold"] = out["threshold"]
        return metrics, pairs
    # Scoring the dev split itself: its own gold tunes the threshold (the official dev figure).
    threshold = rm.bucc_optimal_threshold(cands, parts["gold"])
    return rm.bucc_scores(cands, parts["gold"], threshold), rm.bucc_extract(cands, threshold)


def ranked(parts: dict, emb: dict, k: int = rm.MAP_K) -> tuple[dict, dict]:
    """mAP@k of the queries ("src") against the candidate pool ("trg"); "gold" holds every
    (query id, relevant candidate id) pair. Predictions: query id -> its top-k candidate ids
    (the Mewsli-X submission layout). No gold (a withheld split): predictions only."""
    queries, cands = _ids(parts["src"]), _ids(parts["trg"])
    rows = rm.rank_candidates(emb["src"], emb["trg"], k)
    preds = {q: [cands[j] for j in row] for q, row in zip(queries, rows)}
    if not parts.get("gold"):
        return {}, preds
    relevant: dict = {}
    for q, c in parts["gold"]:
        relevant.setdefault(q, set()).add(c)
    missing = [q for q in queries if q not in relevant]
    if missing:
        raise ValueError(f"mAP@{k}: {len(missing)} queries have no relevant candidate (e.g. {missing[0]!r})")
    return rm.mean_average_precision([relevant[q] for q in queries], [preds[q] for q in queries], k), preds


def _ids(sents: Sequence) -> list:
    return [i for i, _ in sents]


def _texts(sents: Sequence) -> list:
    return [t for _, t in sents]
