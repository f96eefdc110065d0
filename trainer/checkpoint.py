"""Checkpoints: DeepSpeed engine state plus the client state of every resumable piece
(step, sampler, data positions, best score, config), written atomically.

Layout under ``<phase dir>/checkpoints``: one folder per tag (``step_000120``), a ``latest``
file naming the newest complete tag, and ``best`` naming the best one. A save goes to
``<tag>.tmp`` first and is renamed when every rank has written its shard; ``latest`` is replaced
last, so a job killed mid-save leaves the previous checkpoint loadable.
"""
from __future__ import annotations

import json
import logging
import os
import shutil

from trainer import dist

log = logging.getLogger("xstilts.checkpoint")


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_pointer(ckpt_dir: str, name: str = "latest") -> str | None:
    path = os.path.join(ckpt_dir, name)
    if not os.path.isfile(path):
        return None
    tag = open(path).read().strip()
    return tag if tag and os.path.isdir(os.path.join(ckpt_dir, tag)) else None


def list_tags(ckpt_dir: str) -> list[str]:
    if not os.path.isdir(ckpt_dir):
        return []
    return sorted(t for t in os.listdir(ckpt_dir)
                  if t.startswith("step_") and not t.endswith(".tmp")
                  and os.path.isdir(os.path.join(ckpt_dir, t)))


def save(engine, ckpt_dir: str, step: int, client_state: dict, info: dist.DistInfo,
         keep_last: int = 2, is_best: bool = False) -> str:
    """Save engine + client state under ``step_<n>`` atomically; prune old tags."""
    tag = f"step_{step:07d}"
    tmp_tag = tag + ".tmp"
    if info.local_rank == 0:
        os.makedirs(ckpt_dir, exist_ok=True)
        shutil.rmtree(os.path.join(ckpt_dir, tmp_tag), ignore_errors=True)
    dist.barrier()
    engine.save_checkpoint(ckpt_dir, tag=tmp_tag, client_state=client_state, save_latest=False)
    dist.barrier()  # every rank's optimizer shard is on disk before the rename
    if info.local_rank == 0:
        final = os.path.join(ckpt_dir, tag)
        try:
            if os.path.isdir(final):
                shutil.rmtree(final)
            os.replace(os.path.join(ckpt_dir, tmp_tag), final)
        except FileNotFoundError:
            pass  # another node on the same shared filesystem renamed it first
        if is_best:
            _write_atomic(os.path.join(ckpt_dir, "best"), tag)
        _write_atomic(os.path.join(ckpt_dir, "latest"), tag)
        _prune(ckpt_dir, keep_last)
    dist.barrier()
    return tag


def _prune(ckpt_dir: str, keep_last: int) -> None:
    keep = set(list_tags(ckpt_dir)[-max(keep_last, 1):])
    for name in ("latest", "best"):
        tag = read_pointer(ckpt_dir, name)
        if tag:
            keep.add(tag)
    for tag in list_tags(ckpt_dir):
        if tag not in keep:
            shutil.rmtree(os.path.join(ckpt_dir, tag), ignore_errors=True)


def load(engine, ckpt_dir: str, tag: str | None = None) -> dict | None:
    """Load engine state (model, optimizer, scheduler) and return the client state."""
    tag = tag or read_pointer(ckpt_dir)
    if tag is None:
        return None
    _, client = engine.load_checkpoint(ckpt_dir, tag=tag, load_optimizer_states=True,
                                       load_lr_scheduler_states=True)
    if client is None:
        raise RuntimeError(f"{ckpt_dir}/{tag}: DeepSpeed could not load this checkpoint")
    return client


def saved_world_size(ckpt_dir: str, tag: str) -> int | None:
    """Data-parallel world size a ZeRO checkpoint was written with (number of optimizer shards)."""
    folder = os.path.join(ckpt_dir, tag)
    shards = [f for f in os.listdir(folder) if f.endswith("optim_states.pt")]
    return len(shards) or None


def fp32_state_dict(ckpt_dir: str, tag: str) -> dict:
    """Full fp32 weights merged from the ZeRO shards (the exact master weights)."""
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    return get_fp32_state_dict_from_zero_checkpoint(ckpt_dir, tag=tag)


def client_state_json(state: dict) -> str:
    return json.dumps(state, indent=2, default=str)
