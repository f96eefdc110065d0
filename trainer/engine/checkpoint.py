"""Checkpoints: DeepSpeed engine state plus the client state of every resumable piece
(step, sampler, data positions, per-rank RNG states, best score, config), written atomically,
and loaded on any world size.

Layout under ``<phase dir>/checkpoints``: one folder per tag (``step_000120``), a ``latest``
file naming the newest complete tag, and ``best`` naming the best one. A save goes to
``<tag>.tmp`` first and is renamed when every rank has written its shard; ``latest`` is replaced
last, so a job killed mid-save leaves the previous checkpoint loadable. Pruning keeps the last
``keep_last`` tags plus ``best`` and ``latest``.

A ZeRO checkpoint holds one optimizer shard per data-parallel rank, and DeepSpeed refuses to
load it on another world size. ``load`` notices the change from the number of shards, has the
main process convert the tag once into DeepSpeed's universal format under
``checkpoints/universal/<tag>``, and loads that instead.

Security: DeepSpeed reads its own checkpoint files with ``torch.load(weights_only=False)``
(engine state, universal conversion, fp32 merge); that is outside this project's control, so
only load checkpoints this tool wrote.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import random
import shutil

import numpy as np

from trainer.runtime import dist, faults

log = logging.getLogger("xstilts.checkpoint")
UNIVERSAL = "universal"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names its folder."""


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


def latest_tag(ckpt_dir: str) -> str | None:
    """The tag to resume from: ``latest``, or the newest renamed tag if the job died between the
    rename and the pointer update (a renamed tag is complete: the rename follows every shard)."""
    tag = read_pointer(ckpt_dir)
    tags = list_tags(ckpt_dir)
    if tags and (tag is None or tags[-1] > tag):
        if tag is not None or os.path.isfile(os.path.join(ckpt_dir, "latest")):
            log.warning("%s: `latest` names %s but %s is newer and complete; using it",
                        ckpt_dir, tag, tags[-1])
        return tags[-1]
    return tag


# ---------------------------------------------------------------- RNG


def rng_state() -> dict:
    """Every generator this process draws from (python, numpy, torch CPU and CUDA)."""
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def restore_rng(states: list[dict] | None, rank: int, seed: int, step: int) -> None:
    """Rank r continues rank r's saved streams; a rank the checkpoint did not have (more ranks
    than before) gets fresh streams seeded by (seed, step, rank), the same on every retry."""
    import torch

    if states and rank < len(states):
        set_rng_state(states[rank])
        return
    fresh = (seed * 1_000_003 + step) * 1_009 + rank
    random.seed(fresh)
    np.random.seed(fresh % 2**32)
    torch.manual_seed(fresh)
    log.info("rank %d: no saved RNG state for this rank (checkpoint of %d ranks); seeded afresh",
             rank, len(states or []))


# ---------------------------------------------------------------- save


def weights_finite(engine) -> bool:
    """True when every rank's parameters are finite (one all-reduce: every rank agrees)."""
    import torch

    bad = sum(int(not torch.isfinite(p).all()) for p in engine.module.parameters())
    return dist.all_reduce_sum([float(bad)])[0] == 0


def save(engine, ckpt_dir: str, step: int, client_state: dict, info: dist.DistInfo,
         keep_last: int = 2, is_best: bool = False) -> str | None:
    """Save engine + client state under ``step_<n>`` atomically; prune old tags. Returns the
    tag, or None when the weights are not finite (``latest`` keeps pointing at a good one)."""
    tag = f"step_{step:07d}"
    tmp_tag = tag + ".tmp"
    if not weights_finite(engine):
        log.error("not saving %s: the weights hold NaN or inf; %s stays the latest checkpoint",
                  tag, read_pointer(ckpt_dir))
        return None
    if info.local_rank == 0:
        os.makedirs(ckpt_dir, exist_ok=True)
        shutil.rmtree(os.path.join(ckpt_dir, tmp_tag), ignore_errors=True)
    dist.barrier()
    engine.save_checkpoint(ckpt_dir, tag=tmp_tag, client_state=client_state, save_latest=False)
    dist.barrier()  # every rank's optimizer shard is on disk before the rename
    faults.during_save(step, info.rank)
    # One process publishes the tag: the global main on a shared run folder. A node whose run
    # folder is its own (the main's rename did not reach it) then publishes its local copy; two
    # nodes renaming the same shared folder could delete each other's result.
    if info.is_main:
        _publish(ckpt_dir, tag, is_best, keep_last)
    dist.barrier()
    if not info.is_main and info.local_rank == 0 and os.path.isdir(os.path.join(ckpt_dir, tmp_tag)):
        _publish(ckpt_dir, tag, is_best, keep_last)
    dist.barrier()
    return tag


def _publish(ckpt_dir: str, tag: str, is_best: bool, keep_last: int) -> None:
    """Rename ``<tag>.tmp`` to ``<tag>``, then point ``best`` and ``latest`` at it, then prune."""
    final = os.path.join(ckpt_dir, tag)
    if os.path.isdir(final):  # a re-run of the same step (resumed from an earlier tag)
        shutil.rmtree(final)
    shutil.rmtree(os.path.join(ckpt_dir, UNIVERSAL, tag), ignore_errors=True)  # a stale conversion
    os.replace(os.path.join(ckpt_dir, tag + ".tmp"), final)
    if is_best:
        _write_atomic(os.path.join(ckpt_dir, "best"), tag)
    _write_atomic(os.path.join(ckpt_dir, "latest"), tag)
    prune(ckpt_dir, keep_last)


def prune(ckpt_dir: str, keep_last: int) -> list[str]:
    """Remove all but the last ``keep_last`` tags, ``best`` and ``latest`` (and their universal
    conversions); also half-written ``.tmp`` tags, stale once a later save completed."""
    keep = set(list_tags(ckpt_dir)[-max(keep_last, 1):])
    for name in ("latest", "best"):
        tag = read_pointer(ckpt_dir, name)
        if tag:
            keep.add(tag)
    removed = [t for t in list_tags(ckpt_dir) if t not in keep]
    removed += [t for t in os.listdir(ckpt_dir) if t.startswith("step_") and t.endswith(".tmp")]
    for tag in removed:
        shutil.rmtree(os.path.join(ckpt_dir, tag), ignore_errors=True)
        shutil.rmtree(os.path.join(ckpt_dir, UNIVERSAL, tag), ignore_errors=True)
    return removed


# ---------------------------------------------------------------- load


def load(engine, ckpt_dir: str, info: dist.DistInfo | None = None, tag: str | None = None) -> dict | None:
    """Load engine state (model, optimizer, scheduler) and return the client state; through the
    universal format when the checkpoint was written on another world size."""
    info = info or dist.DistInfo()
    tag = tag or latest_tag(ckpt_dir)
    if tag is None:
        return None
    saved = saved_world_size(ckpt_dir, tag)
    if saved is None:
        raise CheckpointError(f"{ckpt_dir}/{tag}: no optimizer shards; not a ZeRO checkpoint of this tool")
    if saved == info.world_size:
        try:
            _, client = engine.load_checkpoint(ckpt_dir, tag=tag, load_optimizer_states=True,
                                               load_lr_scheduler_states=True)
        except RuntimeError as e:
            if "layout does not match" not in str(e):
                raise
            # ZeRO's saved partitions follow the parameter tensors they were cut from
            raise CheckpointError(f"{ckpt_dir}/{tag} was written with other parameter tensors: resume "
                                  "with the model.flat_params, model.flat_unit and model.flat_layers "
                                  "settings of the run that wrote it (flat_params false for a checkpoint "
                                  "older than that setting)") from None
    else:
        log.info("%s/%s was written by %d ranks and this run has %d: loading it as a universal "
                 "checkpoint", ckpt_dir, tag, saved, info.world_size)
        root = ensure_universal(ckpt_dir, tag, info)
        # DeepSpeed reads `checkpoint.load_universal` only while loading, so it is switched on
        # for this load alone (the engine was built before we knew the checkpoint's shape).
        engine._config.load_universal_checkpoint = True
        try:
            _, client = engine.load_checkpoint(root, tag=tag, load_optimizer_states=True,
                                               load_lr_scheduler_states=True)
        finally:
            engine._config.load_universal_checkpoint = False
    if client is None:
        raise CheckpointError(f"{ckpt_dir}/{tag}: DeepSpeed could not load this checkpoint")
    return client


def ensure_universal(ckpt_dir: str, tag: str, info: dist.DistInfo) -> str:
    """Convert ``tag`` once (main process; the others wait) and return the universal root."""
    root = os.path.join(ckpt_dir, UNIVERSAL)
    done = os.path.join(root, tag, "zero", "optimizer_state.pt")

    def convert() -> None:
        if os.path.isfile(done):
            return
        tmp = os.path.join(root, tag + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        to_universal(os.path.join(ckpt_dir, tag), tmp)
        shutil.rmtree(os.path.join(root, tag), ignore_errors=True)
        os.replace(tmp, os.path.join(root, tag))
        _write_atomic(os.path.join(root, "latest_universal"), tag)
        log.info("converted %s/%s to the universal format in %s", ckpt_dir, tag, root)

    dist.run_on_main(info, f"universal/{ckpt_dir}/{tag}", convert)
    return root


def to_universal(src: str, out: str) -> None:
    """DeepSpeed's ZeRO -> universal conversion, in-process, with its progress output captured.
    A pure data-parallel model has no tensor-parallel layout to describe, so the (empty)
    universal info DeepSpeed asks for is injected."""
    from deepspeed.checkpoint import ds_to_universal

    args = argparse.Namespace(input_folder=src, output_folder=out, num_extract_workers=1,
                              num_merge_workers=1, keep_temp_folder=False, strict=True,
                              inject_missing_state=True)
    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):
        ds_to_universal.main(args)


def saved_world_size(ckpt_dir: str, tag: str) -> int | None:
    """Data-parallel world size a ZeRO checkpoint was written with (number of optimizer shards)."""
    folder = os.path.join(ckpt_dir, tag)
    if not os.path.isdir(folder):
        return None
    shards = [f for f in os.listdir(folder) if f.endswith("optim_states.pt")]
    return len(shards) or None


def fp32_state_dict(ckpt_dir: str, tag: str) -> dict:
    """Full fp32 weights merged from the ZeRO shards (the exact master weights)."""
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    return get_fp32_state_dict_from_zero_checkpoint(ckpt_dir, tag=tag)


def client_state_json(state: dict) -> str:
    return json.dumps(state, indent=2, default=str)
