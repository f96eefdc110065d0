"""Batch arithmetic of a phase: its learning rate and global batch (per task where a per-task
phase sets one), each task's sequence length, the micro-batch per rank and the
gradient-accumulation steps (``global = micro x accum x world``)."""
from __future__ import annotations

from typing import Sequence

from trainer.config.schema import Config, PhaseConfig
from trainer.errors import EngineConfigError


def phase_lr(cfg: Config, phase: PhaseConfig) -> float:
    return phase.lr or cfg.optim.lr


def phase_global_batch(cfg: Config, phase: PhaseConfig, tasks: Sequence[str] = ()) -> int:
    """The global batch of a run of ``phase`` training ``tasks``: the task's own in a per-task
    phase (``task_batch``), else the phase's, else ``deepspeed.global_batch``."""
    if len(tasks) == 1 and tasks[0] in phase.task_batch:
        return int(phase.task_batch[tasks[0]])
    return phase.global_batch or cfg.deepspeed.global_batch


def max_length_for(cfg: Config, task: str, kind: str) -> int:
    """The longest input of ``task`` (tokens): ``data.task_max_length``, else the QA or the
    general limit."""
    if task in cfg.data.task_max_length:
        return int(cfg.data.task_max_length[task])
    return cfg.data.qa_max_length if kind == "span" else cfg.data.max_length


def pair_lengths(cfg: Config, task) -> tuple[int, int]:
    """(query, candidate) token limits of a retrieval task: ``data.task_max_length`` of the task
    for both where given, else the task's own (``query_max_length``, ``candidate_max_length``:
    the benchmark's), else ``data.max_length``."""
    if task.name in cfg.data.task_max_length:
        n = int(cfg.data.task_max_length[task.name])
        return n, n
    return (getattr(task, "query_max_length", 0) or cfg.data.max_length,
            getattr(task, "candidate_max_length", 0) or cfg.data.max_length)


def micro_batch_for(setting: int, global_batch: int, world_size: int) -> int:
    """``deepspeed.micro_batch`` resolved: as set, or for 0 (auto) the global batch over the ranks,
    so that every optimizer step is one forward and backward pass per rank."""
    if setting:
        return setting
    if global_batch <= 0 or global_batch % world_size:
        raise EngineConfigError(f"deepspeed.micro_batch = 0 (auto) needs a global batch divisible by "
                                f"the world size: {global_batch} over {world_size} ranks")
    return global_batch // world_size


def batch_arithmetic(global_batch: int, micro_batch: int, world_size: int) -> int:
    """Gradient-accumulation steps for ``global = micro x accum x world``; refuses remainders."""
    per_step = micro_batch * world_size
    if micro_batch <= 0 or global_batch <= 0 or global_batch % per_step:
        raise EngineConfigError(
            f"deepspeed.global_batch = {global_batch} is not divisible by micro_batch x world size "
            f"= {micro_batch} x {world_size} = {per_step}")
    return global_batch // per_step
