"""Build the per-task training streams of a run: load + tokenize (main process first), then
wrap each task's features in a ``TaskStream`` with its collate function."""
from __future__ import annotations

import logging

import numpy as np
import torch

from trainer.config import max_length_for, micro_batch_for, pair_lengths
from trainer.data.collate import MlmMasker, collate
from trainer.data.load import TaskStream, featurize_dataset, int_column, load_examples
from trainer.runtime import dist

log = logging.getLogger("xstilts.data")


class TrainStream(TaskStream):
    """A TaskStream that also knows how to pad its rows (and mask them, for MLM)."""

    def __init__(self, *args, kind: str, pad_id: int, pad_multiple: int, masker=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind, self.pad_id, self.pad_multiple, self.masker = kind, pad_id, pad_multiple, masker

    def collate(self, rows: list[dict], step: int) -> dict:
        if self.masker is not None:
            self.masker.set_step(step)
        return collate(self.kind, rows, self.pad_id, pad_to_multiple_of=self.pad_multiple or None,
                       mlm=self.masker)


def build_masker(tokenizer, cfg):
    return MlmMasker(mask_id=tokenizer.mask_token_id, vocab_size=len(tokenizer),
                     special_ids=list(tokenizer.all_special_ids), prob=cfg.data.mlm_probability,
                     seed=cfg.run.seed)


def load_train_features(cfg, task, tokenizer, info: dist.DistInfo):
    with dist.main_process_first(info):
        examples = load_examples(task, task.train_split, task.train_language, cfg,
                                 limit=cfg.data.max_train_examples)
        features = featurize_dataset(task, examples, tokenizer, cfg, is_train=True)
    lengths = longest_choices(features) if task.kind == "multiple_choice" else int_column(features)
    report_truncation(task, lengths, cfg, int_column(features, "cand_length") if task.kind == "retrieval" else None)
    return features


def longest_choices(features) -> np.ndarray:
    """The longest choice of each multiple-choice feature. Its "length" is choices x the longest
    choice; the number of choices comes from Arrow, without reading the token ids."""
    import pyarrow.compute as pc

    ids = features.with_format("arrow", columns=["input_ids"])[:]["input_ids"]
    choices = pc.list_value_length(ids).to_numpy(zero_copy_only=False)
    return int_column(features) // np.maximum(choices, 1)


def report_truncation(task, lengths, cfg, cand_lengths=None) -> int:
    """Count (and log) training features cut at the length limit: featurization truncates
    rather than refuses, and nothing should be dropped silently. QA windows are excluded
    (a long context becomes several windows, not a truncated one)."""
    if task.kind == "span" or not len(lengths):
        return 0
    if task.kind == "retrieval" and cand_lengths is not None:  # a query or a candidate at its limit
        query, limit = pair_lengths(cfg, task)
        cand = np.asarray(cand_lengths)
        cut = int(((np.asarray(lengths) - cand >= query) | (cand >= limit)).sum())
        if cut:
            log.warning("%s: %d of %d training pairs reached the query limit (%d tokens) or the candidate "
                        "limit (%d) and were truncated", task.name, cut, len(lengths), query, limit)
        return cut
    limit = max_length_for(cfg, task.name, task.kind)
    cut = int((np.asarray(lengths) >= limit).sum())
    if cut:
        key = f"data.task_max_length.{task.name}" if task.name in cfg.data.task_max_length else "data.max_length"
        log.warning("%s: %d of %d training features reached %s = %d tokens and were truncated",
                    task.name, cut, len(lengths), key, limit)
    return cut


GPU_PAD_MULTIPLE = 8


def pad_multiple(setting: int, device_type: str) -> int:
    """``data.pad_to_multiple_of`` resolved: -1 (auto) is 8 on GPU, where a new batch shape
    costs kernel selection and allocation (at most 16 lengths up to 128 instead of 128), and
    off on CPU, where it would only add padding."""
    if setting >= 0:
        return setting
    return GPU_PAD_MULTIPLE if device_type == "cuda" else 0


def build_streams(cfg, run, tokenizer, info: dist.DistInfo, global_batch: int) -> dict[str, TrainStream]:
    streams = {}
    multiple = pad_multiple(cfg.data.pad_to_multiple_of, dist.device_type())
    micro = micro_batch_for(cfg.deepspeed.micro_batch, global_batch, info.world_size)
    for task in run.tasks:
        features = load_train_features(cfg, task, tokenizer, info)
        streams[task.name] = TrainStream(
            task.name, features, global_batch, micro, info.world_size,
            info.rank, cfg.run.seed, cfg.data.group_by_length, kind=task.kind,
            pad_id=tokenizer.pad_token_id, pad_multiple=multiple,
            masker=build_masker(tokenizer, cfg) if task.kind == "mlm" else None)
        log.info("[%s] %s: %d training features", run.name, task.name, len(features))
    return streams


def to_device(batch: dict, device) -> dict:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v)
            for k, v in batch.items() if k != "meta"}
