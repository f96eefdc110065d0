"""Collation bookkeeping and the MLM masker's randomness: padding counts, the probability's
bounds, special ids at the vocabulary's edge, and masks that depend on the seed, the step, the
call within the step and the batch, and on nothing else (a resumed run masks as the saved one)."""
from __future__ import annotations

import pytest
import torch

from trainer.data.collate import MlmMasker, padding_stats


def test_padding_stats_of_flat_and_multiple_choice_rows():
    assert padding_stats([]) == (0, 0)
    assert padding_stats([{"input_ids": [1, 2, 3]}, {"input_ids": [1]}]) == (4, 6)
    assert padding_stats([{"input_ids": [1, 2, 3]}, {"input_ids": [1]}], pad_to_multiple_of=4) == (4, 8)
    # multiple choice: every choice is a row of the batch
    rows = [{"input_ids": [[1, 2], [1, 2, 3]]}, {"input_ids": [[1], [1]]}]
    assert padding_stats(rows) == (7, 12)
    assert padding_stats([{"input_ids": []}, {"input_ids": [1, 2]}]) == (2, 4)


def _masker(**kw) -> MlmMasker:
    return MlmMasker(mask_id=4, vocab_size=50, special_ids=[0, 1, 2, 3, 4], **kw)


@pytest.mark.parametrize("prob", [0.0, 1.0, 1.5, -0.1])
def test_the_mlm_probability_is_inside_0_and_1(prob):
    with pytest.raises(ValueError, match=rf"^mlm probability must be in \(0, 1\), got {prob}$"):
        _masker(prob=prob)


def test_masker_defaults_and_special_ids_at_the_edge():
    m = _masker()
    assert (m.prob, m.seed, m.step) == (0.15, 0, 0)
    # a special id equal to the vocabulary size (an added token) is no replacement candidate
    edge = MlmMasker(mask_id=4, vocab_size=10, special_ids=[0, 10, 9], prob=0.5)
    assert edge.replacements.tolist() == list(range(1, 9))
    none = MlmMasker(mask_id=4, vocab_size=6, special_ids=[], prob=0.5)
    ids = torch.arange(6).view(1, 6)
    assert none(ids, torch.ones_like(ids))[1].shape == (1, 6)


IDS = torch.arange(5, 45).view(2, 20)


def _positions(m: MlmMasker, ids: torch.Tensor = IDS) -> list[int]:
    return m(ids, torch.ones_like(ids))[2].tolist()


def test_masks_are_pinned_for_a_seed_step_and_call():
    # the pattern a checkpoint's step reproduces on resume; a change here changes resumed runs
    m = _masker(prob=0.3, seed=7)
    m.set_step(3)
    assert _positions(m) == [1, 3, 6, 8, 11, 16, 20, 22, 23, 25, 28, 29, 33, 36]
    assert _positions(m) == [9, 12, 15, 16, 19, 24, 25, 27, 29, 32, 37]  # the step's second call
    m.set_step(3)
    assert _positions(m) == [1, 3, 6, 8, 11, 16, 20, 22, 23, 25, 28, 29, 33, 36]


def test_masks_depend_on_seed_step_call_and_batch():
    fresh = _masker(prob=0.3, seed=7)
    at_zero = _masker(prob=0.3, seed=7)
    at_zero.set_step(0)
    assert _positions(fresh) == _positions(at_zero)  # a new masker is at step 0, call 0
    base = _positions(_masker(prob=0.3, seed=7))
    other_seed = _positions(_masker(prob=0.3, seed=8))
    later = _masker(prob=0.3, seed=7)
    later.set_step(1)
    changed = IDS.clone()
    changed[1, 19] = 46  # one token of the batch differs
    other_batch = _positions(_masker(prob=0.3, seed=7), changed)
    assert len({tuple(base), tuple(other_seed), tuple(_positions(later)), tuple(other_batch)}) == 4


def test_token_type_ids_are_padded_with_zero_not_the_pad_id():
    from trainer.data.collate import collate

    rows = [{"input_ids": [0, 5, 6, 2], "token_type_ids": [0, 0, 1, 1], "labels": 1},
            {"input_ids": [0, 7, 2], "token_type_ids": [0, 1, 1], "labels": 0}]
    batch = collate("classification", rows, pad_id=1)
    assert batch["input_ids"].tolist() == [[0, 5, 6, 2], [0, 7, 2, 1]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 1, 1], [0, 1, 1, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]


def test_picked_tokens_are_masked_80_swapped_10_and_kept_10_percent():
    m = MlmMasker(mask_id=4, vocab_size=1000, special_ids=[0, 1, 2, 3, 4], prob=0.5, seed=3)
    ids = torch.arange(5, 1000).repeat(4).view(4, -1)
    masked, labels, _ = m(ids, torch.ones_like(ids))
    picked = labels != -100
    n = int(picked.sum())
    to_mask = int((masked[picked] == 4).sum()) / n
    kept = int((masked[picked] == ids[picked]).sum()) / n
    assert 0.75 < to_mask < 0.85 and 0.07 < kept < 0.13 and 0.07 < 1 - to_mask - kept < 0.13
    assert torch.equal(masked[~picked], ids[~picked])



def test_collate_messages_and_kinds():
    from trainer.data.collate import collate, padded_length

    with pytest.raises(ValueError, match=r"^cannot collate an empty batch$"):
        collate("classification", [], pad_id=1)
    with pytest.raises(ValueError, match=r"^unknown head kind 'regression'$"):
        collate("regression", [{"input_ids": [1]}], pad_id=1)
    with pytest.raises(ValueError, match=r"^multiple-choice rows of one batch differ in their number of choices: \[2, 3\]$"):
        collate("multiple_choice", [{"input_ids": [[1], [2]]}, {"input_ids": [[1], [2], [3]]}], pad_id=0)
    assert (padded_length(16, 8), padded_length(17, 8), padded_length(5, None)) == (16, 24, 5)
    # multiple choice: token types padded per choice, in the (rows, choices, width) shape
    mc = collate("multiple_choice", [{"input_ids": [[0, 5], [0, 6, 7]], "token_type_ids": [[0, 1], [0, 1, 1]],
                                      "labels": 1}], pad_id=1)
    assert mc["token_type_ids"].tolist() == [[[0, 1, 0], [0, 1, 1]]] and mc["labels"].dtype == torch.long
    # tagging rows without labels (prediction) get none; classification labels are long integers
    assert "labels" not in collate("tagging", [{"input_ids": [1, 2]}], pad_id=0)
    assert "labels" not in collate("classification", [{"input_ids": [1, 2]}], pad_id=0)
    span = collate("span", [{"input_ids": [1, 2], "start_positions": 1, "end_positions": 1}], pad_id=0)
    assert span["start_positions"].dtype == torch.long and span["input_ids"].dtype == torch.long
    # an MLM batch without a masker is left unmasked; with one, input_ids are the masked ids
    plain = collate("mlm", [{"input_ids": [5, 6, 7]}], pad_id=1)
    assert plain["input_ids"].tolist() == [[5, 6, 7]] and "labels" not in plain
    m = MlmMasker(mask_id=4, vocab_size=50, special_ids=[0, 1, 2, 3, 4], prob=0.9, seed=1)
    masked = collate("mlm", [{"input_ids": list(range(5, 45))}], pad_id=1, mlm=m)
    assert set(masked) >= {"input_ids", "labels", "mlm_positions"}
    assert (masked["input_ids"] == 4).any()
