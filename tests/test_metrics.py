"""Metric functions against hand-computed values: accuracy, seqeval, SQuAD v1.1/v2.0, MLQA,
MLM, BUCC mining and threshold tuning, Tatoeba, the dispatcher and the XTREME score; and gold
used as predictions on the real samples scoring 100."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from eval import metrics as M
from eval import retrieval_metrics as R
from eval.xtreme import LANGUAGES, TARGETS, XTREME_TASKS


def approx(x: float) -> object:
    return pytest.approx(x, abs=1e-9)


# ---------------------------------------------------------------- accuracy / tagging


def test_accuracy_hand():
    # 2 of 4 right -> 50 %
    assert M.accuracy(["a", "b", "c", "a"], ["a", "b", "b", "b"]) == {"accuracy": 50.0}
    # ints from a model against strings from a file compare by text
    assert M.accuracy([0, 1, 2], ["0", "1", "1"])["accuracy"] == approx(200 / 3)
    with pytest.raises(ValueError, match="3 predictions but 2 references"):
        M.accuracy([1, 2, 3], [1, 2])


def test_seqeval_hand_ner():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "O"]]
    # gold spans: PER, LOC, ORG (3); predicted: PER, ORG (2), both right
    # precision 2/2, recall 2/3, F1 = 2 * 1 * (2/3) / (5/3) = 0.8
    got = M.seqeval_prf(pred, gold)
    assert got["precision"] == approx(100.0)
    assert got["recall"] == approx(200 / 3)
    assert got["f1"] == approx(80.0)
    # a wrong type on a right span is wrong: PER right, ORG != LOC -> P = R = F1 = 1/2
    got = M.seqeval_prf([["B-PER", "I-PER", "O", "B-ORG"]], [["B-PER", "I-PER", "O", "B-LOC"]])
    assert got == {"f1": approx(50.0), "precision": approx(50.0), "recall": approx(50.0)}


def test_seqeval_pos_quirk_merges_adjacent_tags():
    # POS tags have no B-/I- prefix; seqeval (as the official scorer uses it) reads NOUN as
    # chunk tag "N" of type "OUN", so NOUN NOUN is ONE span. Gold spans: OUN(0-1), ERB(2);
    # predicted: OUN(0), ERB(1-2): no span matches although 2 of 3 tokens are right.
    got = M.seqeval_prf([["NOUN", "VERB", "VERB"]], [["NOUN", "NOUN", "VERB"]])
    assert got["f1"] == 0.0
    assert M.token_accuracy([["NOUN", "VERB", "VERB"]], [["NOUN", "NOUN", "VERB"]])["accuracy"] == approx(200 / 3)


def test_seqeval_length_errors():
    with pytest.raises(ValueError, match="sentence 0 has 1 predicted tags, 2 gold"):
        M.seqeval_prf([["O"]], [["O", "O"]])


# ---------------------------------------------------------------- SQuAD


def test_squad_normalization():
    assert M.normalize_squad("The  Cat, sat!") == "cat sat"
    assert M.normalize_squad("An apple a day") == "apple day"
    assert M.normalize_squad("theater") == "theater"  # articles only as whole words
    # SQuAD strips ASCII punctuation only: curly quotes stay
    assert M.normalize_squad("“Cat”") == "“cat”"


def test_squad_f1_hand():
    # pred tokens: cat sat on mat (4); gold: cat on mat (3); common 3
    # P = 3/4, R = 1, F1 = 1.5/1.75 = 6/7
    assert M.squad_f1("the cat sat on the mat", "a cat on a mat") == approx(6 / 7)
    assert M.squad_exact("the cat sat on the mat", "a cat on a mat") == 0.0
    # v1.1: two empty answers have no token in common -> F1 0, but they are an exact match
    assert M.squad_f1("", "") == 0.0 and M.squad_exact("", "the") == 1.0
    assert M.squad_v2_f1("", "") == 1.0 and M.squad_v2_f1("x", "") == 0.0


def test_squad_v1_max_over_golds_and_missing():
    refs = [{"id": "q1", "answers": {"text": ["Paris", "the city of Paris"]}},
            {"id": "q2", "answers": {"text": ["1912"]}},
            {"id": "q3", "answers": {"text": ["blue"]}}]
    preds = {"q1": "city of Paris", "q2": "in 1912"}
    # q1: exact with the 2nd gold; q2: EM 0, F1 P=1/2 R=1 -> 2/3; q3 unanswered: 0, still counted
    got = M.squad_v1(preds, refs)
    assert got["exact_match"] == approx(100 / 3)
    assert got["f1"] == approx(100 * (1 + 2 / 3) / 3)
    # SQuAD's own list-of-dicts answers read the same
    raw = [{"id": "q2", "answers": [{"text": "1912", "answer_start": 0}]}]
    assert M.squad_v1({"q2": "1912"}, raw) == {"exact_match": 100.0, "f1": 100.0}


def test_squad_v2_no_answer():
    refs = [{"id": "n1", "answers": {"text": []}}, {"id": "n2", "answers": {"text": []}},
            {"id": "a1", "answers": {"text": ["blue"]}}, {"id": "a2", "answers": {"text": ["red"]}}]
    preds = {"n1": "", "n2": "x", "a1": "Blue."}  # a2 has no prediction: left out (v2.0 script)
    got = M.squad_v2(preds, refs)
    # 3 scored: n1 right, n2 wrong, a1 right -> 2/3
    assert got["exact_match"] == approx(200 / 3) and got["f1"] == approx(200 / 3)
    assert got["HasAns_exact_match"] == 100.0 and got["NoAns_f1"] == 50.0


# ---------------------------------------------------------------- MLQA


def test_mlqa_normalization_per_language():
    n = M.normalize_mlqa
    assert n("The “Cat”!", "en") == "cat"  # Unicode punctuation goes too
    assert n("Der große Hund", "de") == "große hund"
    assert n("los perros", "es") == "perros"
    assert n("những con mèo", "vi") == "con mèo"
    assert n("एक किताब।", "hi") == "एक किताब"  # no articles; the danda is punctuation
    # Arabic: every "ال" becomes a space, word-initial or not
    assert n("الكتاب", "ar") == "كتاب"
    assert n("بالقلم", "ar") == "ب قلم"
    # Chinese: each ideograph is a token, other runs split on spaces, punctuation dropped
    assert n("你好，世界2008年", "zh") == "你 好 世 界 2008 年"
    assert M.mixed_segmentation("北京abc 12") == ["北", "京", "abc", "12"]
    with pytest.raises(ValueError, match="unknown answer language 'fr'"):
        n("x", "fr")


def test_mlqa_scores_hand():
    refs = [{"id": "z1", "answers": {"text": ["北京"]}}, {"id": "z2", "answers": {"text": ["2008年"]}}]
    preds = {"z1": "北京大学", "z2": "2008年。"}
    # z1: tokens 北 京 大 学 vs 北 京: P = 2/4, R = 1 -> F1 2/3, EM 0; z2: exact after punctuation
    got = M.mlqa(preds, refs, "zh")
    assert got["exact_match"] == approx(50.0)
    assert got["f1"] == approx(100 * (2 / 3 + 1) / 2)
    # the SQuAD scorer sees no spaces in z1 (one token each side, no overlap) and keeps the
    # ideographic full stop of z2 (not ASCII punctuation): 0 on both
    assert M.squad_v1(preds, refs) == {"exact_match": 0.0, "f1": 0.0}
    # G-XLT codes score by the context language
    assert M.mlqa(preds, refs, "zh-en") == got


# ---------------------------------------------------------------- MLM and dispatch


def test_mlm_hand():
    got = M.mlm([(10.0, 5, 3), (6.0, 3, 1)])  # 16 nats over 8 tokens, 4 right
    assert got["loss"] == approx(2.0)
    assert got["perplexity"] == approx(math.exp(2.0))
    assert got["accuracy"] == approx(50.0)
    assert "accuracy" not in M.mlm([(1.0, 1)])


def test_score_task_dispatch():
    assert M.score_task("accuracy", [1, 0], [1, 1], "de") == {"accuracy": 50.0}
    assert M.score_task("seqeval", [["B-X"]], [["B-X"]], "de")["f1"] == 100.0
    assert M.score_task("squad", {"a": "x"}, [{"id": "a", "answers": {"text": ["x"]}}], "en")["f1"] == 100.0
    assert M.score_task("mlqa", {"a": "x"}, [{"id": "a", "answers": {"text": ["x"]}}], "zh")["f1"] == 100.0
    assert M.score_task("bucc2018", ["s1\tt1", ("s2", "t9")], [("s1", "t1"), ("s2", "t2")], "de")["f1"] == 50.0
    assert M.score_task("tatoeba", [0, 5, 2], None, "de")["accuracy"] == approx(200 / 3)
    assert M.score_task("mlm", [(2.0, 2)], None, "en")["loss"] == 1.0
    with pytest.raises(ValueError, match="unknown scorer"):
        M.score_task("bleu", [], [], "en")


def test_every_target_scorer_is_known():
    for name, target in TARGETS.items():
        assert target.scorer in M.SCORERS, name
        assert target.metric in (*target.metrics, "em_f1"), name
    assert {len(LANGUAGES[t]) for t in ("xnli", "pawsx", "udpos", "panx")} == {15, 7, 33, 40}
    assert [len(LANGUAGES[t]) for t in ("xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba")] == [11, 7, 9, 4, 36]


# ---------------------------------------------------------------- XTREME score


def test_xtreme_score_hand():
    values = {"pawsx": 80, "xnli": 70, "udpos": 75, "panx": 65, "xquad": 60, "mlqa": 50,
              "tydiqa": 40, "bucc2018": 30, "tatoeba": 20}
    # plain mean over the nine tasks: 490 / 9
    assert M.xtreme_score({t: {"avg_metric": v} for t, v in values.items()}) == approx(490 / 9)
    assert M.xtreme_score(values) == approx(490 / 9)
    # categories: (80+70)/2=75, (75+65)/2=70, (60+50+40)/3=50, (30+20)/2=25
    assert M.category_scores(values) == {"classification": 75.0, "structured prediction": 70.0,
                                         "QA": 50.0, "retrieval": 25.0}
    del values["tatoeba"]
    with pytest.raises(ValueError, match="missing: tatoeba"):
        M.xtreme_score(values)
    assert "retrieval" not in M.category_scores(values)
    assert len(XTREME_TASKS) == 9


# ---------------------------------------------------------------- BUCC / Tatoeba


def _toy():
    e = np.eye(4, dtype=np.float32)
    src = np.stack([0.96 * e[0] + 0.28 * e[1], e[1], e[2]])
    trg = np.stack([e[1], e[0], 0.8 * e[2] + 0.6 * e[3], e[3]])
    return src, trg


def test_mine_pairs_hand():
    src, trg = _toy()
    # cos: s0=[.28,.96,0,0], s1=[1,0,0,0], s2=[0,0,.8,0]; k=4 -> all 4 targets, all 3 sources
    # fwd means: s0 1.24/4=.31, s1 .25, s2 .2; bwd means: t0 1.28/3, t1 .32, t2 .8/3, t3 0
    # s0-t1: .96/((.31+.32)/2) = 3.047619; s1-t0: 1/((.25+1.28/3)/2) = 2.955665;
    # s2-t2: .8/((.2+.8/3)/2) = 3.428571; t3 has no positive neighbour: never mined
    got = R.mine_pairs(src, trg, k=4)
    assert [(s, t) for s, t, _ in got] == [(2, 2), (0, 1), (1, 0)]
    assert [round(x, 5) for _, _, x in got] == [3.42857, 3.04762, 2.95567]
    assert [(s, t) for s, t, _ in R.mine_pairs(src, trg, mode="intersect")] == [(0, 1), (1, 0), (2, 2)]


def _reference_mine_max(x, y, k):
    """Direct loops over every candidate: the mining algorithm written out plainly."""
    sim = x @ y.T
    kf, kb = min(k, len(y)), min(k, len(x))
    fwd_nn = [np.argsort(-sim[i], kind="stable")[:kf] for i in range(len(x))]
    bwd_nn = [np.argsort(-sim[:, j], kind="stable")[:kb] for j in range(len(y))]
    fm = [sim[i, fwd_nn[i]].mean() for i in range(len(x))]
    bm = [sim[bwd_nn[j], j].mean() for j in range(len(y))]
    cands = []
    for i in range(len(x)):
        sc = [sim[i, j] / ((fm[i] + bm[j]) / 2) for j in fwd_nn[i]]
        cands.append((max(sc), i, int(fwd_nn[i][int(np.argmax(sc))])))
    for j in range(len(y)):
        sc = [sim[i, j] / ((bm[j] + fm[i]) / 2) for i in bwd_nn[j]]
        cands.append((max(sc), int(bwd_nn[j][int(np.argmax(sc))]), j))
    seen_s, seen_t, out = set(), set(), []
    for s, i, j in sorted(cands, key=lambda c: -c[0]):
        if i not in seen_s and j not in seen_t:
            seen_s.add(i), seen_t.add(j)
            if s > 0:
                out.append((i, j))
    return out


def test_mining_chunked_matches_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8)).astype(np.float32)
    y = rng.normal(size=(37, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    sims, inds = R.knn(x, y, 4, chunk=5)
    full = np.sort(x @ y.T, axis=1)[:, ::-1][:, :4]
    assert np.allclose(sims, full, atol=1e-6)
    small, big = R.mine_pairs(x, y, chunk=3), R.mine_pairs(x, y, chunk=1000)
    # block shapes change float32 rounding in the last place only
    assert [(s, t) for s, t, _ in small] == [(s, t) for s, t, _ in big]
    assert np.allclose([v for *_, v in small], [v for *_, v in big], atol=1e-6)
    assert [(s, t) for s, t, _ in small] == _reference_mine_max(x, y, 4)


def test_bucc_threshold_tuning_hand():
    dev = {("a", "1"): 0.9, ("b", "2"): 0.8, ("c", "3"): 0.7, ("d", "4"): 0.6}
    gold = [("a", "1"), ("c", "3"), ("e", "5")]
    # best first: a1 ok F1 .5 (th .85); b2 wrong F1 .4; c3 ok P=R=2/3 F1 2/3 (th (.7+.6)/2); d4 .571
    th = R.bucc_optimal_threshold(dev, gold)
    assert th == approx(0.65)
    dev_scores = R.bucc_scores(dev, gold, th)
    assert dev_scores["f1"] == approx(200 / 3) and dev_scores["precision"] == approx(200 / 3)
    # applied to test: x1 and z3 extracted, x1 right; gold has 2 -> P = R = F1 = 50
    test = {("x", "1"): 0.7, ("y", "2"): 0.6, ("z", "3"): 0.66}
    assert R.bucc_scores(test, ["x\t1", "y\t2"], th) == {"f1": 50.0, "precision": 50.0,
                                                          "recall": 50.0, "threshold": approx(0.65)}
    both = R.bucc_dev_test(dev, gold, test, ["x\t1", "y\t2"])
    assert both["threshold"] == approx(0.65) and both["pairs"] == [("x", "1"), ("z", "3")]
    assert both["test"]["f1"] == 50.0 and both["dev"]["recall"] == approx(200 / 3)
    # the best F1 on the last candidate: its own score; no correct candidate: 0
    assert R.bucc_optimal_threshold({("a", "1"): 0.9}, [("a", "1")]) == 0.9
    assert R.bucc_optimal_threshold({("a", "1"): 0.9}, [("b", "1")]) == 0.0


def test_bucc_candidates_ids_and_duplicates():
    src, trg = _toy()
    cands = R.bucc_candidates(src, trg, ["de-1", "de-2", "de-3"], ["en-1", "en-2", "en-3", "en-4"])
    assert set(cands) == {("de-1", "en-2"), ("de-2", "en-1"), ("de-3", "en-3")}
    # a text that occurs under two ids is ambiguous: left out, as the official scorer does
    src4 = np.concatenate([src, src[2:3]])
    texts = ["x", "y", "dup", "dup"]
    cands = R.bucc_candidates(src4, trg, ["d1", "d2", "d3", "d4"], ["e1", "e2", "e3", "e4"],
                              texts, ["p", "q", "r", "s"])
    assert set(cands) == {("d1", "e2"), ("d2", "e1")}


def test_tatoeba_hand():
    e = np.eye(3, dtype=np.float32)
    src = e
    # English queries: t0 -> s1 (wrong), t1 -> s1 (right), t2 -> s2 (right)
    trg = np.stack([e[1], e[1], (e[2] + 0.1 * e[0]) / np.linalg.norm(e[2] + 0.1 * e[0])])
    assert R.tatoeba_predictions(src, trg).tolist() == [1, 1, 2]
    assert R.tatoeba_accuracy(src, trg)["accuracy"] == approx(200 / 3)
    assert R.index_accuracy(["[0]", "1", " 7 "])["accuracy"] == approx(200 / 3)


# ---------------------------------------------------------------- gold as prediction (real samples)


def _tsv_column(path: str, col: int = -1) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t")[col] for line in f if line.strip()]


def _tag_sentences(path: str) -> list[list[str]]:
    out, cur = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                cur.append(line.rstrip("\n").split("\t")[-1])
            elif cur:
                out.append(cur)
                cur = []
    return out + ([cur] if cur else [])


def _squad_refs(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    return [{"id": qa["id"], "answers": {"text": [a["text"] for a in qa["answers"]]}}
            for art in data for par in art["paragraphs"] for qa in par["qas"]]


def test_gold_as_prediction_scores_100(real_data):
    j = lambda *p: os.path.join(real_data, *p)  # noqa: E731
    labels = _tsv_column(j("xnli", "dev-de.tsv"))
    assert M.score_task("accuracy", labels, labels, "de") == {"accuracy": 100.0}
    for task in ("panx", "udpos"):
        tags = _tag_sentences(j(task, "dev-zh.tsv"))
        assert M.score_task("seqeval", tags, tags, "zh") == {"f1": 100.0, "precision": 100.0, "recall": 100.0}
    for scorer, path, lang in (("squad", j("xquad", "xquad.de.json"), "de"),
                               ("squad", j("squad", "dev-v1.1.subset.json"), "en"),
                               ("squad_v2", j("squad", "dev-v1.1.subset.json"), "en"),
                               ("mlqa", j("mlqa", "MLQA_V1", "dev", "dev-context-zh-question-zh.json"), "zh"),
                               ("mlqa", j("mlqa", "MLQA_V1", "dev", "dev-context-de-question-en.json"), "de-en")):
        refs = _squad_refs(path)
        preds = {r["id"]: r["answers"]["text"][-1] for r in refs}
        got = M.score_task(scorer, preds, refs, lang)
        assert (got["exact_match"], got["f1"]) == (100.0, 100.0), path
    gold = [tuple(line.split("\t")) for line in open(j("bucc2018", "zh-en.dev.gold"), encoding="utf-8").read().split("\n") if line]
    assert M.score_task("bucc", gold, gold, "zh")["f1"] == 100.0
    assert M.score_task("tatoeba", list(range(200)), None, "de")["accuracy"] == 100.0


def test_corrupted_predictions_hand(real_data):
    labels = _tsv_column(os.path.join(real_data, "xnli", "dev-de.tsv"))
    assert len(labels) == 200
    wrong = {"entailment": "neutral", "neutral": "contradiction", "contradiction": "entailment"}
    preds = [wrong[l] if i < 30 else l for i, l in enumerate(labels)]
    assert M.accuracy(preds, labels)["accuracy"] == approx(85.0)  # 170 / 200
    gold = [tuple(line.split("\t")) for line in open(os.path.join(real_data, "bucc2018", "zh-en.dev.gold"),
                                                     encoding="utf-8").read().split("\n") if line]
    assert len(gold) == 257
    # drop 57 gold pairs and add 43 wrong ones: 200 right of 243 predicted, of 257 gold
    pred = gold[:200] + [(s, "en-x") for s, _ in gold[:43]]
    got = M.score_task("bucc", pred, gold, "zh")
    assert got["precision"] == approx(100 * 200 / 243) and got["recall"] == approx(100 * 200 / 257)
    assert got["f1"] == approx(100 * 2 * 200 / (243 + 257))
