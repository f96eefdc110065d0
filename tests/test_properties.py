"""Properties over large input spaces (hypothesis): metrics against independent definitions,
samplers and streams, parsers that refuse what they cannot use, and collation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eval.metrics import normalize_squad, seqeval_prf, squad_exact, squad_f1
from eval.retrieval_metrics import bucc_extract, bucc_f1, bucc_optimal_threshold
from tests import helpers as h
from trainer import config
from trainer.config import ConfigError
from trainer.data.collate import IGNORE, MlmMasker, collate
from trainer.data.load import TaskStream
from trainer.data.samplers import TaskSampler, task_probabilities
from trainer.errors import HostfileError
from trainer.runtime.hostfile import parse_hostfile

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WORDS = st.sampled_from(["the", "a", "An", "cat", "Cat,", "dog", "sat", "on", "mat.", "über", "12", "-"])
TAGS = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])


# ---------------------------------------------------------------- metrics


@FAST
@given(st.lists(WORDS, max_size=8).map(" ".join), st.lists(WORDS, max_size=8).map(" ".join))
def test_squad_f1_is_symmetric_bounded_and_one_on_exact_match(a, b):
    f = squad_f1(a, b)
    assert 0.0 <= f <= 1.0 and f == pytest.approx(squad_f1(b, a))
    if squad_exact(a, b) and normalize_squad(a):
        assert f == 1.0
    assert normalize_squad(normalize_squad(a)) == normalize_squad(a)


def chunks(tags: list[str]) -> set[tuple[str, int, int]]:
    """conlleval chunks: a chunk starts at B-X, or at I-X after O or another type."""
    out, start, kind = set(), None, None
    for i, tag in enumerate(tags + ["O"]):
        prefix, _, typ = tag.partition("-")
        begins = prefix == "B" or (prefix == "I" and typ != kind)
        if kind is not None and (tag == "O" or begins):
            out.add((kind, start, i))
            kind = None
        if prefix in ("B", "I") and (begins or kind is None):
            start, kind = i, typ
    return out


@FAST
@given(st.lists(st.lists(st.tuples(TAGS, TAGS), min_size=1, max_size=9), min_size=1, max_size=5))
def test_span_f1_matches_the_per_sentence_chunk_definition(pairs):
    gold = [[g for g, _ in s] for s in pairs]
    pred = [[p for _, p in s] for s in pairs]
    g = {(i, *c) for i, s in enumerate(gold) for c in chunks(s)}
    p = {(i, *c) for i, s in enumerate(pred) for c in chunks(s)}
    right = len(g & p)
    precision = right / len(p) if p else 0.0
    recall = right / len(g) if g else 0.0
    f1 = 2 * precision * recall / (precision + recall) if right else 0.0
    assert seqeval_prf(pred, gold)["f1"] == pytest.approx(100 * f1)


@FAST
@given(st.dictionaries(st.tuples(st.text("abc", min_size=1, max_size=2), st.text("xyz", min_size=1, max_size=2)),
                       st.floats(0, 1, allow_nan=False), min_size=2, max_size=12),
       st.floats(0, 1, allow_nan=False), st.data())
def test_bucc_threshold_keeps_exactly_the_pairs_at_or_above_it_and_tuning_is_optimal(cands, th, data):
    assert set(bucc_extract(cands, th)) == {pair for pair, s in cands.items() if s >= th}
    # With tied scores the official bucc_optimize may pick a cut between tied candidates that no
    # threshold reproduces (the next test, by hand); optimality holds for distinct scores.
    assume(len(set(cands.values())) == len(cands))
    scores = sorted(set(cands.values()), reverse=True)
    # the official threshold is the midpoint of two neighbouring scores: it must fall strictly
    # between them, which float rounding denies to neighbours one ulp apart (or 5e-324 and 0)
    assume(all(a > (a + b) / 2 > b for a, b in zip(scores, scores[1:])))
    gold = data.draw(st.sets(st.sampled_from(sorted(cands)), min_size=1))
    best = max(bucc_f1([p for p, s in cands.items() if s >= t], gold)["f1"] for t in scores)
    tuned = bucc_f1(bucc_extract(cands, bucc_optimal_threshold(cands, gold)), gold)["f1"]
    assert tuned == pytest.approx(best)


def test_bucc_tuning_with_tied_scores_walks_candidates_as_the_official_script():
    """bucc_optimize walks the candidates best first and keeps the best F1 seen; the threshold is
    the midpoint to the next score, here 1.0 (the tie), which extracts both tied pairs."""
    cands = {("a", "y"): 1.0, ("c", "x"): 1.0, ("b", "x"): 0.0, ("a", "x"): 0.0}
    gold = {("a", "x"), ("a", "y")}
    assert bucc_optimal_threshold(cands, gold) == 1.0
    assert bucc_f1(bucc_extract(cands, 1.0), gold)["f1"] == pytest.approx(50.0)


# ---------------------------------------------------------------- samplers and streams


@FAST
@given(st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 10_000), min_size=1),
       st.sampled_from(["proportional", "capped", "temperature", "uniform"]),
       st.integers(0, 500), st.floats(0.5, 5))
def test_task_probabilities_sum_to_one_and_respect_the_cap(sizes, kind, cap, temperature):
    probs = task_probabilities(sizes, kind, cap, temperature)
    assert list(probs) == list(sizes) and sum(probs.values()) == pytest.approx(1.0)
    if kind == "capped" and cap:  # tasks at or above the cap weigh the same
        big = [probs[t] for t, n in sizes.items() if n >= cap]
        assert all(b == pytest.approx(big[0]) for b in big)
    sampler = TaskSampler(probs, seed=3)
    assert [sampler.task_at(s) for s in range(20)] == [TaskSampler(probs, 3).task_at(s) for s in range(20)]


class _Features:
    def __init__(self, lengths):
        self.lengths = lengths


@FAST
@given(st.lists(st.integers(1, 60), min_size=16, max_size=80), st.sampled_from([(1, 8), (2, 4), (4, 2), (8, 1)]),
       st.integers(0, 99))
def test_ranks_get_disjoint_complete_shares_of_every_global_batch(lengths, world_micro, seed):
    import trainer.data.load as load

    world, micro = world_micro
    original = load.int_column
    load.int_column = lambda features, name="length": np.asarray(features.lengths)
    try:
        streams = [TaskStream("t", _Features(lengths), 8, micro, world, r, seed) for r in range(world)]
        whole = TaskStream("t", _Features(lengths), 8, 8, 1, 0, seed)
        for _ in range(6):
            shares = [sum(s.next_step(), []) for s in streams]
            rows = sum(shares, [])
            assert sorted(rows) == sorted(whole.next_step()[0]) and len(set(rows)) == 8
    finally:
        load.int_column = original


# ---------------------------------------------------------------- parsers


@FAST
@given(st.sampled_from(["run.seed", "run.log_every", "deepspeed.micro_batch", "eval.batch_size", "data.max_length"]),
       st.one_of(st.sampled_from(["true", "false", "1.5", "ten", "", "[1]", "1e3"]), st.text("xyz!@# ", min_size=1)))
def test_a_malformed_integer_override_is_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config.load(None, [f"{key}={value}"])


@FAST
@given(st.sampled_from(["slots=", "slots=x", "slots=-1", "slots=2 3", "port=22", "slots=0", ":2", "slots=1;rm"]),
       st.integers(1, 4))
def test_a_malformed_hostfile_line_is_refused_naming_its_line(tmp_path, bad, line):
    good = [f"node{i} slots=1" for i in range(line - 1)]
    path = h.write_text(str(tmp_path / "hosts"), "\n".join(good + [f"bad-node {bad}"]) + "\n")
    with pytest.raises(HostfileError, match=rf"hosts:{line}: "):
        parse_hostfile(path)


# ---------------------------------------------------------------- collation


@FAST
@given(st.lists(st.integers(1, 12), min_size=1, max_size=6), st.sampled_from([None, 8]))
def test_padding_never_carries_a_label(lengths, multiple):
    rows = [{"input_ids": [5] * n, "labels": [1] * n, "example_idx": i, "length": n} for i, n in enumerate(lengths)]
    batch = collate("tagging", rows, pad_id=1, pad_to_multiple_of=multiple)
    pad = batch["attention_mask"] == 0
    assert (batch["labels"][pad] == IGNORE).all() and (batch["input_ids"][pad] == 1).all()
    assert (batch["labels"][~pad] == 1).all()


@FAST
@given(st.integers(0, 10_000), st.floats(0.05, 0.95))
def test_mlm_never_writes_a_special_id_and_never_masks_padding(seed, prob):
    masker = MlmMasker(mask_id=4, vocab_size=40, special_ids=[0, 1, 2, 3, 4], prob=prob, seed=seed)
    ids = torch.randint(5, 40, (6, 16), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones_like(ids)
    mask[3:, 10:] = 0
    ids[mask == 0] = 1
    masked, labels, _ = masker(ids, mask)
    changed = masked != ids
    assert not torch.isin(masked[changed & (masked != 4)], torch.tensor([0, 1, 2, 3, 4])).any()
    assert (labels[mask == 0] == IGNORE).all() and (masked[mask == 0] == 1).all()
