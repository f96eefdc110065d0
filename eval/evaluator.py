"""The distributed evaluator's core: a plan becomes work items (task, language, chunk of
examples), spread over ranks by size, largest first, so ranks finish together; each rank runs
its items through a predict function; results are gathered to rank 0 with no duplicate and no
loss (counts checked against the input), and scored once there.

The cost of an item is what it takes to run it: the caller's per-example costs (tokens, so a
language of long sentences weighs more than one of short ones), summed over its examples.

This module knows nothing about models: the caller supplies ``predict(item) -> list`` (one entry
per example of the item, or an array with one row per example).
"""
from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

log = logging.getLogger("xstilts.eval")


@dataclass(frozen=True, order=True)
class WorkItem:
    """Examples ``start``..``stop`` of one (task, language, part) set, and their cost."""

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
    cost: float = 0.0  # the planned cost (tokens) of this rank's items


def chunk(task: str, lang: str, n: int, chunk_size: int, cost_per_example: float = 1.0,
          part: str = "") -> list[WorkItem]:
    """Split ``n`` examples into items of at most ``chunk_size`` examples."""
    size = max(1, chunk_size)
    return [WorkItem(cost_per_example * (min(s + size, n) - s), task, lang, s, min(s + size, n), part)
            for s in range(0, n, size)]


def chunk_by_cost(task: str, lang: str, costs: Sequence[float], budget: float, part: str = ""
                  ) -> list[WorkItem]:
    """Split examples with per-example ``costs`` (tokens) into consecutive items whose cost is at
    most ``budget`` (an example dearer than the budget makes an item on its own).

    Items depend on the costs and the budget only, never on the world size, so 1 rank and N
    ranks run the very same items (same batches, same padding: identical predictions)."""
    items: list[WorkItem] = []
    start, total = 0, 0.0
    for i, c in enumerate(costs):
        if i > start and total + c > budget:
            items.append(WorkItem(total, task, lang, start, i, part))
            start, total = i, 0.0
        total += float(c)
    if len(costs) > start:
        items.append(WorkItem(total, task, lang, start, len(costs), part))
    return items


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
        report.cost += item.cost
        if heartbeat:
            heartbeat()
        if bar:
            bar.update(item.stop - item.start)
    if bar:
        bar.close()
    return results, report


def merge(parts: Iterable[dict[WorkItem, Any]]) -> dict[WorkItem, Any]:
    """One dict of every rank's results; an item that two ranks evaluated is an error."""
    merged: dict[WorkItem, Any] = {}
    for part in parts:
        for item, value in part.items():
            if item in merged:
                raise RuntimeError(f"work item {item} was evaluated twice")
            merged[item] = value
    return merged


def gather(results: dict[WorkItem, Any], report: RankReport) -> tuple[dict | None, list | None]:
    """All ranks' results and reports on rank 0 (None elsewhere)."""
    import torch.distributed as tdist

    if not (tdist.is_available() and tdist.is_initialized()) or tdist.get_world_size() == 1:
        return merge([results]), [report]
    world = tdist.get_world_size()
    out = [None] * world if tdist.get_rank() == 0 else None
    tdist.gather_object((results, report), out, dst=0)
    if out is None:
        return None, None
    return merge(part for part, _ in out), [rep for _, rep in out]


def _name(key: tuple[str, str, str]) -> str:
    return "/".join(k for k in key if k)


def assemble(merged: dict[WorkItem, Any], expected: dict[tuple[str, str, str], int]) -> dict:
    """Per (task, lang, part): the results in example order; every example exactly once.

    Raises naming the set and the examples when a range is missing, covered twice, or the
    gathered count differs from the number of examples read."""
    import numpy as np

    by_key: dict[tuple, list[WorkItem]] = {}
    for item in merged:
        by_key.setdefault(item.key, []).append(item)
    unknown = sorted(set(by_key) - set(expected))
    if unknown:
        raise RuntimeError(f"{_name(unknown[0])}: predictions gathered for a set that was not planned")
    out = {}
    for key, n in expected.items():
        items = sorted(by_key.get(key, []), key=lambda i: (i.start, i.stop))
        covered = 0
        for item in items:
            if item.start < covered:
                raise RuntimeError(f"{_name(key)}: examples {item.start}..{min(covered, item.stop)} gathered twice")
            if item.start > covered:
                raise RuntimeError(f"{_name(key)}: examples {covered}..{item.start} missing from "
                                   f"the gathered predictions")
            covered = item.stop
        if covered != n:
            raise RuntimeError(f"{_name(key)}: gathered {covered} predictions for {n} examples")
        parts = [merged[i] for i in items]
        if parts and isinstance(parts[0], np.ndarray):
            out[key] = np.concatenate(parts)
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
