"""XTREME-R: mAP@20 on hand-checked rankings, the XTREME-R score, the readers of XCOPA, SIQA,
LAReQA (XQuAD-R) and Mewsli-X on generated files in their released layouts, the XTREME-R
language lists of UD-POS and WikiANN on the real samples, and a shared candidate pool embedded
once by the evaluator."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from eval import retrieval
from eval import retrieval_metrics as rm
from eval.metrics import score_task, xtreme_r_score
from eval.results import build_results
from eval.xtreme import LANGUAGES, TARGETS, XTREME_R_TASKS
from trainer.tasks import get_task
from trainer.tasks.base import SkipCounter

# ---------------------------------------------------------------- mAP@20


def test_average_precision_at_k_hand_checked():
    ap = rm.average_precision_at_k
    assert ap({1, 3}, [1, 2, 3, 4, 5], k=3) == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert ap({"a"}, ["b", "c", "a"]) == pytest.approx(1 / 3)  # one relevant: reciprocal rank
    assert ap({"a"}, ["b"] * 20 + ["a"]) == 0.0  # rank 21 is past the cut
    assert ap(set(range(25)), list(range(20))) == 1.0  # divisor min(25, 20)
    assert ap({1, 2, 3}, [1, 1, 1], k=3) == pytest.approx(1 / 3)  # a repeat is no new hit
    assert ap({6, 7}, [6, 4, 7, 1, 2], k=2) == pytest.approx(0.5)  # (1/1) / min(2, 2)
    with pytest.raises(ValueError):
        ap(set(), [1])


def test_map_from_embeddings_and_from_files(tmp_path):
    # three queries, four candidates on the unit circle; q0 -> c0 best, q1 -> c2 at rank 2, q2
    # has two relevant candidates at ranks 1 and 3
    angle = np.radians([0, 30, 100, 200])
    cands = np.stack([np.cos(angle), np.sin(angle)], 1).astype(np.float32)
    queries = np.asarray([[1, 0], [np.cos(np.radians(60)), np.sin(np.radians(60))],
                          [np.cos(np.radians(170)), np.sin(np.radians(170))]], dtype=np.float32)
    parts = {"src": [("q0", ""), ("q1", ""), ("q2", "")],
             "trg": [(f"c{i}", "") for i in range(4)],
             "gold": [("q0", "c0"), ("q1", "c2"), ("q2", "c3"), ("q2", "c1")]}
    metrics, preds = retrieval.score("map@20", parts, {"src": queries, "trg": cands})
    assert preds["q0"] == ["c0", "c1", "c2", "c3"] and preds["q1"][:2] == ["c1", "c2"]
    assert preds["q2"] == ["c3", "c2", "c1", "c0"]
    expected = (1.0 + 1 / 2 + (1 + 2 / 3) / 2) / 3
    assert metrics == {"map@20": pytest.approx(100 * expected)}
    # the same through the prediction-file layout of `xstilts score`
    from eval.scorer import family, score_file, write_predictions

    assert family("mewslix") == "ranked" and family("lareqa") == "ranked"
    pred = write_predictions("mewslix", "de", preds, str(tmp_path / "pred"))
    gold_dir = tmp_path / "gold" / "mewslix"
    gold_dir.mkdir(parents=True)
    (gold_dir / "test-de.json").write_text(json.dumps({"q0": ["c0"], "q1": ["c2"], "q2": ["c3", "c1"]}))
    assert score_file("mewslix", "de", pred, str(gold_dir / "test-de.json")) == metrics
    # a query missing from the predictions scores 0 (the Mewsli-X scorer's partial credit)
    assert score_task("map@20", {"q0": ["c0"]}, {"q0": ["c0"], "q1": ["c2"]}, "de") == {"map@20": 50.0}


def test_xtreme_r_score_is_the_mean_of_ten_tasks():
    values = {t: float(10 * i) for i, t in enumerate(XTREME_R_TASKS)}
    assert xtreme_r_score(values) == pytest.approx(45.0)
    with pytest.raises(ValueError, match="lareqa"):
        xtreme_r_score({t: v for t, v in values.items() if t != "lareqa"})
    per_task = {}
    for task, v in values.items():
        metric = TARGETS[task].metric
        names = ("exact_match", "f1") if metric == "em_f1" else (metric,)
        per_task[task] = {lang: {n: v for n in names} for lang in LANGUAGES[task]}
    res = build_results(per_task)
    assert res["xtreme_r_score"] == pytest.approx(45.0)
    assert res["xtreme_r_category_scores"]["retrieval"] == pytest.approx((70 + 80 + 90) / 3)
    assert res["xtreme_score"] is None  # PAWS-X and BUCC are not in XTREME-R
    del per_task["panx_r"]["ro"]
    res = build_results(per_task)
    assert res["xtreme_r_score"] is None and "panx_r" in res["xtreme_r_score_note"]
    assert "xtreme_r_score" not in build_results({"xnli": per_task["xnli"]})  # XTREME-only run


# ---------------------------------------------------------------- readers


def _jsonl(path, rows) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return str(path)


def test_xcopa_and_copa_and_siqa_readers(tmp_path):
    xcopa = get_task("xcopa")
    row = {"premise": "Ese vaso se rompió.", "choice1": "Cayó.", "choice2": "Brilló.",
           "question": "cause", "label": 0, "idx": 7}
    _jsonl(tmp_path / "xcopa/data/et/test.et.jsonl", [row, {**row, "question": "effect", "label": 1, "idx": 8}])
    path = xcopa.local_path(str(tmp_path), "test", "et")
    ex = list(xcopa.read_local(path, "test", "et", SkipCounter()))
    assert ex[0] == {"id": "test-et-7", "context": "Ese vaso se rompió.", "question": "What was the cause?",
                     "choices": ["Cayó.", "Brilló."], "label": 0}
    assert ex[1]["question"] == "What happened as a result?" and ex[1]["label"] == 1
    # English is SuperGLUE's COPA; its test file withholds labels
    assert xcopa.local_path("R", "train", "en") == os.path.join("R", "copa", "train.jsonl")
    _jsonl(tmp_path / "copa/test.jsonl", [{k: v for k, v in row.items() if k != "label"}])
    assert next(xcopa.read_local(str(tmp_path / "copa/test.jsonl"), "test", "en", SkipCounter()))["label"] == -1
    _jsonl(tmp_path / "bad.jsonl", [{**row, "question": "why"}])
    with pytest.raises(ValueError, match="bad.jsonl:1: question 'why'"):
        list(xcopa.read_local(str(tmp_path / "bad.jsonl"), "test", "et", SkipCounter()))

    siqa = get_task("siqa")
    q = {"context": "Tracy fed the dog.", "question": "Why?", "answerA": "hungry dog", "answerB": "a", "answerC": "b"}
    _jsonl(tmp_path / "siqa/dev.jsonl", [q, q])
    (tmp_path / "siqa/dev-labels.lst").write_text("1\n3\n")
    ex = list(siqa.read_local(str(tmp_path / "siqa/dev.jsonl"), "validation", "en", SkipCounter()))
    assert [e["label"] for e in ex] == [0, 2] and ex[0]["choices"] == ["hungry dog", "a", "b"]
    assert siqa.head == xcopa.head  # the SIQA phase hands its scorer to COPA
    (tmp_path / "siqa/dev-labels.lst").write_text("1\n")
    with pytest.raises(ValueError, match="1 labels for 2 questions"):
        list(siqa.read_local(str(tmp_path / "siqa/dev.jsonl"), "validation", "en", SkipCounter()))
    _jsonl(tmp_path / "siqa/train-de.jsonl", [q])  # a translated file without its labels
    with pytest.raises(ValueError, match="train-de-labels.lst.*not found"):
        list(siqa.read_local(str(tmp_path / "siqa/train-de.jsonl"), "train", "de", SkipCounter()))
    unlabeled = list(siqa.read_local(str(tmp_path / "siqa/train-de.jsonl"), "test", "de", SkipCounter()))
    assert [e["label"] for e in unlabeled] == [-1]


def write_xquad_r(root: str) -> None:
    """Two paragraphs per language; question p-q asks about sentence q of paragraph p."""
    for lang in LANGUAGES["lareqa"]:
        paras = []
        for p in range(2):
            sents = [f"{lang} sentence {p}{s}." for s in range(3)]
            context = " ".join(sents)
            breaks, start = [], 0
            for s in sents:
                breaks.append([start, start + len(s)])
                start += len(s) + 1
            qas = [{"id": f"x{p}{q}", "question": f"{lang} question {p}{q}?",
                    "answers": [{"text": sents[q][:4], "answer_start": breaks[q][0] + 1}]} for q in (0, 2)]
            paras.append({"context": context, "sentence_breaks": breaks, "qas": qas})
        doc = {"data": [{"title": "t", "paragraphs": paras}]}
        path = os.path.join(root, "lareqa", "xquad-r", f"{lang}.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f)


def test_lareqa_pool_spans_every_language(tmp_path):
    write_xquad_r(str(tmp_path))
    src, pool, gold = get_task("lareqa").read_pairs(str(tmp_path), "test", "de")
    assert src[0] == ("x00_de", "de question 00?") and len(src) == 4
    # a candidate is its sentence, then its paragraph (as the benchmark's dual encoder reads it)
    assert len(pool) == 11 * 2 * 3 and pool[0] == ("ar_1_0", "ar sentence 00.ar sentence 00. ar sentence 01. "
                                                             "ar sentence 02.")
    relevant = sorted(c for q, c in gold if q == "x12_de")
    assert relevant == sorted(f"{lang}_2_2" for lang in LANGUAGES["lareqa"])
    # an encoder that knows the file's construction (question p-q answers sentence q of
    # paragraph p in every language) scores 100; one that pairs the wrong sentence scores less
    dim = len(pool)
    c_emb = np.eye(dim, dtype=np.float32)

    def encoder(shift: int) -> np.ndarray:
        q_emb = np.zeros((len(src), dim), np.float32)
        for i, (qid, _) in enumerate(src):
            p, q = int(qid[1]), int(qid[2])
            for j, (cid, _) in enumerate(pool):
                if cid.endswith(f"_{p + 1}_{(q + shift) % 3}"):
                    q_emb[i, j] = 1.0
        return q_emb / np.linalg.norm(q_emb, axis=1, keepdims=True)

    data = {"src": src, "trg": pool, "gold": gold}
    right, _ = retrieval.score("map@20", data, {"src": encoder(0), "trg": c_emb})
    wrong, _ = retrieval.score("map@20", data, {"src": encoder(1), "trg": c_emb})
    assert right["map@20"] == pytest.approx(100.0) and wrong["map@20"] < 50.0


def test_lareqa_counts_questions_whose_answer_is_in_no_sentence(tmp_path, caplog):
    from trainer.tasks.lareqa import read_xquad_r

    para = {"context": "One. Two.", "sentence_breaks": [[0, 4], [5, 9]],
            "qas": [{"id": "a", "question": "q?", "answers": [{"text": "Two", "answer_start": 5}]},
                    {"id": "b", "question": "r?", "answers": [{"text": " ", "answer_start": 4}]}]}
    path = tmp_path / "de.json"
    path.write_text(json.dumps({"data": [{"paragraphs": [para]}]}))
    with caplog.at_level("WARNING", logger="xstilts.tasks"):
        questions, candidates, answers = read_xquad_r(str(path), "de")
    assert questions == [("a", "q?")] and answers == {"a": {"de_1_1"}} and len(candidates) == 2
    assert "1 question(s) skipped" in caplog.text



GOOD_PARA = {"context": "One. Two.", "sentence_breaks": [[0, 4], [5, 9]],
             "qas": [{"id": "a", "question": "q?", "answers": [{"text": "Two", "answer_start": 5}]}]}


@pytest.mark.parametrize("doc, message", [
    ([GOOD_PARA], r"de.json:1: not an XQuAD-R file"),
    ({"data": ["oops"]}, r"de.json: article 1 has no 'paragraphs' list"),
    ({"data": [{"paragraphs": [GOOD_PARA, "p"]}]}, r"de.json: paragraph 2 lacks 'context'"),
    ({"data": [{"paragraphs": [{**GOOD_PARA, "sentence_breaks": [[0, 4], [5]]}]}]},
     r"de.json: paragraph 1: 'sentence_breaks' must be \[start, end\]"),
    ({"data": [{"paragraphs": [{**GOOD_PARA, "sentence_breaks": [[0, 40]]}]}]}, r"within its context"),
    ({"data": [{"paragraphs": [{**GOOD_PARA, "qas": [{"id": "a", "answers": []}]}]}]},
     r"de.json:1: paragraph 1: a question lacks 'id', 'question' or 'answers'"),
    ({"data": [{"paragraphs": [{**GOOD_PARA, "qas": ["q"]}]}]}, r"de.json: paragraph 1: a question lacks"),
    ({"data": [{"paragraphs": [{**GOOD_PARA, "qas": [{**GOOD_PARA["qas"][0], "answers": [
        {"text": "One", "answer_start": 0}, {"text": "Two", "answer_start": 5}]}]}]}]},
     r"de.json:1: question a: expected exactly one answer"),
    ({"data": [{"paragraphs": [{**GOOD_PARA, "qas": [{**GOOD_PARA["qas"][0], "answers": ["Two"]}]}]}]},
     r"question a: expected exactly one answer with an answer_start"),
])
def test_lareqa_malformed_files_name_the_file(tmp_path, doc, message):
    from trainer.tasks.base import DataError
    from trainer.tasks.lareqa import read_xquad_r

    path = tmp_path / "de.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=message):
        read_xquad_r(str(path), "de")


def write_mewslix(root: str) -> None:
    ents = [{"entity_id": f"Q{i}", "title": f"E{i}", "description": f"Entity {i} is here.  Second {{bit}}.",
             "sentence_spans": [{"start": 0, "end": 17}], "description_language": "en",
             "description_url": "u"} for i in range(3)]
    _jsonl(os.path.join(root, "mewslix", "candidate_set_entities.jsonl"), ents)
    text = "First sentence. The verdict came for Smith {x} today."
    s = text.index("Smith")
    ctx = {"document_title": "d", "document_url": "u", "document_id": "Q9", "language": "de", "text": text,
           "sentence_spans": [{"start": 0, "end": 15}, {"start": 16, "end": len(text)}]}
    mentions = [{"example_id": "de-1", "entity_id": "Q2",
                 "mention_span": {"start": s, "end": s + 5, "text": "Smith"}}]
    _jsonl(os.path.join(root, "mewslix", "wikinews_mentions-test.jsonl"),
           [{"context": ctx, "mentions": mentions}, {"context": {**ctx, "language": "ja"}, "mentions": [
               {**mentions[0], "example_id": "ja-1", "entity_id": "Q0"}]}])


def test_mewslix_reader(tmp_path):
    write_mewslix(str(tmp_path))
    src, pool, gold = get_task("mewslix").read_pairs(str(tmp_path), "test", "de")
    assert src == [("de-1", "Smith: The verdict came for { Smith } (x) today.")]
    assert pool[0] == ("Q0", "Entity 0 is here.") and len(pool) == 3
    assert gold == [("de-1", "Q2")]
    # gold for some mentions but not all cannot be scored: refused, naming the file
    part = tmp_path / "partial"
    write_mewslix(str(part))
    path = part / "mewslix" / "wikinews_mentions-test.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["mentions"].append({**rows[0]["mentions"][0], "example_id": "de-2", "entity_id": ""})
    _jsonl(str(path), rows)
    with pytest.raises(ValueError, match="wikinews_mentions-test.jsonl.*1 of 2 de mentions have no entity_id"):
        get_task("mewslix").read_pairs(str(part), "test", "de")




def test_mewslix_one_mention_per_line_and_bad_rows(tmp_path):
    from trainer.tasks.base import DataError
    from trainer.tasks.mewslix import read_entities, read_mentions

    write_mewslix(str(tmp_path))
    task = get_task("mewslix")
    expected = task.read_pairs(str(tmp_path), "test", "de")
    path = tmp_path / "mewslix" / "wikinews_mentions-test.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    flat = tmp_path / "flat"
    write_mewslix(str(flat))  # the other released layout: one mention per line
    _jsonl(str(flat / "mewslix" / "wikinews_mentions-test.jsonl"),
           [{"context": r["context"], "mention": m} for r in rows for m in r["mentions"]])
    assert task.read_pairs(str(flat), "test", "de") == expected

    def bad(rows_: list, name: str) -> str:
        return _jsonl(str(tmp_path / "bad" / name), rows_)

    ok = rows[0]
    span_off = {**ok, "mentions": [{**ok["mentions"][0], "mention_span": {"start": 0, "end": 5, "text": "Smith"}}]}
    with pytest.raises(DataError, match=r"m1.jsonl:2: mention de-1: span text does not match"):
        read_mentions(bad([rows[1], span_off], "m1.jsonl"))
    with pytest.raises(DataError, match=r"m2.jsonl:1: not a Mewsli-X mention row \(missing 'context'\)"):
        read_mentions(bad([{"mentions": ok["mentions"]}], "m2.jsonl"))
    with pytest.raises(DataError, match=r"m3.jsonl:1: not a Mewsli-X mention row"):
        read_mentions(bad([{"context": ok["context"], "mentions": [{"example_id": "x"}]}], "m3.jsonl"))
    with pytest.raises(DataError, match=r"e1.jsonl:2: not a Mewsli-X entity"):
        read_entities(bad([{"entity_id": "Q1", "description": "d"}, {"title": "no id"}], "e1.jsonl"))
    with pytest.raises(DataError, match=r"e2.jsonl:1: not a Mewsli-X entity"):
        read_entities(bad([{"entity_id": "Q1", "description": "d", "sentence_spans": [{"start": "a"}]}],
                          "e2.jsonl"))
    # a gold entity outside the candidate set is refused, naming the entity file
    unknown = tmp_path / "unknown"
    write_mewslix(str(unknown))
    upath = unknown / "mewslix" / "wikinews_mentions-test.jsonl"
    urows = [json.loads(line) for line in upath.read_text().splitlines()]
    urows[0]["mentions"][0]["entity_id"] = "Q99"
    _jsonl(str(upath), urows)
    with pytest.raises(DataError, match=r"candidate_set_entities.jsonl: gold entity Q99"):
        task.read_pairs(str(unknown), "test", "de")


def test_xcopa_bad_labels_and_fields_name_the_line(tmp_path):
    from trainer.tasks.base import DataError

    xcopa = get_task("xcopa")
    row = {"premise": "p", "choice1": "a", "choice2": "b", "question": "cause", "label": 0, "idx": 1}
    path = _jsonl(tmp_path / "x.jsonl", [row, {**row, "label": 2}, {**row, "choice2": None}])
    with pytest.raises(DataError, match=r"x.jsonl:2: label 2 is not 0 or 1"):
        list(xcopa.read_local(path, "test", "et", SkipCounter()))
    skips = SkipCounter(True)
    assert [e["id"] for e in xcopa.read_local(path, "test", "et", skips)] == ["test-et-1"]
    assert skips.count == 2 and "missing field(s) ['choice2']" in " ".join(skips.examples)


def test_mewslix_noise_touches_the_parts_not_the_braces(tmp_path):
    """Word noise on the composed query would move its braces and break the repeated mention:
    the mention and its two contexts are perturbed instead (the mention once, used twice)."""
    import re

    from eval.perturb import Perturbation
    from trainer.evaluation.noise import Noise

    write_mewslix(str(tmp_path))
    task = get_task("mewslix")
    src, _, _ = task.read_pairs(str(tmp_path), "test", "de")
    shape = re.compile(r"^(.*): (.*)\{ (.*) \}(.*)$")
    for kind in ("word_shuffle", "word_drop", "char_swap"):
        noisy = Noise(Perturbation(kind, 1.0, 3)).apply_pairs(task, str(tmp_path), "test", "de", src)
        assert [i for i, _ in noisy] == [i for i, _ in src]
        (_, text), = noisy
        assert text != src[0][1], kind
        m = shape.match(text)
        assert m and m.group(1) == m.group(3) and text.count("{") == text.count("}") == 1, (kind, text)
    # the other retrieval tasks keep their sentence-level noise, keyed as before
    pairs = [("s1", "eins zwei drei vier")]
    tatoeba = Noise(Perturbation("word_shuffle", 1.0, 3)).apply_pairs(get_task("tatoeba"), "", "test", "de", pairs)
    from eval.perturb import perturb_example
    assert tatoeba == [("s1", perturb_example("retrieval", {"text": pairs[0][1]}, Perturbation("word_shuffle", 1.0, 3),
                                              ("tatoeba", "de", "s1"), "de")["text"])]


def test_xcopa_noise_leaves_the_english_prompt(tmp_path):
    import datasets

    from eval.perturb import Perturbation
    from trainer.evaluation.noise import Noise

    xcopa = get_task("xcopa")
    row = {"premise": "Ese vaso se rompió ayer.", "choice1": "Cayó al suelo.", "choice2": "Brilló mucho.",
           "question": "cause", "label": 0, "idx": 7}
    path = _jsonl(tmp_path / "xcopa/data/et/test.et.jsonl", [row])
    clean = datasets.Dataset.from_list(list(xcopa.read_local(path, "test", "et", SkipCounter())))
    noisy = Noise(Perturbation("char_swap", 1.0, 0)).apply(xcopa, "et", clean)[0]
    assert noisy["question"] == "What was the cause?"
    assert noisy["context"] != clean[0]["context"] and noisy["choices"] != clean[0]["choices"]
    # SIQA's questions are real text: perturbed
    siqa = get_task("siqa")
    ex = {"id": "1", "context": "Tracy fed the dog.", "question": "Why did Tracy do this?",
          "choices": ["hungry dog", "a b", "c d"], "label": 0}
    out = Noise(Perturbation("char_swap", 1.0, 0)).apply(siqa, "en", datasets.Dataset.from_list([ex]))[0]
    assert out["question"] != ex["question"]


def test_xtreme_r_language_lists_read_the_real_samples(real_data):
    for name, base, path in (("udpos_r", "udpos", "udpos/dev-de.tsv"), ("panx_r", "panx", "panx/dev-de.tsv")):
        task = get_task(name)
        assert set(get_task(base).languages) < set(task.languages)
        assert task.train_group == base and task.head == get_task(base).head
        ex = list(task.read_local(os.path.join(real_data, path), "validation", "de", SkipCounter()))
        assert len(ex) == 200 and all(len(e["tokens"]) == len(e["tags"]) for e in ex)
    assert {"lt", "pl", "uk", "wo", "ro"} <= set(get_task("udpos_r").languages)
    assert len(get_task("panx_r").languages) == 48 and len(get_task("udpos_r").languages) == 38


# ---------------------------------------------------------------- the evaluator, one shared pool


def test_evaluator_embeds_a_shared_pool_once(tmp_path):
    import eval_helpers as H

    from trainer.config import from_dict
    from trainer.data.tokenizer import load_tokenizer_from
    from trainer.evaluation.driver import evaluate_model
    from trainer.evaluation.predict import Predictor, plan_items
    from trainer.model.export import load_export
    from trainer.runtime import dist

    data = str(tmp_path / "data")
    write_xquad_r(data)
    tree = H.config_tree(data, H.build_tokenizer(str(tmp_path / "tok")), str(tmp_path / "run"),
                         languages=["de", "en"])
    export = H.make_export(str(tmp_path / "export"), tree, tasks=("xnli", "xcopa"))
    row = {"premise": "river city", "choice1": "old house", "choice2": "new train", "question": "effect"}
    _jsonl(os.path.join(data, "xcopa", "data", "et", "test.et.jsonl"),
           [{**row, "label": i % 2, "idx": i} for i in range(6)])
    cfg = from_dict(json.loads(json.dumps(tree)))
    cfg.data.cache_dir = str(tmp_path / "cache")
    cfg.eval.split = "test"
    model, tok = load_export(export), load_tokenizer_from(export)
    task = get_task("lareqa")
    expected, _ = plan_items(Predictor(model, tok, cfg, {"lareqa": task}, "test"), [task], ["de", "en"], 64)
    assert expected == {("lareqa", "de", "src"): 4, ("lareqa", "*", "trg"): 66, ("lareqa", "en", "src"): 4}
    cfg.eval.languages = ["de", "en", "et"]
    scores = evaluate_model(cfg, model, tok, [task, get_task("xcopa")], dist.DistInfo(), "test",
                            out_dir=str(tmp_path / "pred"))
    assert set(scores["lareqa"]) == {"de", "en"}
    assert set(scores["xcopa"]) == {"et"} and scores["xcopa"]["et"]["accuracy"] in {100 * k / 6 for k in range(7)}
    assert 0.0 <= scores["lareqa"]["de"]["map@20"] <= 100.0
    with open(tmp_path / "pred" / "lareqa" / "test-de.json") as f:
        ranked = json.load(f)
    assert set(ranked) == {"x00_de", "x02_de", "x10_de", "x12_de"} and all(len(v) == 20 for v in ranked.values())
