"""Retrieval scoring on hand-worked embeddings: every mining mode, the threshold rules, BUCC
candidates (k, duplicates, ids on one side), Tatoeba and the retrieval front (eval/retrieval.py)
with and without a dev split. The numbers are worked out in the comments."""
from __future__ import annotations

import numpy as np
import pytest

from eval import retrieval
from eval import retrieval_metrics as R


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-5, abs=1e-6)


def _toy() -> tuple[np.ndarray, np.ndarray]:
    # cos(s_i, t_j): s0 = [.28 .96 0 0], s1 = [1 0 0 0], s2 = [0 0 .8 0]
    e = np.eye(4, dtype=np.float32)
    src = np.stack([0.96 * e[0] + 0.28 * e[1], e[1], e[2]])
    trg = np.stack([e[1], e[0], 0.8 * e[2] + 0.6 * e[3], e[3]])
    return src, trg


# k = 4: fwd means s0 .31, s1 .25, s2 .2; bwd means t0 1.28/3, t1 .32, t2 .8/3, t3 0
S01 = 0.96 / ((0.31 + 0.32) / 2)          # s0-t1  3.047619
S10 = 1.0 / ((0.25 + 1.28 / 3) / 2)       # s1-t0  2.955665
S22 = 0.8 / ((0.2 + 0.8 / 3) / 2)         # s2-t2  3.428571


def test_every_mining_mode_on_the_toy():
    src, trg = _toy()
    fwd = R.mine_pairs(src, trg, mode="fwd")
    assert [(s, t) for s, t, _ in fwd] == [(0, 1), (1, 0), (2, 2)]
    assert [x for *_, x in fwd] == [approx(S01), approx(S10), approx(S22)]
    # t3 has only zero similarities: its best source (s0, the lowest row) scores 0, not > 0
    bwd = R.mine_pairs(src, trg, mode="bwd")
    assert [(s, t) for s, t, _ in bwd] == [(1, 0), (0, 1), (2, 2)]
    assert [x for *_, x in bwd] == [approx(S10), approx(S01), approx(S22)]
    with pytest.raises(ValueError, match=r"^unknown mining mode 'both' \(fwd, bwd, intersect, max\)$"):
        R.mine_pairs(src, trg, mode="both")


def test_a_pair_scoring_exactly_the_threshold_is_not_mined():
    src, trg = _toy()
    s10 = R.mine_pairs(src, trg, mode="fwd")[1][2]
    assert [(s, t) for s, t, _ in R.mine_pairs(src, trg, mode="fwd", threshold=s10)] == [(0, 1), (2, 2)]
    assert [(s, t) for s, t, _ in R.mine_pairs(src, trg, mode="max", threshold=s10)] == [(2, 2), (0, 1)]


def test_the_default_threshold_keeps_margins_under_one():
    # x0 = x1 = y0 crowd y0 (its k-NN mean is (1 + 1 + .5) / 3); x2 = .5 y0 + .866 e2 finds y0
    # best with margin .5 / ((.25 + 5/6) / 2) = .923: positive, under 1, so mined by default
    e = np.eye(3, dtype=np.float32)
    x = np.stack([e[0], e[0], 0.5 * e[0] + np.sqrt(0.75) * e[2]]).astype(np.float32)
    y = np.stack([e[0], e[1]])
    fwd = R.mine_pairs(x, y, mode="fwd")
    assert (2, 0) == fwd[2][:2] and fwd[2][2] == approx(0.5 / ((0.25 + 2.5 / 3) / 2))


def test_greedy_max_takes_tied_scores_in_the_order_given():
    # fwd pairs first, then bwd pairs, each in row order, when scores tie (a stable sort)
    rng = np.random.default_rng(3)
    n = 30
    fwd_best, bwd_best = rng.permutation(n), rng.permutation(n)
    fwd_max = rng.integers(1, 4, n).astype(np.float64)
    bwd_max = rng.integers(1, 4, n).astype(np.float64)
    got = R._greedy_max(fwd_best, bwd_best, fwd_max, bwd_max, 2.0)
    cands = [(fwd_max[i], i, int(fwd_best[i])) for i in range(n)] + \
            [(bwd_max[j], int(bwd_best[j]), j) for j in range(n)]
    seen_s, seen_t, want = set(), set(), []
    for score, s, t in sorted(cands, key=lambda c: -c[0]):  # Python's sort is stable
        if s not in seen_s and t not in seen_t:
            seen_s.add(s), seen_t.add(t)
            if score > 2.0:
                want.append((s, t, score))
    assert got == want
    assert any(score == 2.0 for score, *_ in cands)  # the threshold itself is not mined


def test_bucc_candidates_k_scores_and_one_sided_texts():
    src, trg = _toy()
    ids_s, ids_t = ["d1", "d2", "d3"], ["e1", "e2", "e3", "e4"]
    cands = R.bucc_candidates(src, trg, ids_s, ids_t)
    assert cands == {("d3", "e3"): approx(S22), ("d1", "e2"): approx(S01), ("d2", "e1"): approx(S10)}
    # k = 1: every mean is the best similarity itself; s1-t0: 1 / ((1 + 1) / 2) = 1
    assert R.bucc_candidates(src, trg, ids_s, ids_t, k=1)[("d2", "e1")] == approx(1.0)
    # texts on one side only: every row is its own sentence
    assert R.bucc_candidates(src, trg, ids_s, ids_t, src_texts=["a", "b", "c"]) == cands
    # a target text under two ids is ambiguous: its pairs are left out
    trg5 = np.concatenate([trg, trg[2:3]])
    got = R.bucc_candidates(src, trg5, ids_s, ids_t + ["e5"], ["a", "b", "c"], ["p", "q", "r", "s", "r"])
    assert set(got) == {("d1", "e2"), ("d2", "e1")}
    for bad_s, bad_t in ((ids_s[:2], ids_t), (ids_s, ids_t[:3])):
        with pytest.raises(ValueError, match=r"^bucc_candidates: one id per embedding row is needed on both sides$"):
            R.bucc_candidates(src, trg, bad_s, bad_t)


def test_bucc_candidates_keep_the_best_score_of_a_repeated_id_pair():
    src, trg = _toy()
    got = R.bucc_candidates(src, trg, ["d", "d", "d"], ["e", "e", "e", "e"])
    assert got == {("d", "e"): approx(S22)}


def test_tatoeba_accuracy_counts_sentences_not_dimensions():
    e = np.eye(5, dtype=np.float32)
    src, trg = e[:3], np.stack([e[1], e[1], e[2]])
    assert R.tatoeba_accuracy(src, trg)["accuracy"] == approx(200 / 3)
    with pytest.raises(ValueError, match=r"^tatoeba: 3 source but 2 target sentences$"):
        R.tatoeba_accuracy(src, trg[:2])
    with pytest.raises(ValueError, match=r"^tatoeba: 3 source but 2 target sentences$"):
        retrieval.tatoeba(src, trg[:2])


# ---------------------------------------------------------------- eval/retrieval.py


def test_retrieval_tatoeba_scores_and_predicts():
    e = np.eye(5, dtype=np.float32)  # 3 sentences of 5 dimensions
    metrics, preds = retrieval.score("tatoeba", {}, {"src": e[:3], "trg": np.stack([e[1], e[1], e[2]])})
    assert preds == [1, 1, 2] and all(type(p) is int for p in preds)
    assert metrics == {"accuracy": approx(200 / 3)}


def _parts(prefix: str = "") -> tuple[dict, dict]:
    src, trg = _toy()
    parts = {prefix + "src": [("d1", "a"), ("d2", "b"), ("d3", "c")],
             prefix + "trg": [("e1", "p"), ("e2", "q"), ("e3", "r"), ("e4", "s")]}
    return parts, {prefix + "src": src, prefix + "trg": trg}


@pytest.mark.parametrize("name", ["bucc", "bucc2018"])
def test_retrieval_bucc_scores_dev_on_its_own_gold(name):
    parts, emb = _parts()
    parts["gold"] = [("d1", "e2"), ("d3", "e3")]
    metrics, pairs = retrieval.score(name, parts, emb)
    # best first: d3-e3 right, d1-e2 right (F1 1, threshold halfway to d2-e1), d2-e1 wrong
    assert pairs == [("d3", "e3"), ("d1", "e2")]
    assert metrics == {"f1": 100.0, "precision": 100.0, "recall": 100.0, "threshold": approx((S01 + S10) / 2)}


def test_retrieval_bucc_tunes_on_dev_and_scores_test():
    parts, emb = _parts()
    dev_parts, dev_emb = _parts("dev_")
    parts.update(dev_parts, dev_gold=[("d1", "e2"), ("d3", "e3")], gold=[("d1", "e2")])
    emb.update(dev_emb)
    metrics, pairs = retrieval.score("bucc2018", parts, emb)
    assert pairs == [("d3", "e3"), ("d1", "e2")]
    # test: 2 extracted, 1 right, 1 gold: P 50, R 100, F1 66.7
    assert metrics == {"f1": approx(200 / 3), "precision": 50.0, "recall": 100.0,
                       "threshold": approx((S01 + S10) / 2)}
    # without test gold: the mined pairs only
    parts.pop("gold")
    assert retrieval.score("bucc", parts, emb) == ({}, [("d3", "e3"), ("d1", "e2")])


def test_retrieval_ranked_and_unknown_scorer():
    e = np.eye(3, dtype=np.float32)
    parts = {"src": [("q1", "x"), ("q2", "y")], "trg": [("c1", "a"), ("c2", "b"), ("c3", "c")]}
    emb = {"src": np.stack([e[1], e[2]]), "trg": e}
    metrics, preds = retrieval.score("map@20", parts, emb)
    assert metrics == {} and preds["q1"][0] == "c2" and preds["q2"][0] == "c3" and len(preds["q1"]) == 3
    parts["gold"] = [("q1", "c2"), ("q2", "c1")]
    metrics, _ = retrieval.score("map@20", parts, emb)
    # q1: c2 at rank 1 -> 1; q2: c1 at rank 2 (ties to the lower row after c3) -> 1/2
    assert metrics == {"map@20": approx(75.0)}
    metrics, preds = retrieval.ranked(parts, emb, k=1)
    assert metrics == {"map@1": approx(50.0)} and preds == {"q1": ["c2"], "q2": ["c3"]}
    parts["gold"] = [("q1", "c2")]
    with pytest.raises(ValueError, match=r"^mAP@20: 1 queries have no relevant candidate \(e\.g\. 'q2'\)$"):
        retrieval.score("map@20", parts, emb)
    with pytest.raises(ValueError, match=r"^no retrieval scorer named 'map@10'$"):
        retrieval.score("map@10", parts, emb)


@pytest.mark.parametrize("side, left", [("src", ("d2", "e1")), ("trg", ("d1", "e2"))])
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide")
def test_retrieval_bucc_leaves_out_a_text_under_two_ids(side, left):
    parts, emb = _parts()
    # rows 0 and 2 of one side share a text: it is mined once and, its id being ambiguous,
    # left out; of the toy's three pairs (s0-t1, s1-t0, s2-t2) only the one avoiding both stays
    rows = parts[side]
    parts[side] = [(i, rows[0][1] if n == 2 else t) for n, (i, t) in enumerate(rows)]
    parts["gold"] = [left]
    metrics, pairs = retrieval.score("bucc", parts, emb)
    assert pairs == [left] and metrics["f1"] == 100.0


def test_bucc_candidates_use_k_4_by_default():
    # the official BUCC mining: ratio margin over k = 4 neighbours (here 7 rows a side, so k matters)
    rng = np.random.default_rng(0)
    x, y = (rng.normal(size=(7, 6)).astype(np.float32) for _ in range(2))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    ids = list(range(7))
    assert R.bucc_candidates(x, y, ids, ids) == R.bucc_candidates(x, y, ids, ids, k=4)
    assert R.bucc_candidates(x, y, ids, ids) != R.bucc_candidates(x, y, ids, ids, k=5)


def test_bucc_threshold_keeps_the_first_cut_of_tied_f1():
    # gold 3; best first: right (F1 2*1/(1+3) = .5), three wrong, right (2*2/(5+3) = .5, a tie):
    # the official bucc_optimize moves the threshold only on a strictly better F1
    cands = {("a", "1"): 0.9, ("b", "2"): 0.8, ("c", "3"): 0.7, ("d", "4"): 0.6, ("e", "5"): 0.5}
    gold = [("a", "1"), ("e", "5"), ("z", "9")]
    assert R.bucc_optimal_threshold(cands, gold) == pytest.approx(0.85)


def test_index_accuracy_gold_and_messages():
    assert R.index_accuracy([2, 1, 0], [2, 0, 0]) == {"accuracy": pytest.approx(200 / 3)}
    with pytest.raises(ValueError, match=r"^tatoeba: nothing to score \(no predictions\)$"):
        R.index_accuracy([])
    with pytest.raises(ValueError, match=r"^tatoeba: 2 predictions but 3 gold indices$"):
        R.index_accuracy([0, 1], [0, 1, 2])
    with pytest.raises(ValueError):  # only brackets and spaces are stripped
        R.index_accuracy(["X1"])


def test_bucc_f1_nothing_right_and_tab_separated_lines():
    assert R.bucc_f1([("a", "1")], [("b", "2")]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    # a line is split at its tab only: ids may hold spaces
    assert R.bucc_f1(["de 1\ten 1\n"], [("de 1", "en 1")])["f1"] == 100.0


@pytest.mark.parametrize("nq, nb, k", [(2, 0, 1), (0, 2, 1), (2, 2, 0)])
def test_knn_refuses_empty_sides_and_k_under_1(nq, nb, k):
    q, b = np.ones((nq, 3), np.float32), np.ones((nb, 3), np.float32)
    with pytest.raises(ValueError, match=rf"^knn: needs rows on both sides and k >= 1 \(got {nq} queries, "
                                         rf"{nb} candidates, k={k}\)$"):
        R.knn(q, b, k)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_knn_equals_a_full_sort_for_every_k_and_block_size(k):
    rng = np.random.default_rng(k)
    q = rng.normal(size=(25, 6)).astype(np.float32)
    b = rng.normal(size=(17, 6)).astype(np.float32)
    want = np.argsort(-(q @ b.T), axis=1, kind="stable")[:, :k]
    for chunk in (1, 4, 100):
        sims, ind = R.knn(q, b, k, chunk=chunk)
        assert ind.tolist() == want.tolist() and sims.dtype == np.float32 and ind.dtype == np.int64
        assert np.allclose(sims, np.take_along_axis(q @ b.T, want, axis=1), atol=1e-5)
    one_q, one_b = R.knn(q[:1], b[:1], k)  # a single row on either side is enough
    assert one_b.tolist() == [[0]]


def test_map_messages():
    with pytest.raises(ValueError, match=r"^average_precision_at_k: the query has no relevant candidate$"):
        R.average_precision_at_k(set(), [1])
    with pytest.raises(ValueError, match=r"^mAP@20: 1 ranked lists but 2 gold sets$"):
        R.mean_average_precision([{1}, {2}], [[1]])
    with pytest.raises(ValueError, match=r"^mAP@5: nothing to score \(no queries\)$"):
        R.mean_average_precision([], [], k=5)


@pytest.mark.parametrize("k", [1, 3])
def test_knn_equals_a_full_sort_on_blocks_wider_than_a_small_sort(k):
    rng = np.random.default_rng(10 + k)
    q = rng.normal(size=(40, 8)).astype(np.float32)
    b = rng.normal(size=(300, 8)).astype(np.float32)
    want = np.argsort(-(q @ b.T), axis=1, kind="stable")[:, :k]
    for chunk in (64, 2048):
        assert R.knn(q, b, k, chunk=chunk)[1].tolist() == want.tolist()
