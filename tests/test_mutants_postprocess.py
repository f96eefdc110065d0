"""Prediction postprocessing (trainer/evaluation/postprocess.py) checked against values worked out
by hand on small windows whose offsets are written out: survivors of a mutation run of
trainer/evaluation/postprocess.py, each killed here."""
from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from trainer.evaluation.postprocess import (_best_span, choice_predictions, classification_predictions,
                                            default_tag, span_predictions, tagging_predictions)

CTX = "Marie Curie was born in Paris ."
QUESTION = 2  # question tokens before the context: CLS, 2 question tokens, SEP = 4 outside tokens


def words(text: str) -> list[list[int]]:
    """Character offsets [start, end) of the space-separated words of ``text``."""
    out, i = [], 0
    for w in text.split(" "):
        out.append([i, i + len(w)])
        i += len(w) + 1
    return out


def window(spans: list[list[int]]) -> list[list[int]]:
    """Offsets of one span eval feature: CLS, the question, SEP, the context tokens, SEP;
    [-1, -1] outside the context."""
    return [[-1, -1]] * (QUESTION + 2) + [list(s) for s in spans] + [[-1, -1]]


def c(k: int) -> int:
    """Row position of context token k."""
    return QUESTION + 2 + k


def row(offsets, values: dict[int, float], base: float = 0.0) -> np.ndarray:
    """A logits row: ``base`` everywhere, ``values`` at the given context tokens."""
    out = np.full(len(offsets), base)
    for k, v in values.items():
        out[c(k)] = v
    return out


def one(offsets, start: dict, end: dict, base: float = 0.0, ctx: str = CTX, **kw) -> str:
    """The answer of a single example with a single window."""
    ex = [{"id": "q", "context": ctx}]
    ft = {"example_idx": [0], "offset_mapping": [offsets]}
    return span_predictions(ex, ft, [row(offsets, start, base)], [row(offsets, end, base)], **kw)["q"]


W = window(words(CTX))  # Marie(0) Curie(1) was(2) born(3) in(4) Paris(5) .(6)


def test_score_is_start_plus_end_and_pairs_run_forward():
    # (Marie, Curie) 3 + 4 = 7; (Marie, Paris) 4.5; (born, Paris) 6.5; (born, Curie) runs backwards
    start, end = row(W, {0: 3.0, 3: 5.0}), row(W, {1: 4.0, 5: 1.5})
    assert _best_span(start, end, W, 20, 30) == (7.0, 0, 11)
    assert one(W, {0: 3.0, 3: 5.0}, {1: 4.0, 5: 1.5}) == "Marie Curie"
    # the answer starting at character 0 is a context token like any other
    assert one(W, {0: 9.0}, {0: 9.0}) == "Marie"


def test_a_one_token_answer_is_allowed_and_a_reversed_pair_is_not():
    assert one(W, {5: 5.0}, {5: 5.0}) == "Paris"
    # the reversed adjacent pair (born, was) would score 11: born alone (5 + 1) wins
    assert _best_span(row(W, {3: 5.0}, -1.0), row(W, {2: 6.0, 3: 1.0}, -1.0), W, 20, 30) == (6.0, 16, 20)
    assert one(W, {3: 5.0}, {2: 6.0, 3: 1.0}, base=-1.0) == "born"


def test_max_answer_length_counts_tokens_inclusively():
    start, end = {0: 5.0}, {4: 5.0, 3: 0.5}
    assert one(W, start, end, base=-1.0, max_answer_length=5) == "Marie Curie was born in"
    assert one(W, start, end, base=-1.0, max_answer_length=4) == "Marie Curie was born"
    assert one(W, start, end, base=-1.0, max_answer_length=1) == "Marie"


def test_default_max_answer_length_is_30_tokens():
    text = " ".join(f"w{k}" for k in range(31))
    offsets = window(words(text))
    # (w0, w30) is 31 tokens long: the 30-token (w0, w29) wins by default
    assert one(offsets, {0: 5.0}, {30: 5.0, 29: 2.0}, base=-1.0, ctx=text) == \
        " ".join(f"w{k}" for k in range(30))
    assert one(offsets, {0: 5.0}, {30: 5.0, 29: 2.0}, base=-1.0, ctx=text, max_answer_length=31) == text


def test_default_n_best_is_20_starts_and_ends():
    # start logits rise along the context, end logits fall: the 20 best starts (w21..w40) all lie
    # after the 20 best ends (w0..w19), so no pair is valid; the 21st of each meets at w20
    text = " ".join(f"w{k}" for k in range(41))
    offsets = window(words(text))
    start, end = {k: float(k) for k in range(41)}, {k: float(-k) for k in range(41)}
    assert one(offsets, start, end, ctx=text, max_answer_length=100) == ""
    assert one(offsets, start, end, ctx=text, max_answer_length=100, n_best=20) == ""
    assert one(offsets, start, end, ctx=text, max_answer_length=100, n_best=21) == "w20"


def test_n_best_ranks_context_tokens_only():
    # huge logits on the question tokens and the separators must not take the n_best places
    start, end = np.full(len(W), 100.0), np.full(len(W), 100.0)
    start[c(0)], end[c(1)] = 2.0, 3.0
    for k in range(7):
        if k not in (0,):
            start[c(k)] = 0.0
        if k != 1:
            end[c(k)] = 0.0
    ex = [{"id": "q", "context": CTX}]
    ft = {"example_idx": [0], "offset_mapping": [W]}
    assert span_predictions(ex, ft, [start], [end], n_best=1) == {"q": "Marie Curie"}
    assert _best_span(start, end, W, 1, 30) == (5.0, 0, 11)


def test_no_valid_pair_gives_no_span():
    # the only start lies after the only end: n_best=1 leaves no forward pair
    assert _best_span(row(W, {5: 9.0}, -1.0), row(W, {0: 9.0}, -1.0), W, 1, 30) is None
    assert one(W, {5: 9.0}, {0: 9.0}, base=-1.0, n_best=1) == ""
    assert _best_span(row(W, {}), row(W, {}), [[-1, -1]] * len(W), 20, 30) is None


def test_logits_beyond_the_offsets_are_padding():
    # rows padded past the window (gathered batches) with high values: read only len(offsets)
    pad = lambda r: np.concatenate([r, np.full(5, 1e4)])  # noqa: E731
    start, end = row(W, {5: 5.0}), row(W, {5: 5.0})
    assert _best_span(pad(start), pad(end), W, 20, 30) == (10.0, 24, 29)


def test_outer_whitespace_is_dropped():
    # offsets of Metaspace pieces include the word's leading space
    ctx = "Marie Curie was"
    offsets = window([[0, 5], [5, 11], [11, 15]])
    assert one(offsets, {1: 5.0}, {1: 5.0}, ctx=ctx) == "Curie"
    assert one(offsets, {0: 5.0}, {2: 5.0}, ctx=ctx) == "Marie Curie was"


def test_best_window_wins_and_the_first_of_equal_windows():
    ex = [{"id": "a", "context": CTX}]
    ft = {"example_idx": [0, 0, 0], "offset_mapping": [W, W, W]}
    rows = lambda ks: [row(W, {k: v}) for k, v in ks]  # noqa: E731
    # window scores 10 (Marie), 16 (Paris), 12 (born): the second window's Paris
    starts, ends = rows([(0, 5.0), (5, 8.0), (3, 6.0)]), rows([(0, 5.0), (5, 8.0), (3, 6.0)])
    assert span_predictions(ex, ft, starts, ends) == {"a": "Paris"}
    # equal scores: the first window's answer stays
    starts, ends = rows([(0, 8.0), (5, 8.0), (3, 8.0)]), rows([(0, 8.0), (5, 8.0), (3, 8.0)])
    assert span_predictions(ex, ft, starts, ends) == {"a": "Marie"}


def test_windows_go_to_their_own_example():
    ex = [{"id": "x", "context": CTX}, {"id": "y", "context": "Paris is in France"},
          {"id": "z", "context": "no window"}]
    wy = window(words("Paris is in France"))
    ft = {"example_idx": [1, 0, 1], "offset_mapping": [wy, W, wy]}
    starts = [row(wy, {3: 2.0}), row(W, {1: 2.0}), row(wy, {0: 1.0})]
    ends = [row(wy, {3: 2.0}), row(W, {1: 2.0}), row(wy, {0: 1.0})]
    assert span_predictions(ex, ft, starts, ends) == {"x": "Curie", "y": "France", "z": ""}
    # a list of dict rows and datasets inputs read the same; numpy owners are accepted
    rows = [{"example_idx": np.int64(o), "offset_mapping": m} for o, m in zip(ft["example_idx"],
                                                                            ft["offset_mapping"])]
    assert span_predictions(ex, rows, starts, ends) == {"x": "Curie", "y": "France", "z": ""}
    assert span_predictions(datasets.Dataset.from_list(ex), datasets.Dataset.from_dict(ft),
                            tuple(starts), tuple(ends)) == {"x": "Curie", "y": "France", "z": ""}


class Columns:
    """A table read by column only, as a ``datasets.Dataset`` is: ``column_names`` and
    ``table[name]``; iterating it gives nothing row-like."""

    def __init__(self, cols: dict):
        self.cols, self.column_names = cols, list(cols)

    def __getitem__(self, key):
        return self.cols[key]

    def __iter__(self):
        return iter(())


def test_a_table_with_column_names_is_read_by_column():
    ex = Columns({"id": ["x"], "context": [CTX]})
    ft = Columns({"example_idx": [0], "offset_mapping": [W]})
    assert span_predictions(ex, ft, [row(W, {1: 2.0})], [row(W, {1: 2.0})]) == {"x": "Curie"}
    feats = Columns({"word_ids": [[0]], "example_idx": [0]})
    assert tagging_predictions(feats, [np.array([[0.0, 1.0]])], ("O", "B"), [1]) == [["B"]]


def test_span_row_counts_must_match():
    ex = [{"id": "x", "context": CTX}]
    ft = {"example_idx": [0, 0], "offset_mapping": [W, W]}
    r = row(W, {})
    with pytest.raises(ValueError, match=r"^2 features but 1/2 start/end rows$"):
        span_predictions(ex, ft, [r], [r, r])
    with pytest.raises(ValueError, match=r"^2 features but 2/1 start/end rows$"):
        span_predictions(ex, ft, [r, r], [r])
    with pytest.raises(ValueError, match=r"^2 features but 3/3 start/end rows$"):
        span_predictions(ex, ft, [r, r, r], [r, r, r])


def test_padded_torch_logits():
    # a padded (features, length) tensor, bf16 and still attached to the graph
    ex = [{"id": "x", "context": CTX}]
    ft = {"example_idx": [0], "offset_mapping": [W]}
    start = torch.tensor(np.stack([row(W, {3: 4.0})]), dtype=torch.bfloat16, requires_grad=True)
    end = torch.tensor(np.stack([row(W, {5: 4.0})]), dtype=torch.bfloat16, requires_grad=True)
    assert span_predictions(ex, ft, start, end) == {"x": "born in Paris"}


# ---------------------------------------------------------------- tagging

LABELS = ("O", "B", "I")


def onehot(n: int, hot: dict[int, int]) -> np.ndarray:
    """(n, 3) logits: label ``hot[pos]`` at position pos, zeros elsewhere (arg-max label 0)."""
    out = np.zeros((n, len(LABELS)))
    for pos, y in hot.items():
        out[pos, y] = 1.0
    return out


def test_tagging_reads_each_words_first_position():
    # words at positions 0, 2, 3 of a 4-token row; position 1 (a continuation) votes I but is unread
    feats = {"word_ids": [[0, 2, 3]], "example_idx": [0]}
    logits = [onehot(4, {0: 1, 1: 2, 2: 2, 3: 1})]
    assert tagging_predictions(feats, logits, LABELS, [3]) == [["B", "I", "B"]]


def test_tagging_positions_outside_the_row_get_the_default():
    # -1: no position; 3 is past the end of a 3-token row
    feats = {"word_ids": [[1, -1, 2, 3]], "example_idx": [0]}
    logits = [onehot(3, {0: 1, 1: 1, 2: 2})]
    assert tagging_predictions(feats, logits, LABELS, [4]) == [["B", "O", "I", "O"]]
    # without "O" the default is the first label
    assert tagging_predictions(feats, logits, ("B", "I", "X"), [4]) == [["I", "B", "X", "B"]]


def test_tagging_word_counts_bound_the_positions():
    # more positions than words: the extra positions are not words of the example
    feats = {"word_ids": [[0, 1, 2]], "example_idx": [0]}
    logits = [onehot(3, {0: 1, 1: 2, 2: 1})]
    assert tagging_predictions(feats, logits, LABELS, [2]) == [["B", "I"]]
    assert tagging_predictions(feats, logits, LABELS, [np.int64(5)]) == [["B", "I", "B", "O", "O"]]
    assert tagging_predictions(feats, logits, LABELS, [0]) == [[]]


def test_tagging_features_go_to_their_own_example():
    feats = [{"word_ids": [0], "example_idx": 2}, {"word_ids": [1, 0], "example_idx": 0}]
    logits = (onehot(1, {0: 2}), onehot(2, {0: 1, 1: 2}))  # ragged rows in a tuple
    assert tagging_predictions(feats, logits, LABELS, [2, 1, 1]) == [["I", "B"], ["O"], ["I"]]
    padded = np.stack([onehot(2, {0: 2}), onehot(2, {0: 1, 1: 2})])
    assert tagging_predictions(feats, padded, LABELS, [2, 1, 1]) == [["I", "B"], ["O"], ["I"]]
    assert tagging_predictions(feats, torch.tensor(padded), LABELS, [2, 1, 1]) == [["I", "B"], ["O"], ["I"]]


def test_tagging_refusals():
    feats = {"word_ids": [[0], [0]], "example_idx": [0, 1]}
    with pytest.raises(ValueError, match=r"^tagging predictions need the tag set$"):
        tagging_predictions(feats, [onehot(1, {})] * 2, (), [1, 1])
    with pytest.raises(ValueError, match=r"^2 features but 1 logits rows$"):
        tagging_predictions(feats, [onehot(1, {})], LABELS, [1, 1])
    with pytest.raises(ValueError, match=r"^2 features but 3 logits rows$"):
        tagging_predictions(feats, [onehot(1, {})] * 3, LABELS, [1, 1])


def test_default_tag():
    assert default_tag(["B-PER", "O", "I-PER"]) == "O"
    assert default_tag(["B-PER", "I-PER"]) == "B-PER"
    assert default_tag(["o", "B"]) == "o"  # case matters: "o" is not "O"


# ---------------------------------------------------------------- arg-max predictions

def test_argmax_over_the_last_axis():
    logits = np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 3.0]])  # 3 examples, 2 classes
    assert classification_predictions(logits) == [1, 0, 1]
    assert choice_predictions(logits) == [1, 0, 1]
    t = torch.tensor(logits, requires_grad=True)
    assert classification_predictions(t) == [1, 0, 1] and choice_predictions(t) == [1, 0, 1]


def test_argmax_of_batches_and_of_rows():
    batches = [np.array([[0.0, 1.0, 0.0]]), np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])]
    assert classification_predictions(batches) == [1, 0, 2]
    assert choice_predictions(tuple(batches)) == [1, 0, 2]
    per_example = [np.array([0.0, 1.0, 0.0]), np.array([2.0, 0.0, 0.0])]  # one 1-d row each
    assert classification_predictions(per_example) == [1, 0]
    assert choice_predictions(per_example) == [1, 0]
    assert classification_predictions([torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])]) == [1, 0]
    assert classification_predictions(np.zeros((0, 3))) == [] and choice_predictions(np.zeros((0, 3))) == []


def test_equal_logits_rank_the_earlier_token_first():
    # every context token has the same logits: the first start and the first end win, whatever
    # the platform (a stable sort: numpy's default quicksort orders equal keys otherwise)
    flat = {k: 1.0 for k in range(7)}
    assert one(W, flat, flat, n_best=1) == "Marie"
    assert _best_span(row(W, flat), row(W, flat), W, 2, 30) == (2.0, 0, 5)
    text = " ".join(f"w{k}" for k in range(45))
    offsets = window(words(text))
    flat = {k: 1.0 for k in range(45)}
    assert one(offsets, flat, flat, ctx=text, n_best=3) == "w0"


def test_a_list_of_one_batch():
    assert classification_predictions([np.array([[0.0, 1.0], [1.0, 0.0]])]) == [1, 0]
    assert choice_predictions((np.array([[0.0, 0.0, 1.0]]),)) == [2]
