"""Fault injection for resilience tests and drills: ``XSTILTS_FAULT="kind@step[:rank]"``.

kinds: ``exit`` (clean stop after the step's checkpoint, as a pre-emption would leave it),
``kill`` (SIGKILL this rank), ``raise`` (an exception in the step), ``hang`` (sleep forever in
the step). Unset, this costs one dict lookup per step.
"""
from __future__ import annotations

import os
import signal
import time

ENV = "XSTILTS_FAULT"


class InjectedFault(RuntimeError):
    pass


class Preempted(SystemExit):
    pass


def parse(spec: str) -> tuple[str, int, int | None]:
    kind, _, where = spec.partition("@")
    step, _, rank = where.partition(":")
    if kind not in ("exit", "kill", "raise", "hang") or not step.isdigit():
        raise ValueError(f"{ENV}={spec!r}: expected kind@step[:rank], kind in exit/kill/raise/hang")
    return kind, int(step), int(rank) if rank else None


def maybe_fail(step: int, rank: int, after_save: bool = False) -> None:
    """Called at the start of each step (and once after a checkpoint, for ``exit``)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    kind, at, who = parse(spec)
    if step != at or (who is not None and who != rank):
        return
    if kind == "exit":
        if after_save:
            raise Preempted(3)
        return
    if after_save:
        return
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "raise":
        raise InjectedFault(f"injected failure on rank {rank} at step {step}")
    while True:  # hang: alive but making no progress
        time.sleep(3600)
