"""Scoring of the retrieval targets from sentence embeddings: BUCC 2018 and Tatoeba.

Owns the chunked cosine k-nearest-neighbour search, margin-based bitext mining (ratio margin,
k = 4, both directions, the "max" combination by default), BUCC threshold tuning on dev gold and
BUCC precision/recall/F1, and Tatoeba nearest-neighbour accuracy. Everything matches the
official XTREME scorer; inputs are L2-normalised float32 matrices (one row per sentence), and
similarities are computed block by block so memory stays bounded whatever the corpus size.
Pure numpy.
"""
from __future__ import annotations

from typing import Hashable, Iterable, Mapping, Sequence

import numpy as np

Pair = tuple[Hashable, Hashable]
DEFAULT_CHUNK = 2048  # rows per block: a block of similarities is chunk x chunk float32 (16 MiB)


def knn(queries: np.ndarray, base: np.ndarray, k: int, chunk: int = DEFAULT_CHUNK
        ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``base`` with the largest inner product for every row of ``queries``.

    Returns (similarities, indices), each (n_queries, k), best first; ties go to the lower
    index. Works on blocks of ``chunk`` x ``chunk`` similarities."""
    if base.shape[0] == 0 or queries.shape[0] == 0 or k < 1:
        raise ValueError(f"knn: needs rows on both sides and k >= 1 (got {queries.shape[0]} "
                         f"queries, {base.shape[0]} candidates, k={k})")
    k = min(k, base.shape[0])
    n = queries.shape[0]
    out_sim = np.empty((n, k), dtype=np.float32)
    out_ind = np.empty((n, k), dtype=np.int64)
    for q0 in range(0, n, chunk):
        q = queries[q0:q0 + chunk]
        best_sim = np.empty((q.shape[0], 0), dtype=np.float32)
        best_ind = np.empty((q.shape[0], 0), dtype=np.int64)
        for b0 in range(0, base.shape[0], chunk):
            sims = q @ base[b0:b0 + chunk].T
            kk = min(k, sims.shape[1])
            top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            best_sim = np.concatenate([best_sim, np.take_along_axis(sims, top, axis=1)], axis=1)
            best_ind = np.concatenate([best_ind, top + b0], axis=1)
            order = np.lexsort((best_ind, -best_sim), axis=1)[:, :k]
            best_sim = np.take_along_axis(best_sim, order, axis=1)
            best_ind = np.take_along_axis(best_ind, order, axis=1)
        out_sim[q0:q0 + q.shape[0]] = best_sim
        out_ind[q0:q0 + q.shape[0]] = best_ind
    return out_sim, out_ind


def _margin_scores(sims: np.ndarray, inds: np.ndarray, own_mean: np.ndarray,
                   other_mean: np.ndarray) -> np.ndarray:
    # Ratio margin: cos(x, y) / ((mean k-NN sim of x + mean k-NN sim of y) / 2).
    return sims.astype(np.float64) / ((own_mean[:, None] + other_mean[inds]) / 2.0)


def mine_pairs(src_emb: np.ndarray, trg_emb: np.ndarray, k: int = 4, chunk: int = DEFAULT_CHUNK,
               mode: str = "max", threshold: float = 0.0) -> list[tuple[int, int, float]]:
    """Margin-based bitext mining between two sets of normalised embeddings.

    Both directions are searched (k nearest neighbours, ratio margin). ``mode``: "fwd" (best
    target for every source), "bwd" (best source for every target), "intersect" (pairs that
    are each other's best) or "max" (the default, as used for BUCC: both directions' best
    pairs, taken greedily by score so every sentence is used at most once). Returns
    (source row, target row, margin score) for scores above ``threshold``, best first for
    "max", in source (fwd, intersect) or target (bwd) order otherwise."""
    x2y_sim, x2y_ind = knn(src_emb, trg_emb, k, chunk)
    y2x_sim, y2x_ind = knn(trg_emb, src_emb, k, chunk)
    x2y_mean = x2y_sim.mean(axis=1).astype(np.float64)
    y2x_mean = y2x_sim.mean(axis=1).astype(np.float64)
    fwd = _margin_scores(x2y_sim, x2y_ind, x2y_mean, y2x_mean)
    bwd = _margin_scores(y2x_sim, y2x_ind, y2x_mean, x2y_mean)
    fwd_best = x2y_ind[np.arange(len(fwd)), fwd.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(len(bwd)), bwd.argmax(axis=1)]
    fwd_max, bwd_max = fwd.max(axis=1), bwd.max(axis=1)
    if mode == "fwd":
        pairs = [(i, int(j), float(fwd_max[i])) for i, j in enumerate(fwd_best)]
    elif mode == "bwd":
        pairs = [(int(i), j, float(bwd_max[j])) for j, i in enumerate(bwd_best)]
    elif mode == "intersect":
        pairs = [(i, int(j), float(fwd_max[i])) for i, j in enumerate(fwd_best) if bwd_best[j] == i]
    elif mode == "max":
        return _greedy_max(fwd_best, bwd_best, fwd_max, bwd_max, threshold)
    else:
        raise ValueError(f"unknown mining mode {mode!r} (fwd, bwd, intersect, max)")
    return [p for p in pairs if p[2] > threshold]


def _greedy_max(fwd_best: np.ndarray, bwd_best: np.ndarray, fwd_max: np.ndarray,
                bwd_max: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    src = np.concatenate([np.arange(len(fwd_best)), bwd_best])
    trg = np.concatenate([fwd_best, np.arange(len(bwd_best))])
    scores = np.concatenate([fwd_max, bwd_max])
    seen_src: set[int] = set()
    seen_trg: set[int] = set()
    out = []
    for n in np.argsort(-scores, kind="stable"):
        s, t = int(src[n]), int(trg[n])
        if s in seen_src or t in seen_trg:
            continue
        # A sentence is used up by its best pair even when that pair falls under the threshold.
        seen_src.add(s)
        seen_trg.add(t)
        if scores[n] > threshold:
            out.append((s, t, float(scores[n])))
    return out


def _unique_rows(texts: Sequence[str]) -> tuple[list[int], dict[str, int]]:
    """Rows standing for each distinct text (its last occurrence), and the texts seen once."""
    last: dict[str, int] = {}
    count: dict[str, int] = {}
    for row, text in enumerate(texts):
        key = text.strip()
        last[key] = row
        count[key] = count.get(key, 0) + 1
    rows = list(last.values())
    return rows, {t: c for t, c in count.items()}


def bucc_candidates(src_emb: np.ndarray, trg_emb: np.ndarray, src_ids: Sequence[Hashable],
                    trg_ids: Sequence[Hashable], src_texts: Sequence[str] | None = None,
                    trg_texts: Sequence[str] | None = None, k: int = 4,
                    chunk: int = DEFAULT_CHUNK) -> dict[Pair, float]:
    """Mined candidate pairs (source id, target id) -> margin score, as the BUCC scorer uses them.

    With texts, identical sentences are mined once, and a sentence that occurs under several
    ids is left out of the candidates altogether (its id is ambiguous), as the official scorer
    does. Without texts every row is its own sentence."""
    if len(src_ids) != len(src_emb) or len(trg_ids) != len(trg_emb):
        raise ValueError("bucc_candidates: one id per embedding row is needed on both sides")
    src_rows, trg_rows = list(range(len(src_ids))), list(range(len(trg_ids)))
    src_ok = trg_ok = None
    if src_texts is not None and trg_texts is not None:
        src_rows, src_count = _unique_rows(src_texts)
        trg_rows, trg_count = _unique_rows(trg_texts)
        src_ok = [src_count[src_texts[r].strip()] == 1 for r in src_rows]
        trg_ok = [trg_count[trg_texts[r].strip()] == 1 for r in trg_rows]
    mined = mine_pairs(src_emb[src_rows], trg_emb[trg_rows], k=k, chunk=chunk, mode="max")
    candidates: dict[Pair, float] = {}
    for i, j, score in mined:
        if (src_ok is not None and not src_ok[i]) or (trg_ok is not None and not trg_ok[j]):
            continue
        key = (src_ids[src_rows[i]], trg_ids[trg_rows[j]])
        candidates[key] = max(score, candidates.get(key, score))
    return candidates


def _as_pair(item: Pair | str) -> Pair:
    if isinstance(item, str):
        parts = item.strip().split("\t")
        return tuple(parts)  # type: ignore[return-value]
    return tuple(item)  # type: ignore[return-value]


def bucc_optimal_threshold(candidates: Mapping[Pair, float], gold: Iterable[Pair | str]) -> float:
    """The score threshold that maximises F1 against ``gold`` (tuned on dev, applied to test).

    Candidates are taken best first; at the best F1 the threshold is the midpoint between that
    candidate's score and the next one's (the candidate's own score when it is the last).
    0.0 when no candidate is correct."""
    gold_set = {_as_pair(g) for g in gold}
    items = sorted(candidates.items(), key=lambda kv: -kv[1])
    extracted = correct = 0
    best_f1, threshold = 0.0, 0.0
    for n, (pair, score) in enumerate(items):
        extracted += 1
        correct += int(_as_pair(pair) in gold_set)
        if correct == 0:
            continue
        precision, recall = correct / extracted, correct / len(gold_set)
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best_f1 = f1
            following = items[n + 1][1] if n + 1 < len(items) else score
            threshold = (score + following) / 2
    return threshold


def bucc_extract(candidates: Mapping[Pair, float], threshold: float) -> list[Pair]:
    """Candidate pairs scoring at least ``threshold``: the mined bitext."""
    return [pair for pair, score in candidates.items() if score >= threshold]


def bucc_f1(predictions: Iterable[Pair | str], gold: Iterable[Pair | str]) -> dict[str, float]:
    """BUCC F1 / precision / recall in percent of predicted pairs against gold pairs (sets;
    pairs as tuples or "src\\ttrg" lines). All three are 0 when nothing is right."""
    pred_set = {_as_pair(p) for p in predictions}
    gold_set = {_as_pair(g) for g in gold}
    correct = len(pred_set & gold_set)
    if correct == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    precision, recall = correct / len(pred_set), correct / len(gold_set)
    return {"f1": 100.0 * 2 * precision * recall / (precision + recall),
            "precision": 100.0 * precision, "recall": 100.0 * recall}


def bucc_scores(candidates: Mapping[Pair, float], gold: Iterable[Pair | str],
                threshold: float) -> dict[str, float]:
    """F1 / precision / recall of the candidates at ``threshold`` (plus the threshold used)."""
    out = bucc_f1(bucc_extract(candidates, threshold), gold)
    out["threshold"] = float(threshold)
    return out


def bucc_dev_test(dev_candidates: Mapping[Pair, float], dev_gold: Iterable[Pair | str],
                  test_candidates: Mapping[Pair, float],
                  test_gold: Iterable[Pair | str] | None = None) -> dict:
    """The BUCC protocol: tune the threshold on dev gold, mine test with it.

    Returns ``threshold``, ``dev`` scores, the mined test ``pairs`` and, when test gold is
    given, ``test`` scores."""
    threshold = bucc_optimal_threshold(dev_candidates, dev_gold)
    out = {"threshold": threshold, "dev": bucc_scores(dev_candidates, dev_gold, threshold),
           "pairs": bucc_extract(test_candidates, threshold)}
    if test_gold is not None:
        out["test"] = bucc_f1(out["pairs"], test_gold)
    return out


def tatoeba_predictions(src_emb: np.ndarray, trg_emb: np.ndarray,
                        chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """For every target (English) sentence, the row of the nearest source sentence by cosine:
    the official Tatoeba search queries with the English side. Ties go to the lower row."""
    _, ind = knn(trg_emb, src_emb, 1, chunk)
    return ind[:, 0]


def _index(value: object) -> int:
    # Prediction files may hold "12" or a printed one-element array "[12]".
    return int(str(value).strip().strip("[]").strip())


def index_accuracy(predictions: Sequence, gold: Sequence | None = None) -> dict[str, float]:
    """Accuracy in percent of predicted indices; with no gold, the i-th answer is i."""
    if not len(predictions):
        raise ValueError("tatoeba: nothing to score (no predictions)")
    gold = list(range(len(predictions))) if gold is None else gold
    if len(gold) != len(predictions):
        raise ValueError(f"tatoeba: {len(predictions)} predictions but {len(gold)} gold indices")
    correct = sum(int(_index(p) == _index(g)) for p, g in zip(predictions, gold))
    return {"accuracy": 100.0 * correct / len(predictions)}


def tatoeba_accuracy(src_emb: np.ndarray, trg_emb: np.ndarray,
                     chunk: int = DEFAULT_CHUNK) -> dict[str, float]:
    """Tatoeba accuracy: row i of ``src_emb`` translates row i of ``trg_emb``."""
    if src_emb.shape[0] != trg_emb.shape[0]:
        raise ValueError(f"tatoeba: {src_emb.shape[0]} source but {trg_emb.shape[0]} target sentences")
    return index_accuracy(tatoeba_predictions(src_emb, trg_emb, chunk))


# ---------------------------------------------------------------- mAP@k (LAReQA, Mewsli-X)

MAP_K = 20  # XTREME-R scores both language-agnostic retrieval tasks on the top 20 candidates


def average_precision_at_k(relevant: Iterable[Hashable], ranked: Sequence[Hashable],
                           k: int = MAP_K) -> float:
    """AP@k of one query (0..1): over the first ``k`` ranked candidates, the precision at each
    rank that holds a relevant candidate not seen earlier in the list, summed and divided by
    min(number relevant, k), as XTREME-R scores LAReQA and Mewsli-X. With a single relevant
    candidate this is the reciprocal rank cut at k (Mewsli-X's "MRR/MAP@20"). A query with no
    relevant candidate is an error: the benchmarks have none."""
    targets = set(relevant)
    if not targets:
        raise ValueError("average_precision_at_k: the query has no relevant candidate")
    hits, total = 0, 0.0
    seen: set = set()
    for rank, cand in enumerate(list(ranked)[:k], 1):
        if cand in targets and cand not in seen:
            hits += 1
            total += hits / rank
        seen.add(cand)
    return total / min(len(targets), k)


def mean_average_precision(relevant: Sequence[Iterable[Hashable]], ranked: Sequence[Sequence[Hashable]],
                           k: int = MAP_K) -> dict[str, float]:
    """mAP@k in percent over queries (``relevant[i]`` and ``ranked[i]`` belong to query i)."""
    if len(relevant) != len(ranked):
        raise ValueError(f"mAP@{k}: {len(ranked)} ranked lists but {len(relevant)} gold sets")
    if not len(ranked):
        raise ValueError(f"mAP@{k}: nothing to score (no queries)")
    aps = [average_precision_at_k(r, p, k) for r, p in zip(relevant, ranked)]
    return {f"map@{k}": 100.0 * sum(aps) / len(aps)}


def rank_candidates(query_emb: np.ndarray, cand_emb: np.ndarray, k: int = MAP_K,
                    chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Rows of the ``k`` candidates nearest to each query by inner product (cosine for
    normalised embeddings), best first; ties go to the lower row."""
    _, ind = knn(query_emb, cand_emb, k, chunk)
    return ind
