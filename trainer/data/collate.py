"""Batch collation: feature rows (trainer/data/features.py) -> padded tensors, and MLM masking.

This module owns dynamic padding (to the longest row of the batch, optionally rounded up to a
multiple), attention masks (built from row lengths; features store none), and BERT-style
masking for the MLM head.

``collate`` returns, per kind (``token_type_ids`` whenever the rows carry it, padded with 0):
  classification   input_ids, attention_mask (batch, seq); labels (batch,)
  multiple_choice  input_ids, attention_mask (batch, choices, seq); labels (batch,)
  span             input_ids, attention_mask; start_positions, end_positions (batch,) when the
                   rows are training features
  tagging          input_ids, attention_mask; labels (batch, seq), padded with -100
  mlm              input_ids (masked), attention_mask, labels (-100 where not masked) and
                   mlm_positions (flat indices into batch*seq of the masked positions) when a
                   masker is given; without one, the unmasked input_ids and attention_mask
  retrieval        input_ids, attention_mask (the queries); cand_input_ids, cand_attention_mask
                   (the candidates, padded to their own longest)
and always ``meta``: a list (one dict per row) of the fields that are not tensors:
``example_idx`` plus ``offset_mapping`` (span eval) and ``word_ids`` (tagging). ``meta`` stays on
the host (trainer.data.streams.to_device drops it); evaluation uses it to map outputs back.
"""
from __future__ import annotations

import hashlib
import zlib
from typing import Sequence

import torch

IGNORE = -100
META_FIELDS = ("example_idx", "offset_mapping", "word_ids")


def padded_length(longest: int, pad_to_multiple_of: int | None = None) -> int:
    if pad_to_multiple_of and longest % pad_to_multiple_of:
        return longest + pad_to_multiple_of - longest % pad_to_multiple_of
    return longest


def _pad(seqs: Sequence[Sequence[int]], value: int, width: int) -> torch.Tensor:
    out = torch.full((len(seqs), width), value, dtype=torch.long)
    for i, seq in enumerate(seqs):
        out[i, :len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return out


def _mask_from(seqs: Sequence[Sequence[int]], width: int) -> torch.Tensor:
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    return (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)).long()


def _flat_choices(rows: list[dict], key: str) -> list:
    sizes = {len(r[key]) for r in rows}
    if len(sizes) != 1:
        raise ValueError(f"multiple-choice rows of one batch differ in their number of choices: "
                         f"{sorted(sizes)}")
    return [choice for r in rows for choice in r[key]]


def collate(kind: str, rows: list[dict], pad_id: int, pad_to_multiple_of: int | None = None,
            mlm: "MlmMasker | None" = None) -> dict:
    """Pad a list of feature rows of head kind ``kind`` into a batch (see the module doc)."""
    if not rows:
        raise ValueError("cannot collate an empty batch")
    if kind not in ("classification", "multiple_choice", "span", "tagging", "mlm", "retrieval"):
        raise ValueError(f"unknown head kind {kind!r}")
    choice = kind == "multiple_choice"
    ids = _flat_choices(rows, "input_ids") if choice else [r["input_ids"] for r in rows]
    width = padded_length(max(len(s) for s in ids), pad_to_multiple_of)
    batch = {"input_ids": _pad(ids, pad_id, width), "attention_mask": _mask_from(ids, width)}
    if "token_type_ids" in rows[0]:
        types = _flat_choices(rows, "token_type_ids") if choice else [r["token_type_ids"] for r in rows]
        batch["token_type_ids"] = _pad(types, 0, width)
    if choice:
        shape = (len(rows), len(rows[0]["input_ids"]), width)
        batch = {k: v.view(shape) for k, v in batch.items()}
    if kind in ("classification", "multiple_choice") and "labels" in rows[0]:
        batch["labels"] = torch.tensor([r["labels"] for r in rows], dtype=torch.long)
    elif kind == "tagging" and "labels" in rows[0]:
        batch["labels"] = _pad([r["labels"] for r in rows], IGNORE, width)
    elif kind == "span" and "start_positions" in rows[0]:
        for key in ("start_positions", "end_positions"):
            batch[key] = torch.tensor([r[key] for r in rows], dtype=torch.long)
    elif kind == "mlm" and mlm is not None:
        batch["input_ids"], batch["labels"], batch["mlm_positions"] = mlm(
            batch["input_ids"], batch["attention_mask"])
    elif kind == "retrieval":
        cands = [r["cand_input_ids"] for r in rows]
        cwidth = padded_length(max(len(s) for s in cands), pad_to_multiple_of)
        batch["cand_input_ids"], batch["cand_attention_mask"] = _pad(cands, pad_id, cwidth), _mask_from(cands, cwidth)
        if "cand_token_type_ids" in rows[0]:
            batch["cand_token_type_ids"] = _pad([r["cand_token_type_ids"] for r in rows], 0, cwidth)
    batch["meta"] = [{k: r[k] for k in META_FIELDS if k in r} for r in rows]
    return batch


def padding_stats(rows: list[dict], pad_to_multiple_of: int | None = None) -> tuple[int, int]:
    """(real tokens, tokens after padding) of one batch; multiple-choice rows count every choice."""
    if not rows:
        return 0, 0
    first = rows[0]["input_ids"]
    nested = bool(first) and isinstance(first[0], (list, tuple))
    seqs = [s for r in rows for s in r["input_ids"]] if nested else [r["input_ids"] for r in rows]
    real = sum(len(s) for s in seqs)
    return real, len(seqs) * padded_length(max(len(s) for s in seqs), pad_to_multiple_of)


class MlmMasker:
    """BERT-style masking: each maskable token (attended, not special) is picked with
    probability ``prob``; a picked token becomes ``<mask>`` 80% of the time, a random non-special
    token 10%, and stays itself 10%.

    Randomness comes from a ``torch.Generator`` seeded from (seed, step, the call's index within
    the step, a checksum of the batch's ids): the same step of a resumed run masks the same
    way, while the micro-batches of one step (and the ranks, holding other data) do not all
    share one mask pattern.
    """

    def __init__(self, mask_id: int, vocab_size: int, special_ids: Sequence[int],
                 prob: float = 0.15, seed: int = 0):
        if not 0.0 < prob < 1.0:
            raise ValueError(f"mlm probability must be in (0, 1), got {prob}")
        self.mask_id, self.vocab_size, self.prob, self.seed = mask_id, vocab_size, prob, seed
        self.special = torch.tensor(sorted(set(special_ids)), dtype=torch.long)
        keep = torch.ones(vocab_size, dtype=torch.bool)
        keep[self.special[self.special < vocab_size]] = False
        self.replacements = keep.nonzero().squeeze(-1)  # ids a random replacement may take
        self.step, self.calls = 0, 0

    def set_step(self, step: int) -> None:
        self.step, self.calls = int(step), 0

    def _generator(self, input_ids: torch.Tensor) -> torch.Generator:
        checksum = zlib.crc32(input_ids.cpu().numpy().tobytes())
        key = f"{self.seed}:{self.step}:{self.calls}:{checksum}".encode()
        self.calls += 1
        gen = torch.Generator()
        gen.manual_seed(int.from_bytes(hashlib.sha256(key).digest()[:8], "little") >> 1)
        return gen

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(masked input_ids, labels, mlm_positions) for a padded batch."""
        gen = self._generator(input_ids)
        maskable = attention_mask.bool() & ~torch.isin(input_ids, self.special)
        picked = (torch.rand(input_ids.shape, generator=gen) < self.prob) & maskable
        action = torch.rand(input_ids.shape, generator=gen)
        random_ids = self.replacements[torch.randint(len(self.replacements), input_ids.shape,
                                                     generator=gen)]
        masked = input_ids.clone()
        masked[picked & (action < 0.8)] = self.mask_id
        swap = picked & (action >= 0.8) & (action < 0.9)
        masked[swap] = random_ids[swap]
        labels = torch.where(picked, input_ids, torch.full_like(input_ids, IGNORE))
        positions = picked.flatten().nonzero().squeeze(-1)
        return masked, labels, positions
