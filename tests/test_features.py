"""Featurization per head kind, collation and MLM masking, on locally trained toy tokenizers."""
from __future__ import annotations

import json
import os

import pytest
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from trainer.data.collate import MlmMasker, collate, padding_stats
from trainer.data.features import choice_pair, featurize, locate_answer
from trainer.synth.toy_tokenizer import build_tokenizer, load_tokenizer, sample_corpus

from tests.conftest import REAL  # ../shared/data/real beside the checkout

TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


@pytest.fixture(scope="session")
def tok(tmp_path_factory):
    """XLM-R-style toy tokenizer, saved and loaded back the way the trainer loads one."""
    out = str(tmp_path_factory.mktemp("toy_tokenizer"))
    build_tokenizer(sample_corpus(400), vocab_size=400, out_dir=out)
    return load_tokenizer(out)


@pytest.fixture(scope="session")
def bert_tok():
    """A BERT-like WordPiece tokenizer: token type ids, [CLS]/[SEP], offsets without spaces."""
    core = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=False)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    core.train_from_iterator(sample_corpus(400), trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=specials, show_progress=False))
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])


def run(kind, rows, tokenizer, **kw):
    batch = {key: [r[key] for r in rows] for key in rows[0]}
    kw.setdefault("is_train", True)
    kw.setdefault("max_length", 64)
    return featurize(kind, batch, tokenizer, **kw)


def as_rows(cols):
    return [dict(zip(cols, vals)) for vals in zip(*cols.values())]


# ---------------------------------------------------------------- tokenizer


def test_toy_tokenizer_layout(tok, tmp_path):
    assert tok.is_fast
    assert tok.convert_ids_to_tokens(list(range(5))) == ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.mask_token_id) == (0, 1, 2, 4)
    pair = tok("a b", "c")["input_ids"]
    assert pair[0] == 0 and pair[-1] == 2 and pair.count(2) == 3  # <s> A </s></s> B </s>
    assert pair[pair.index(2) + 1] == 2
    text = "The river 北京是中国的首都"
    enc = tok(text, return_offsets_mapping=True)
    pieces = tok.convert_ids_to_tokens(enc["input_ids"])[1:-1]
    assert [text[a:b].strip() for a, b in enc["offset_mapping"][1:-1]] == \
        [p.replace("\u2581", "") for p in pieces]
    assert isinstance(AutoTokenizer.from_pretrained(tok.name_or_path), type(tok))


# ---------------------------------------------------------------- classification


def test_classification_single_and_pair(tok, bert_tok):
    rows = [{"id": "a", "text_a": "The king won", "text_b": "", "label": 1},
            {"id": "b", "text_a": "The king won", "text_b": "The queen lost", "label": -1}]
    out = run("classification", rows, tok, indices=[7, 8])
    single, pair = out["input_ids"]
    assert single.count(tok.eos_token_id) == 1 and pair.count(tok.eos_token_id) == 3
    assert out["labels"] == [1, -1] and out["example_idx"] == [7, 8]
    assert out["length"] == [len(single), len(pair)] and "token_type_ids" not in out
    b = run("classification", rows, bert_tok)
    assert set(b["token_type_ids"][0]) == {0} and b["token_type_ids"][1][-1] == 1
    long = [{"id": "c", "text_a": "the river " * 40, "text_b": "king " * 40, "label": 0}]
    assert run("classification", long, tok, max_length=20)["length"] == [20]
    with pytest.raises(ValueError, match="example d"):
        run("classification", [dict(rows[0], id="d", label=3)], tok, labels=("x", "y"))


def test_unknown_kind(tok):
    with pytest.raises(ValueError, match="unknown head kind"):
        featurize("ranking", {"id": ["x"]}, tok, max_length=8, is_train=True)


# ---------------------------------------------------------------- multiple choice


def test_choice_pairing():
    assert choice_pair("ctx", "Why?", "because") == ("ctx", "Why? because")
    assert choice_pair("ctx", "", "because") == ("ctx", "because")
    assert choice_pair("", "Why?", "because") == ("Why?", "because")
    assert choice_pair("", "", "because") == ("because", "")


def test_multiple_choice_shapes(tok):
    rows = [{"id": "m1", "context": "The king lived in Paris.", "question": "", "label": 2,
             "choices": ["river", "city north", "the church", "school"]},
            {"id": "m2", "context": "", "question": "Who won the game?", "label": -1,
             "choices": ["Denver", "the team", "Tesla", "the Broncos of Denver"]}]
    out = run("multiple_choice", rows, tok)
    assert [len(x) for x in out["input_ids"]] == [4, 4] and out["labels"] == [2, -1]
    second = out["input_ids"][0][2]
    tail = second[second.index(tok.eos_token_id) + 2:-1]  # after </s></s>
    assert tok.decode(tail).strip() == "the church"  # empty question: the choice alone
    assert out["length"] == [4 * max(map(len, c)) for c in out["input_ids"]]
    batch = collate("multiple_choice", as_rows(out), tok.pad_token_id)
    width = max(len(c) for x in out["input_ids"] for c in x)
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (2, 4, width)
    assert batch["attention_mask"][1, 3].sum() == len(out["input_ids"][1][3])
    assert batch["labels"].tolist() == [2, -1]
    # the truncation report's longest choice, read from Arrow, is the one in the ids
    import datasets

    from trainer.data.streams import longest_choices

    rows.append({**rows[0], "id": "m3", "label": 1, "choices": ["a", "b"]})  # fewer choices
    out = run("multiple_choice", rows, tok)
    assert longest_choices(datasets.Dataset.from_dict(out)).tolist() == [max(map(len, c)) for c in out["input_ids"]]


# ---------------------------------------------------------------- extractive QA


def qa_examples():
    filler = ("the people of the north lived by the river and built a school and a church " * 6).strip()
    ctx = f"Marie Curie was born in 1990 in Paris. {filler} The Broncos won in 2016 with 24 points. " \
          f"{filler} The city was founded by the king of Berlin."
    spans = ["Marie Curie", "2016", "the king of Berlin"]
    questions = ["Who was born?", "When did they win?", "Who founded it?"]
    return [{"id": f"q{i}", "context": ctx, "question": q,
             "answers": {"text": [a], "answer_start": [ctx.index(a)]}}
            for i, (q, a) in enumerate(zip(questions, spans))]


@pytest.mark.parametrize("which", ["tok", "bert_tok"])
def test_span_windows_map_back_to_answers(which, request):
    tokenizer = request.getfixturevalue(which)
    exs = qa_examples()
    kw = dict(max_length=48, doc_stride=16, max_query_length=12)
    train = run("span", exs, tokenizer, is_train=True, **kw)
    ev = run("span", exs, tokenizer, is_train=False, **kw)
    assert train["input_ids"] == ev["input_ids"] and train["example_idx"] == ev["example_idx"]
    assert all(n <= 48 for n in train["length"])
    windows = {i: [w for w, e in enumerate(ev["example_idx"]) if e == i] for i in range(3)}
    assert all(len(w) >= 4 for w in windows.values())
    hits = {}
    for w, (s, e, offsets) in enumerate(zip(train["start_positions"], train["end_positions"],
                                            ev["offset_mapping"])):
        ex = exs[ev["example_idx"][w]]
        lo = ex["answers"]["answer_start"][0]
        hi = lo + len(ex["answers"]["text"][0])
        ctx = [o for o in offsets if o[0] >= 0]
        inside = ctx[0][0] <= lo and ctx[-1][1] >= hi
        assert (s > 0) == inside and (e >= s)
        if inside:
            assert ex["context"][offsets[s][0]:offsets[e][1]].strip() == ex["answers"]["text"][0]
            hits.setdefault(ev["example_idx"][w], []).append(windows[ev["example_idx"][w]].index(w))
    order = {i: len(windows[i]) for i in range(3)}
    assert 0 in hits[0]  # first window
    assert all(0 < k < order[1] - 1 for k in hits[1])  # middle windows only
    assert order[2] - 1 in hits[2]  # last window


def test_span_window_overlap_and_question_clip(tok):
    ex = dict(qa_examples()[0], question="Who " * 40 + "was born?")
    ev = run("span", [ex], tok, is_train=False, max_length=40, doc_stride=10, max_query_length=8)
    for a, b in zip(ev["input_ids"], ev["input_ids"][1:]):
        ctx_a, ctx_b = a[a.index(2) + 2:-1], b[b.index(2) + 2:-1]
        assert a.index(2) - 1 <= 8  # question clipped to 8 tokens
        assert ctx_a[-10:] == ctx_b[:10]  # consecutive windows share doc_stride tokens
    with pytest.raises(ValueError, match="doc_stride"):
        run("span", [ex], tok, max_length=40, doc_stride=30, max_query_length=8)


def test_unlocatable_answers_counted_and_dropped(tok):
    good, bad, padded = qa_examples()
    shifted = bad["answers"]["answer_start"][0] + 3
    bad = dict(bad, id="bad", answers={"text": ["2016"], "answer_start": [shifted]})
    start = padded["answers"]["answer_start"][0]  # whitespace around the answer is forgiven
    padded = dict(padded, answers={"text": [" the king of Berlin"], "answer_start": [start - 1]})
    stats: dict = {}
    out = run("span", [good, bad, padded], tok, max_length=48, doc_stride=16, max_query_length=12,
              stats=stats)
    assert stats["unlocatable"] == 1 and stats["unlocatable_ids"] == ["bad"]
    assert set(out["example_idx"]) == {0, 2}
    assert locate_answer("a  b", " b ", 2) == (3, 4) and locate_answer("ab", "c", 0) is None


# ---------------------------------------------------------------- tagging


def test_tagging_first_subword_alignment(tok, bert_tok):
    words = ["Marie", "Curie", "lived", "in", "Nairobi", "北京是中国的首都"]
    tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "B-LOC"]
    for tokenizer in (tok, bert_tok):
        out = run("tagging", [{"id": "t", "tokens": words, "tags": tags}], tokenizer, labels=TAGS)
        enc = tokenizer(words, is_split_into_words=True)
        wids, labels, firsts = enc.word_ids(), out["labels"][0], out["word_ids"][0]
        assert firsts == [wids.index(w) for w in range(len(words))]
        assert [labels[p] for p in firsts] == [TAGS.index(t) for t in tags]
        assert sum(x != -100 for x in labels) == len(words)
        assert labels[0] == labels[-1] == -100
    assert any(len(tok.tokenize(w)) > 1 for w in words)  # sub-token positions were exercised


def test_tagging_truncation_withheld_and_errors(tok):
    words = ["Nairobi", "Denver"] * 20
    out = run("tagging", [{"id": "long", "tokens": words, "tags": ["B-LOC"] * 40},
                          {"id": "test", "tokens": ["a", "king"], "tags": []}], tok,
              labels=TAGS, max_length=16)
    firsts = out["word_ids"][0]
    kept = sum(p >= 0 for p in firsts)
    assert 0 < kept < 40 and firsts[kept:] == [-1] * (40 - kept) and len(out["input_ids"][0]) == 16
    assert set(out["labels"][1]) == {-100} and out["word_ids"][1][1] > 0
    with pytest.raises(ValueError, match="example bad: unknown tag 'B-ORG'"):
        run("tagging", [{"id": "bad", "tokens": ["x"], "tags": ["B-ORG"]}], tok, labels=TAGS)
    with pytest.raises(ValueError, match="2 tokens but 1 tags"):
        run("tagging", [{"id": "n", "tokens": ["x", "y"], "tags": ["O"]}], tok, labels=TAGS)


# ---------------------------------------------------------------- mlm


def test_mlm_chunking(tok):
    text = "The people of the north lived by the river " * 12
    out = run("mlm", [{"id": "a", "text": text}, {"id": "b", "text": ""}, {"id": "c", "text": "Hi"}],
              tok, max_length=32, stats=(stats := {}))
    body = tok(text, add_special_tokens=False)["input_ids"]
    blocks = [ids for ids, e in zip(out["input_ids"], out["example_idx"]) if e == 0]
    assert len(blocks) == -(-len(body) // 30) and all(len(b) <= 32 for b in blocks)
    assert all(b[0] == 0 and b[-1] == 2 for b in blocks)
    assert sum((b[1:-1] for b in blocks), []) == body
    assert out["example_idx"][-1] == 2 and stats["empty"] == 1


def test_mlm_masking_deterministic_and_consistent(tok):
    torch.manual_seed(0)
    ids = torch.randint(5, len(tok), (32, 64))
    ids[:, 0], ids[:, -1] = 0, 2
    mask = torch.ones_like(ids)
    mask[:8, 40:] = 0
    ids[:8, 40:] = tok.pad_token_id
    make = lambda: MlmMasker(tok.mask_token_id, len(tok), tok.all_special_ids, prob=0.15, seed=3)
    a, b = make(), make()
    a.set_step(5), b.set_step(5)
    out_a, out_b = a(ids, mask), b(ids, mask)
    assert all(torch.equal(x, y) for x, y in zip(out_a, out_b))
    b.set_step(6)
    assert not torch.equal(out_a[1], b(ids, mask)[1])
    masked, labels, positions = out_a
    picked = labels != -100
    assert torch.equal(positions, picked.flatten().nonzero().squeeze(-1))
    assert torch.equal(labels[picked], ids[picked])
    assert torch.equal(masked[~picked], ids[~picked])  # untouched where not picked
    assert not picked[mask == 0].any() and not picked[:, 0].any() and not picked[:, -1].any()
    rate = picked.sum().item() / (mask.sum().item() - 64)
    assert 0.11 < rate < 0.19
    as_mask = (masked[picked] == tok.mask_token_id).float().mean().item()
    assert 0.7 < as_mask < 0.9


# ---------------------------------------------------------------- collate


def test_collate_padding_and_meta(tok):
    rows = [{"input_ids": [0, 7, 8, 2], "labels": [-100, 1, 2, -100], "word_ids": [1, 2],
             "example_idx": 4, "length": 4},
            {"input_ids": [0, 9, 2], "labels": [-100, 3, -100], "word_ids": [1], "example_idx": 5,
             "length": 3}]
    batch = collate("tagging", rows, pad_id=1, pad_to_multiple_of=8)
    assert batch["input_ids"].tolist() == [[0, 7, 8, 2, 1, 1, 1, 1], [0, 9, 2, 1, 1, 1, 1, 1]]
    assert batch["attention_mask"].tolist() == [[1] * 4 + [0] * 4, [1] * 3 + [0] * 5]
    assert batch["labels"][1].tolist() == [-100, 3] + [-100] * 6
    assert batch["meta"] == [{"example_idx": 4, "word_ids": [1, 2]}, {"example_idx": 5, "word_ids": [1]}]
    assert padding_stats(rows) == (7, 8) and padding_stats(rows, 8) == (7, 16)
    span = [dict(input_ids=[0, 5, 2], start_positions=1, end_positions=1, example_idx=0, length=3),
            dict(input_ids=[0, 2], start_positions=0, end_positions=0, example_idx=0, length=2)]
    sb = collate("span", span, pad_id=1)
    assert sb["start_positions"].tolist() == [1, 0] and sb["input_ids"].shape == (2, 3)
    row = list(range(5, 25))
    mlm = collate("mlm", [{"input_ids": row, "example_idx": 0, "length": 20},
                          {"input_ids": row[:12], "example_idx": 1, "length": 12}], 1,
                  mlm=MlmMasker(4, 30, [0, 1, 2, 3, 4], seed=0, prob=0.5))
    ids, labels = mlm["input_ids"], mlm["labels"]
    original = torch.tensor([row, row[:12] + [1] * 8])
    picked = labels != -100
    assert picked.any() and mlm["attention_mask"].tolist() == [[1] * 20, [1] * 12 + [0] * 8]
    assert torch.equal(labels[picked], original[picked])  # labels are the original tokens
    assert torch.equal(ids[~picked], original[~picked])  # nothing else changes
    assert not picked[1, 12:].any() and (ids[1, 12:] == 1).all()  # padding is never masked
    assert mlm["mlm_positions"].tolist() == picked.flatten().nonzero().squeeze(-1).tolist()


# ---------------------------------------------------------------- real samples


@pytest.fixture(scope="module")
def real():
    if not os.path.isdir(REAL):
        pytest.skip("real data samples not present")
    return REAL


def read_squad(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    return [{"id": qa["id"], "context": p["context"], "question": qa["question"],
             "answers": {"text": [a["text"] for a in qa["answers"]],
                         "answer_start": [a["answer_start"] for a in qa["answers"]]}}
            for art in data for p in art["paragraphs"] for qa in p["qas"]]


def read_conll(path):
    sents, words, tags = [], [], []
    for line in open(path, encoding="utf-8"):
        if not line.strip():
            if words:
                sents.append({"id": str(len(sents)), "tokens": words, "tags": tags})
            words, tags = [], []
            continue
        w, t = line.rstrip("\n").split("\t")
        words.append(w)
        tags.append(t)
    if words:
        sents.append({"id": str(len(sents)), "tokens": words, "tags": tags})
    return sents


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_real_xquad_answers_recovered(real, lang):
    exs = read_squad(f"{real}/xquad/xquad.{lang}.json")
    tokenizer = build_tokenizer([e["context"] for e in exs] + [e["question"] for e in exs], 2000)
    kw = dict(max_length=128, doc_stride=32, max_query_length=32)
    stats: dict = {}
    train = run("span", exs, tokenizer, is_train=True, stats=stats, **kw)
    ev = run("span", exs, tokenizer, is_train=False, **kw)
    assert stats.get("unlocatable", 0) == 0 and train["example_idx"] == ev["example_idx"]
    found: dict[str, list[str]] = {}
    for w, (s, e) in enumerate(zip(train["start_positions"], train["end_positions"])):
        if s:
            ex, off = exs[ev["example_idx"][w]], ev["offset_mapping"][w]
            found.setdefault(ex["id"], []).append(ex["context"][off[s][0]:off[e][1]].strip())
    assert len(found) == len(exs)  # every answer lies inside at least one window
    for ex in exs:
        gold = ex["answers"]["text"][0]
        if lang == "en":  # word-level answers: cut exactly at token boundaries
            assert set(found[ex["id"]]) == {gold}
        else:  # Chinese pieces can run past the answer: the token span must still cover it
            assert all(gold in span for span in found[ex["id"]])


def test_real_panx_alignment(real):
    sents = read_conll(f"{real}/panx/dev-en.tsv")
    tags = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
    tokenizer = build_tokenizer([" ".join(s["tokens"]) for s in sents], 800)
    out = run("tagging", sents, tokenizer, labels=tags, max_length=128)
    for s, labels, firsts in zip(sents, out["labels"], out["word_ids"]):
        assert len(firsts) == len(s["tokens"]) and min(firsts) > 0
        assert [tags[labels[p]] for p in firsts] == s["tags"]
