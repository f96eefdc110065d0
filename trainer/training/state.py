"""The state of a training run beyond the engine: what a checkpoint carries (train state,
sampler check, data positions, every rank's RNG streams, the config), resuming from it on any
world size, and the model-only export written from the chosen checkpoint at the end."""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass

from trainer.config import Config, to_dict
from trainer.config.phases import PhaseRun
from trainer.engine import checkpoint
from trainer.engine.build import decays
from trainer.model.build import build_model
from trainer.model.export import matching_heads, read_export_meta, save_export
from trainer.model.multitask import head_specs
from trainer.runtime import dist

log = logging.getLogger("xstilts.train")


@dataclass
class TrainState:
    """What a checkpoint must carry besides the engine, sampler and data positions."""

    step: int = 0
    best_score: float | None = None
    best_step: int | None = None
    nonfinite: int = 0  # consecutive steps with a non-finite loss or a step DeepSpeed skipped
    skipped: int = 0  # engine.skipped_steps at the last log step
    logged_step: int = 0  # the last log step
    bad_evals: int = 0  # English dev evaluations since the last new best (early stopping)


def resume(cfg: Config, run: PhaseRun, engine, streams, sampler, info: dist.DistInfo) -> TrainState:
    """Restore engine, sampler check, data positions, train state and this rank's RNG streams."""
    state = TrainState()
    if not cfg.checkpoint.resume:
        return state
    client = checkpoint.load(engine, run.ckpt_dir, info)
    if client is None:
        return state
    sampler.check_state(client["sampler"])
    for name, pos in client["streams"].items():
        streams[name].load_state_dict(pos)
    known = {f.name for f in dataclasses.fields(TrainState)}
    state = TrainState(**{k: v for k, v in client["train_state"].items() if k in known})
    state.nonfinite = 0  # a resumed run (new learning rate, fixed data) starts counting afresh
    checkpoint.restore_rng(client.get("rng"), info.rank, cfg.run.seed, state.step)
    saved_ws = client.get("world_size", info.world_size)
    log.info("[%s] resumed at step %d from %s%s", run.name, state.step, run.ckpt_dir,
             f" (written by {saved_ws} ranks, now {info.world_size})" if saved_ws != info.world_size else "")
    return state


def save(cfg: Config, run: PhaseRun, engine, stream_states: dict, sampler, state: TrainState,
         info: dist.DistInfo, is_best: bool) -> str | None:
    """Checkpoint engine + client state (``stream_states``: the data positions after the last
    step trained). Every rank's RNG streams are gathered (a collective, so every rank calls
    this at the same steps) because DeepSpeed writes the client state from rank 0 only."""
    client = {"train_state": vars(state).copy(), "sampler": sampler.state_dict(),
              "streams": stream_states,
              "rng": dist.gather_objects(checkpoint.rng_state(), info),
              "world_size": info.world_size, "config": to_dict(cfg), "run": run.name}
    return checkpoint.save(engine, run.ckpt_dir, state.step, client, info, cfg.checkpoint.keep_last,
                           is_best)


def export(cfg: Config, run: PhaseRun, engine, tokenizer, info: dist.DistInfo, state: TrainState) -> None:
    """Full fp32 weights from the ZeRO checkpoint -> model-only export (rank 0 writes)."""
    tag = None
    if cfg.eval.select_best and run.phase.selection:
        tag = checkpoint.read_pointer(run.ckpt_dir, "best")
    tag = tag or checkpoint.read_pointer(run.ckpt_dir)
    if info.is_main:
        weights = checkpoint.fp32_state_dict(run.ckpt_dir, tag)
        heads, task_map = head_specs(run.tasks + run.eval_tasks, len(tokenizer))
        # the checkpoint's weights replace every parameter: no head needs loading first
        cpu_model = build_model(cfg.model, heads, task_map, run.init, seed=cfg.run.seed, carry_heads=False)
        weights = cpu_model.plain_state(weights, decays)  # flat tensors -> plain names
        save_export(cpu_model.float(), run.export_dir, tokenizer, weights, phase=run.name,
                    step=int(tag.split("_")[-1]), checkpoint=os.path.join(run.ckpt_dir, tag),
                    init=run.init, best_score=state.best_score, config=to_dict(cfg),
                    head_start=head_start(run, heads))
        log.info("[%s] exported %s (from %s)", run.name, run.export_dir, tag)
    dist.barrier()


def head_start(run: PhaseRun, heads: dict) -> dict:
    """How the run's heads started: the phase's choice and the heads carried from its starting
    export (recorded in the export, and from there in the results)."""
    carried = []
    if run.init != "pretrained" and run.phase.heads == "carry":
        carried = matching_heads(read_export_meta(run.init), heads)
    return {"mode": run.phase.heads, "carried": carried}


def export_init(cfg: Config, run: PhaseRun, tokenizer, info: dist.DistInfo) -> str:
    if info.is_main:
        model = build_model(cfg.model, {}, {}, run.init, seed=cfg.run.seed)
        save_export(model.float(), run.export_dir, tokenizer, phase=run.name, step=0, init=run.init,
                    config=to_dict(cfg))
    dist.barrier()
    return run.export_dir
