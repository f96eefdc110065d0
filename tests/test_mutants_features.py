"""Featurization (trainer/data/features.py) against hand-worked encodings: a word-level BERT-type
tokenizer (one token per word, token type ids) makes every id, type id, offset and window
countable by hand; the toy XLM-R tokenizer covers the special-token arithmetic without type ids."""
from __future__ import annotations

import logging

import pytest
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from tests import helpers as h
from trainer.data.features import _answer_tokens, clip_questions, featurize, unlocatable_ids
from trainer.synth.toy_tokenizer import load_tokenizer

WORDS = "a b c d e f g h the cat sat on mat who what where is it dog ran".split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture(scope="module")
def wt():
    """Word-level WordPiece: id of word w is 5 + WORDS.index(w); [CLS] 2, [SEP] 3."""
    vocab = {t: i for i, t in enumerate(SPECIAL + WORDS)}
    core = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=False)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                  sep_token="[SEP]", mask_token="[MASK]")
    tok.model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    return tok


@pytest.fixture(scope="module")
def xt(tmp_path_factory):
    return load_tokenizer(h.build_tok(str(tmp_path_factory.mktemp("tok"))))


def ids(text: str) -> list[int]:
    return [5 + WORDS.index(w) for w in text.split()]


def run(kind, batch, tok, **kw):
    kw.setdefault("max_length", 64)
    kw.setdefault("is_train", True)
    return featurize(kind, batch, tok, **kw)


# ---------------------------------------------------------------- sentence pairs and labels


def test_pairs_carry_type_ids_and_labels_are_checked(wt):
    out = run("classification", {"id": ["x", "y"], "text_a": ["the cat", "a b"], "text_b": ["sat", ""],
                                 "label": [2, -1]}, wt, labels=("e", "n", "c"))
    assert out["input_ids"] == [[2, *ids("the cat"), 3, *ids("sat"), 3], [2, *ids("a b"), 3]]
    assert out["token_type_ids"] == [[0, 0, 0, 0, 1, 1], [0, 0, 0, 0]]
    assert out["labels"] == [2, -1] and out["length"] == [6, 4]
    with pytest.raises(ValueError, match=r"^example z: label 3 outside 0\.\.2$"):
        run("classification", {"id": ["z"], "text_a": ["a"], "text_b": [""], "label": [3]}, wt, labels=("e", "n", "c"))
    # without a label set any label below 2**30 passes, 2**30 does not
    run("classification", {"id": ["z"], "text_a": ["a"], "text_b": [""], "label": [2**30 - 1]}, wt)
    with pytest.raises(ValueError, match="outside"):
        run("classification", {"id": ["z"], "text_a": ["a"], "text_b": [""], "label": [2**30]}, wt)


def test_long_texts_are_truncated_to_max_length(wt):
    long = " ".join(WORDS)
    out = run("classification", {"id": ["x", "y"], "text_a": [long, long], "text_b": ["", long], "label": [0, 0]},
              wt, max_length=8)
    assert [len(i) for i in out["input_ids"]] == [8, 8]
    assert out["input_ids"][0] == [2, *ids("a b c d e f"), 3]


def test_choices_regroup_per_example_and_are_truncated(wt):
    batch = {"id": ["p", "q", "r"], "context": ["", "", ""], "question": ["who", "what", "where"],
             "choices": [["a", "b"], ["c", "d e f g h"], ["the", "cat"]], "label": [0, 1, 1]}
    out = run("multiple_choice", batch, wt, max_length=6)
    assert out["input_ids"][2] == [[2, *ids("where"), 3, *ids("the"), 3], [2, *ids("where"), 3, *ids("cat"), 3]]
    assert out["input_ids"][1][1] == [2, *ids("what"), 3, *ids("d e"), 3]  # cut at 6
    assert out["token_type_ids"][0] == [[0, 0, 0, 1, 1], [0, 0, 0, 1, 1]]
    assert out["length"] == [10, 12, 10]
    with pytest.raises(ValueError, match=r"^example q: label 2 outside 0\.\.1$"):
        run("multiple_choice", {**batch, "label": [0, 2, 0]}, wt)
    empty = run("multiple_choice", {"id": ["e"], "context": [""], "question": [""], "choices": [[]], "label": [-1]}, wt)
    assert empty["length"] == [0] and empty["input_ids"] == [[]]


def test_featurize_takes_indices_from_the_batch_and_names_its_kinds(wt):
    batch = {"id": ["x"], "text_a": ["a"], "text_b": [""], "label": [0], "example_idx": [41]}
    assert run("classification", batch, wt)["example_idx"] == [41]
    with pytest.raises(ValueError, match=r"featurize knows classification, multiple_choice, span, tagging, "
                                         r"mlm, retrieval\)$"):
        run("nope", batch, wt)


# ---------------------------------------------------------------- tagging


def test_tagging_labels_first_subtokens_truncates_and_names_unknown_tags(wt):
    batch = {"id": ["s"], "tokens": [["the", "cat", "sat", "on", "the", "mat"]], "tags": [["O", "B", "O", "O", "O", "B"]]}
    out = run("tagging", batch, wt, labels=("O", "B"), max_length=5)
    assert out["input_ids"] == [[2, *ids("the cat sat"), 3]] and out["token_type_ids"] == [[0] * 5]
    assert out["labels"] == [[-100, 0, 1, 0, -100]] and out["word_ids"] == [[1, 2, 3, -1, -1, -1]]
    with pytest.raises(ValueError, match=r"^example s: unknown tag 'X' \(known: O, B\)$"):
        run("tagging", {**batch, "tags": [["O", "X", "O", "O", "O", "O"]]}, wt, labels=("O", "B"))


# ---------------------------------------------------------------- MLM


def test_mlm_blocks_lengths_and_empty_texts(xt):
    one = xt("dog")["input_ids"]
    long = " ".join(["the cat sat on the mat"] * 10)
    stats: dict = {}
    out = featurize("mlm", {"id": ["a", "b", "c", "d"], "text": [long, "", "", "dog"]}, xt, max_length=12,
                    is_train=True, stats=stats)
    assert all(len(i) <= 12 for i in out["input_ids"]) and len(out["input_ids"]) > 2
    assert out["length"] == [len(i) for i in out["input_ids"]]
    assert out["input_ids"][-1] == one and out["example_idx"][-1] == 3  # a one-word text is kept
    assert stats["empty"] == 2
    assert all(i[0] == xt.cls_token_id and i[-1] == xt.sep_token_id for i in out["input_ids"])
    assert featurize("mlm", {"id": ["a"], "text": ["a"]}, xt, max_length=3, is_train=True)["input_ids"] == [
        xt("a")["input_ids"][:3]]  # room for one token
    with pytest.raises(ValueError, match=r"^max_length 2 leaves no room for text between special tokens$"):
        featurize("mlm", {"id": ["a"], "text": ["dog"]}, xt, max_length=2, is_train=True)


# ---------------------------------------------------------------- questions and spans


@pytest.mark.parametrize("question, limit, want", [
    ("a b c d e", 3, "a b c"),
    ("  a b c  ", 3, "a b c  "),  # leading space goes, the rest of an unclipped question stays
    ("a b c", 3, "a b c"),  # exactly at the limit: unchanged
    ("a b", 1, "a"),
])
def test_clip_questions(wt, question, limit, want):
    assert clip_questions(wt, [question], limit) == [want]


def test_answer_tokens_by_hand():
    offsets = [(0, 0), (0, 3), (4, 7), (8, 11), (0, 0)]
    seq = [None, 1, 1, 1, None]
    assert _answer_tokens(offsets, seq, (4, 7)) == (2, 2)
    assert _answer_tokens(offsets, seq, (0, 11)) == (1, 3)
    assert _answer_tokens(offsets, seq, None) == (0, 0)  # unanswerable: <s>/[CLS]
    assert _answer_tokens(offsets, [None, 0, 0, 0, None], (4, 7)) == (0, 0)  # no context in the window
    assert _answer_tokens(offsets, seq, (9, 14)) == (0, 0)  # runs past the window
    assert _answer_tokens(offsets, seq, (3, 4)) == (0, 0)  # only the space between two tokens


SPAN = {"id": ["q1"], "question": ["who sat"], "context": ["the cat sat on the mat"],
        "answers": [{"text": ["cat"], "answer_start": [4]}]}


def test_span_windows_type_ids_and_offsets(wt):
    out = run("span", SPAN, wt, max_length=10, doc_stride=2, max_query_length=2, stats={})
    q = ids("who sat")
    assert out["input_ids"] == [[2, *q, 3, *ids("the cat sat on the"), 3], [2, *q, 3, *ids("on the mat"), 3]]
    assert out["token_type_ids"][0] == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    assert out["start_positions"] == [5, 0] and out["end_positions"] == [5, 0]  # not in the second window
    ev = run("span", {**SPAN, "answers": [{"text": ["dog"], "answer_start": [0]}]}, wt, max_length=10, doc_stride=2,
             max_query_length=2, is_train=False)
    assert len(ev["input_ids"]) == 2  # evaluation keeps a row whatever its answer
    assert ev["offset_mapping"][0] == [[-1, -1]] * 4 + [[0, 3], [4, 7], [8, 11], [12, 14], [15, 18], [-1, -1]]


def test_span_room_for_the_stride(wt):
    # room = 10 - 2 - 3 specials of a pair ([CLS] [SEP] [SEP]) = 5
    run("span", SPAN, wt, max_length=10, doc_stride=4, max_query_length=2, stats={})
    with pytest.raises(ValueError, match=r"doc_stride 5 must be below the context room of a window \(5 = "):
        run("span", SPAN, wt, max_length=10, doc_stride=5, max_query_length=2, stats={})


def test_training_rows_whose_answer_is_elsewhere_are_counted_and_listed(wt, caplog):
    n = 23
    batch = {"id": [f"q{i}" for i in range(n)], "question": ["who"] * n, "context": ["the cat sat"] * n,
             "answers": [{"text": ["cat"], "answer_start": [0]}] * (n - 2)
                        + [{"text": ["cat"], "answer_start": [4]}, {"text": [], "answer_start": []}]}
    stats: dict = {}
    with caplog.at_level(logging.WARNING, logger="xstilts.data"):
        out = featurize("span", batch, wt, max_length=16, doc_stride=2, max_query_length=4, is_train=True,
                        stats=stats)
    assert stats["unlocatable"] == n - 2 and stats["unlocatable_ids"] == [f"q{i}" for i in range(20)]
    assert "span training: 21 of 23 examples have an answer that is not at its answer_start; they are left " \
           "out" in caplog.text
    assert out["start_positions"] == [4, 0]  # the located answer, then the unanswerable row (towards [CLS])
    # stats may be left out: featurize keeps its own
    featurize("span", batch, wt, max_length=16, doc_stride=2, max_query_length=4, is_train=True)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="xstilts.data"):
        featurize("span", {k: v[-2:] for k, v in batch.items()}, wt, max_length=16, doc_stride=2,
                  max_query_length=4, is_train=True, stats={})
    assert "span training" not in caplog.text  # nothing left out, nothing said


def test_unlocatable_ids_lists_answers_not_at_their_start():
    examples = [{"id": "a", "context": "the cat", "answers": {"text": ["cat"], "answer_start": [4]}},
                {"id": "b", "context": "the cat", "answers": {"text": ["cat"], "answer_start": [0]}},
                {"id": "c", "context": "the cat", "answers": {"text": [], "answer_start": []}}]
    assert unlocatable_ids(examples) == ["b"]


def test_featurize_defaults_are_xtremes_qa_settings():
    import inspect

    params = inspect.signature(featurize).parameters
    assert (params["doc_stride"].default, params["max_query_length"].default) == (128, 64)


# ---------------------------------------------------------------- retrieval pairs


def test_retrieval_pairs_encode_each_side_alone(wt):
    out = run("retrieval", {"id": ["r"], "query": ["who sat"], "candidate": ["the cat sat"]}, wt, max_query_length=8,
              indices=[7])
    assert out["input_ids"] == [[2, *ids("who sat"), 3]] and out["cand_input_ids"] == [[2, *ids("the cat sat"), 3]]
    assert out["token_type_ids"] == [[0] * 4] and out["cand_token_type_ids"] == [[0] * 5]
    assert out["example_idx"] == [7] and out["cand_length"] == [5] and out["length"] == [9]


def test_a_batch_without_columns_names_the_missing_column(wt):
    with pytest.raises(KeyError, match="text_a"):
        run("classification", {}, wt)


def test_span_defaults_clip_questions_at_64_and_stride_128(wt):
    """featurize's defaults are XTREME's run_squad settings: questions cut at 64 tokens, windows
    overlapping by 128 tokens."""
    words = (WORDS * 20)[:300]
    context = " ".join(words)
    batch = {"id": ["q"], "question": [" ".join(WORDS * 4)], "context": [context],
             "answers": [{"text": [], "answer_start": []}]}
    out = featurize("span", batch, wt, max_length=256, is_train=False)
    first, second = out["offset_mapping"][:2]
    assert first[1 + 64] == [-1, -1] and first[1 + 63] == [-1, -1] and first[1 + 64 + 1] != [-1, -1]
    assert out["input_ids"][0][1:65] == ids(" ".join((WORDS * 4)[:64]))
    room = 256 - 64 - 3
    starts = [o[0] for o in first if o != [-1, -1]]
    assert len(starts) == room
    assert [o for o in second if o != [-1, -1]][0][0] == starts[room - 128]


def test_a_span_batch_with_no_trainable_row_keeps_every_column(wt):
    batch = {**SPAN, "answers": [{"text": ["dog"], "answer_start": [0]}]}
    out = run("span", batch, wt, max_length=10, doc_stride=2, max_query_length=2, stats={})
    assert out == {"input_ids": [], "example_idx": [], "length": [], "token_type_ids": [],
                   "start_positions": [], "end_positions": []}
