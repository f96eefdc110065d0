"""The distributed evaluator's core: a plan becomes work items (task, language, chunk of
examples), spread over ranks by size, largest first, so ranks finish together; each rank runs
its items through a predict function; results are gathered to rank 0 with no duplicate and no
loss (counts checked against the input), and scored once there.

This module knows nothing about models: the caller supplies ``predict(item) -> list`` (one entry
per example of the item, or an array with one row per example).
"""
from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

log = logging.getLogger("xstilts.eval")


@dataclass(frozen=True, order=True)
class WorkItem:
    cost: float
    task: str
    lang: str
    start: int
    stop: int
    part: str = ""  # retrieval: "src" or "trg"; otherwise empty

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.task, self.lang, self.part)


@dataclass
class RankReport:
    rank: int
    busy_s: float = 0.0
    items: int = 0
    examples: int = 0
    loads: list = field(default_factory=list)


def chunk(task: str, lang: str, n: int, chunk_size: int, cost_per_example: float = 1.0,
          part: str = "") -> list[WorkItem]:
    """Split ``n`` examples into items of at most ``chunk_size`` examples."""
    size = max(1, chunk_size)
    return [WorkItem(cost_per_example * (min(s + size, n) - s), task, lang, s, min(s + size, n), part)
            for s in range(0, n, size)]


def assign(items: Iterable[WorkItem], world_size: int) -> list[list[WorkItem]]:
    """Longest-processing-time-first: each item, largest first, to the least loaded rank."""
    heap = [(0.0, r) for r in range(world_size)]
    out: list[list[WorkItem]] = [[] for _ in range(world_size)]
    for item in sorted(items, key=lambda i: (-i.cost, i.task, i.lang, i.part, i.start)):
        load, rank = heapq.heappop(heap)
        out[rank].append(item)
        heapq.heappush(heap, (load + item.cost, rank))
    return out


def run(items: list[WorkItem], predict: Callable[[WorkItem], Any], rank: int = 0,
        progress: bool = False, heartbeat: Callable[[], None] | None = None
        ) -> tuple[dict[WorkItem, Any], RankReport]:
    """Run this rank's items; returns results keyed by item and the rank's busy time."""
    report = RankReport(rank)
    results: dict[WorkItem, Any] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(i.stop - i.start for i in items), desc="evaluating (rank 0)",
                   unit="ex", leave=False)
    for item in items:
        t0 = time.perf_counter()
        out = predict(item)
        if len(out) != item.stop - item.start:
            raise RuntimeError(f"{item.task}/{item.lang}{'/' + item.part if item.part else ''} "
                               f"[{item.start}:{item.stop}]: predict returned {len(out)} results "
                               f"for {item.stop - item.start} examples")
        results[item] = out
        report.busy_s += time.perf_counter() - t0
        report.items += 1
        report.examples += item.stop - item.start
        if heartbeat:
            heartbeat()
        if bar:
            bar.update(item.stop - item.start)
    if bar:
        bar.close()
    return results, report


def gather(results: dict[WorkItem, Any], report: RankReport) -> tuple[dict | None, list | None]:
    """All ranks' results and reports on rank 0 (None elsewhere)."""
    import torch.distributed as tdist

    if not (tdist.is_available() and tdist.is_initialized()) or tdist.get_world_size() == 1:
        return dict(results), [report]
    world = tdist.get_world_size()
    out = [None] * world if tdist.get_rank() == 0 else None
    tdist.gather_object((results, report), out, dst=0)
    if out is None:
        return None, None
    merged: dict[WorkItem, Any] = {}
    for part, _ in out:
        for item, value in part.items():
            if item in merged:
                raise RuntimeError(f"work item {item} was evaluated twice")
            merged[item] = value
    return merged, [rep for _, rep in out]


def assemble(merged: dict[WorkItem, Any], expected: dict[tuple[str, str, str], int]) -> dict:
    """Per (task, lang, part): the results in example order; every example exactly once."""
    import numpy as np

    by_key: dict[tuple, list[WorkItem]] = {}
    for item in merged:
        by_key.setdefault(item.key, []).append(item)
    out = {}
    for key, n in expected.items():
        items = sorted(by_key.get(key, []), key=lambda i: i.start)
        covered = 0
        for item in items:
            if item.start != covered:
                raise RuntimeError(f"{'/'.join(k for k in key if k)}: examples {covered}..{item.start} "
                                   f"missing from the gathered predictions")
            covered = item.stop
        if covered != n:
            raise RuntimeError(f"{'/'.join(k for k in key if k)}: gathered {covered} predictions "
                               f"for {n} examples")
        parts = [merged[i] for i in items]
        if parts and isinstance(parts[0], np.ndarray):
            out[key] = np.concatenate(parts) if parts else np.zeros((0,))
        else:
            out[key] = [p for part in parts for p in part]
    return out


def balance(reports: list[RankReport]) -> float:
    """Slowest rank's busy time over the mean busy time (1.0 = perfectly balanced)."""
    busy = [r.busy_s for r in reports]
    mean = sum(busy) / len(busy) if busy else 0.0
    return max(busy) / mean if mean > 0 else 1.0


def broadcast(obj: Any) -> Any:
    """Rank 0's object on every rank."""
    import torch.distributed as tdist

    if not (tdist.is_available() and tdist.is_initialized()) or tdist.get_world_size() == 1:
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=0)
    return box[0]
