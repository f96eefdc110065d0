"""The batches of each training step, prepared ahead of the step that trains on them.

Which task a step trains and which rows its micro-batches hold is decided in the main thread
(``sampler.task_at``, ``TaskStream.next_step``: cheap index arithmetic). The rest (reading the
rows, padding and masking them into tensors, pinning them on a GPU) runs ``ahead`` steps early
in one background thread, while the current step trains; ``to_device`` then copies a pinned
batch without blocking. The batches are the same with or without it: collation is
deterministic (MLM masks are seeded by step), and only one thread collates.

Checkpoints must record the data positions of the steps that trained, not of those already
prepared: ``stream_states()`` gives the positions as they were after the last step handed out.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import torch


@dataclass
class Micro:
    batch: dict  # collated tensors (pinned on a GPU)
    tokens: int  # real tokens of its rows
    rows: int


def pin(batch: dict) -> dict:
    return {k: (v.pin_memory() if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def prefetch_depth(setting: int, device_type: str) -> int:
    """``data.prefetch`` resolved: -1 (auto) is one step ahead on a GPU, where the host has time
    while the device computes, and none on CPU, where the cores are busy with the step itself."""
    if setting >= 0:
        return setting
    return 1 if device_type == "cuda" else 0


class Feeder:
    def __init__(self, streams: dict, sampler, first_step: int, last_step: int, ahead: int,
                 pin_memory: bool):
        self.streams, self.sampler = streams, sampler
        self.ahead, self.pin_memory = ahead, pin_memory
        self.next_plan, self.last_step = first_step, last_step
        self._queue: deque[tuple[int, str, Future | list[Micro], dict]] = deque()
        self._states = self._snapshot()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="xstilts-feeder") if ahead else None

    def _snapshot(self) -> dict:
        return {n: s.state_dict() for n, s in self.streams.items()}

    def _prepare(self, name: str, micros: list[list[int]], step: int) -> list[Micro]:
        stream, out = self.streams[name], []
        for indices in micros:
            rows = stream.rows(indices)
            batch = stream.collate(rows, step)
            out.append(Micro(pin(batch) if self.pin_memory else batch,
                             sum(r["length"] for r in rows), len(rows)))
        return out

    def _plan(self) -> None:
        """Decide the next step's rows (advancing its stream) and start preparing them."""
        step = self.next_plan
        before = self._snapshot()  # the positions once every earlier step has trained
        name = self.sampler.task_at(step)
        micros = self.streams[name].next_step()
        work = (self._pool.submit(self._prepare, name, micros, step) if self._pool
                else self._prepare(name, micros, step))
        self._queue.append((step, name, work, before))
        self.next_plan += 1

    def next(self, step: int) -> tuple[str, list[Micro]]:
        """The task and prepared micro-batches of ``step`` (steps are asked for in order)."""
        if not self._queue:
            self._plan()
        planned, name, work, _ = self._queue.popleft()
        if planned != step:
            raise RuntimeError(f"feeder: step {step} asked for, step {planned} prepared")
        while len(self._queue) < self.ahead and self.next_plan < self.last_step:
            self._plan()
        # positions after this step: the snapshot taken before the next one was planned
        self._states = self._queue[0][3] if self._queue else self._snapshot()
        return name, (work.result() if isinstance(work, Future) else work)

    def stream_states(self) -> dict:
        """Data positions after the last step handed out by ``next`` (what a checkpoint saves)."""
        return self._states

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
