"""Fault injection for resilience tests and drills: ``XSTILTS_FAULT="kind@step[:rank]"``, or
several such specs separated by commas (``kill@3:1,hang@3:0``: rank 1 dies while rank 0 is busy).

Kinds, each firing at optimizer step ``step`` (1-based) on ``rank`` (every rank if omitted):

  exit      clean stop right after the step's checkpoint, as a pre-emption would leave it
  usr1      SIGUSR1 to this rank at the start of the step, as Slurm sends it before a time limit
            (the loop then stops every rank after this step's checkpoint: runtime/preempt.py)
  kill      SIGKILL this rank at the start of the step
  raise     an exception at the start of the step
  hang      sleep forever at the start of the step (alive, but making no progress)
  nan       the loss is NaN from this step on (exercises the non-finite-loss policy)
  killsave  SIGKILL inside the checkpoint save of this step: after the engine wrote its
            shards into the temporary tag, before the rename and the ``latest`` pointer

Unset, each hook costs one environment lookup.
"""
from __future__ import annotations

import functools
import os
import signal
import sys
import time

ENV = "XSTILTS_FAULT"
_announced: list[int] = []  # the nan fault fires on every micro-batch; announce it once
KINDS = ("exit", "kill", "raise", "hang", "nan", "killsave", "usr1")


class InjectedFault(RuntimeError):
    pass


class Preempted(SystemExit):
    pass


@functools.lru_cache(maxsize=8)
def parse(spec: str) -> tuple[str, int, int | None]:
    kind, _, where = spec.partition("@")
    step, _, rank = where.partition(":")
    if kind not in KINDS or not step.isdigit() or (rank and not rank.isdigit()):
        raise ValueError(f"{ENV}={spec!r}: expected kind@step[:rank], kind in {'/'.join(KINDS)}")
    return kind, int(step), int(rank) if rank else None


def _specs(rank: int) -> list[tuple[str, int]]:
    """(kind, step) of every fault set for ``rank``."""
    spec = os.environ.get(ENV)
    if not spec:
        return []
    faults = [parse(one.strip()) for one in spec.split(",") if one.strip()]
    return [(kind, at) for kind, at, who in faults if who is None or who == rank]


def _steps(kind: str, rank: int) -> list[int]:
    """The steps at which ``kind`` fires on ``rank`` (none when no such fault is set)."""
    return [at for got, at in _specs(rank) if got == kind]


def _announce(kind: str, step: int, rank: int) -> None:
    # The wall-clock time lets drills measure how long the rest of the job takes to end.
    print(f"xstilts fault: {kind} on rank {rank} at step {step} (t={time.time():.3f})",
          file=sys.stderr, flush=True)


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def maybe_fail(step: int, rank: int, after_save: bool = False) -> None:
    """Called at the start of each step (and once after a checkpoint, for ``exit``)."""
    if not os.environ.get(ENV):
        return
    for kind, at in _specs(rank):
        if at == step:
            _fire(kind, step, rank, after_save)


def _fire(kind: str, step: int, rank: int, after_save: bool) -> None:
    if kind == "exit":
        if after_save:
            raise Preempted(3)
        return
    if after_save or kind not in ("kill", "raise", "hang", "usr1"):
        return
    _announce(kind, step, rank)
    if kind == "usr1":
        os.kill(os.getpid(), signal.SIGUSR1)
    if kind == "kill":
        _kill_self()
    if kind == "raise":
        raise InjectedFault(f"injected failure on rank {rank} at step {step}")
    if kind == "hang":
        while True:  # alive but making no progress
            time.sleep(3600)


def during_save(step: int, rank: int) -> None:
    """Called by the checkpoint writer between the shards and the rename (``killsave``)."""
    if step in _steps("killsave", rank):
        _announce("killsave", step, rank)
        _kill_self()


def poison_loss(loss, step: int, rank: int):
    """``nan``: the loss (and so every gradient) is NaN from the given step on."""
    at = min(_steps("nan", rank), default=None)
    if at is not None and step >= at:
        if step == at and not _announced:
            _announced.append(step)
            _announce("nan", step, rank)
        return loss * float("nan")
    return loss
