"""The evaluator's collectives and its run loop, checked without starting processes.

``gather`` and ``broadcast`` take their several-rank branch only under an initialized process
group of more than one rank; here a stand-in for ``torch.distributed`` plays one rank of two
with the semantics of the real calls (``gather_object`` needs the output list on the
destination and only there; ``broadcast_object_list`` fills the list from the source), so each
rank's view is checked in milliseconds. The launcher tests in test_evaluator.py run the real
collectives.
"""
from __future__ import annotations

import pytest
import torch.distributed as tdist

from eval import evaluator as E


class FakeGroup:
    """One rank of ``world`` as torch.distributed would show it; ``others`` are what the other
    ranks send (gather) and rank 0's object (broadcast)."""

    def __init__(self, rank: int, world: int, others: list, root_object=None):
        self.rank, self.world, self.others, self.root_object = rank, world, others, root_object
        self.calls: list[tuple] = []

    def install(self, monkeypatch) -> None:
        monkeypatch.setattr(tdist, "is_available", lambda: True)
        monkeypatch.setattr(tdist, "is_initialized", lambda: True)
        monkeypatch.setattr(tdist, "get_world_size", lambda: self.world)
        monkeypatch.setattr(tdist, "get_rank", lambda: self.rank)
        monkeypatch.setattr(tdist, "gather_object", self.gather_object)
        monkeypatch.setattr(tdist, "broadcast_object_list", self.broadcast_object_list)

    def gather_object(self, obj, object_gather_list=None, dst=0, group=None):
        self.calls.append(("gather", dst))
        if self.rank == dst:
            if not isinstance(object_gather_list, list) or len(object_gather_list) != self.world:
                raise ValueError("the destination rank must pass a list of world size")
            parts = list(self.others)
            parts.insert(dst, obj)
            object_gather_list[:] = parts
        elif object_gather_list is not None:
            raise ValueError("only the destination rank passes a list")

    def broadcast_object_list(self, object_list, src=0, group=None, device=None):
        self.calls.append(("broadcast", src))
        if self.rank != src:
            object_list[:] = [self.root_object]


def item(lang: str, start: int, stop: int) -> E.WorkItem:
    return E.WorkItem(float(stop - start), "xnli", lang, start, stop)


def test_gather_puts_every_rank_on_rank_0_and_nothing_elsewhere(monkeypatch):
    mine = {item("de", 0, 2): [1, 2]}
    theirs = {item("fr", 0, 1): [3]}
    r0, r1 = E.RankReport(0, busy_s=1.0), E.RankReport(1, busy_s=2.0)
    group = FakeGroup(rank=0, world=2, others=[(theirs, r1)])
    group.install(monkeypatch)
    merged, reports = E.gather(mine, r0)
    assert merged == {item("de", 0, 2): [1, 2], item("fr", 0, 1): [3]}
    assert reports == [r0, r1] and group.calls == [("gather", 0)]

    group = FakeGroup(rank=1, world=2, others=[(mine, r0)])
    group.install(monkeypatch)
    assert E.gather(theirs, r1) == (None, None)
    assert group.calls == [("gather", 0)]


def test_gather_of_three_ranks_keeps_rank_order_of_reports(monkeypatch):
    parts = [({item(lang, 0, 1): [k]}, E.RankReport(k + 1)) for k, lang in enumerate(("fr", "es"))]
    group = FakeGroup(rank=0, world=3, others=parts)
    group.install(monkeypatch)
    merged, reports = E.gather({item("de", 0, 1): [9]}, E.RankReport(0))
    assert [r.rank for r in reports] == [0, 1, 2] and len(merged) == 3


def test_gather_with_one_rank_or_no_group_merges_locally(monkeypatch):
    mine = {item("de", 0, 2): [1, 2]}
    report = E.RankReport(0)
    group = FakeGroup(rank=0, world=1, others=[])
    group.install(monkeypatch)
    assert E.gather(mine, report) == (mine, [report]) and group.calls == []
    monkeypatch.setattr(tdist, "is_initialized", lambda: False)
    monkeypatch.setattr(tdist, "get_world_size", lambda: 4)  # never asked without a group
    assert E.gather(mine, report) == (mine, [report])


def test_broadcast_gives_every_rank_rank_0s_object(monkeypatch):
    group = FakeGroup(rank=1, world=2, others=[], root_object={"plan": "rank 0's"})
    group.install(monkeypatch)
    assert E.broadcast({"plan": "rank 1's"}) == {"plan": "rank 0's"}
    assert group.calls == [("broadcast", 0)]
    group = FakeGroup(rank=0, world=2, others=[])
    group.install(monkeypatch)
    assert E.broadcast({"plan": "rank 0's"}) == {"plan": "rank 0's"}
    group = FakeGroup(rank=0, world=1, others=[])
    group.install(monkeypatch)
    assert E.broadcast("alone") == "alone" and group.calls == []


def test_run_reports_rank_0_by_default_and_counts_its_work():
    items = E.chunk_by_cost("xnli", "en", [2, 3, 5], budget=5)
    results, report = E.run(items, lambda it: list(range(it.start, it.stop)))
    assert report.rank == 0 and report.items == 2 and report.examples == 3 and report.cost == 10.0
    assert [results[i] for i in items] == [[0, 1], [2]]
    assert report.busy_s >= 0.0


def test_progress_bar_counts_examples_and_is_cleared(monkeypatch):
    made: list[dict] = []

    class Bar:
        def __init__(self, **kwargs):
            made.append(dict(kwargs, updates=[], closed=False))

        def update(self, n):
            made[-1]["updates"].append(n)

        def close(self):
            made[-1]["closed"] = True

    import tqdm.auto

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    items = E.chunk_by_cost("xnli", "en", [1] * 5, budget=2)
    E.run(items, lambda it: [0] * (it.stop - it.start), progress=True)
    assert made == [{"total": 5, "desc": "evaluating (rank 0)", "unit": "ex", "leave": False,
                     "updates": [2, 2, 1], "closed": True}]


def test_a_heartbeat_is_sent_after_every_item():
    beats = []
    items = E.chunk_by_cost("xnli", "en", [1] * 5, budget=2)
    E.run(items, lambda it: (beats.append(("item", it.start)), [0] * (it.stop - it.start))[1],
          heartbeat=lambda: beats.append("beat"))
    assert beats == [("item", 0), "beat", ("item", 2), "beat", ("item", 4), "beat"]


def test_stand_in_matches_the_real_signatures():
    # the stand-in takes the real calls' leading arguments by the same names, or the tests above
    # would check calls that torch.distributed would refuse
    import inspect

    for name in ("gather_object", "broadcast_object_list"):
        real = list(inspect.signature(getattr(tdist, name)).parameters)
        fake = list(inspect.signature(getattr(FakeGroup, name)).parameters)[1:]
        assert fake == real[:len(fake)], name


def test_a_set_with_no_gathered_item_is_reported_by_name():
    merged = {item("de", 0, 2): [1, 2]}
    with pytest.raises(RuntimeError, match=r"^xnli/fr: gathered 0 predictions for 3 examples$"):
        E.assemble(merged, {("xnli", "de", ""): 2, ("xnli", "fr", ""): 3})
    # a planned set of no examples assembles to nothing
    assert E.assemble(merged, {("xnli", "de", ""): 2, ("xnli", "fr", ""): 0}) == {
        ("xnli", "de", ""): [1, 2], ("xnli", "fr", ""): []}


def test_an_example_dearer_than_the_budget_is_an_item_of_its_own_and_no_item_is_empty():
    items = E.chunk_by_cost("xnli", "en", [10, 1, 1, 9, 2], budget=5)
    assert [(i.start, i.stop, i.cost) for i in items] == [(0, 1, 10.0), (1, 3, 2.0), (3, 4, 9.0),
                                                          (4, 5, 2.0)]


def test_a_wrong_count_names_the_retrieval_part():
    items = E.chunk_by_cost("bucc2018", "de", [1, 1], budget=5, part="src")
    with pytest.raises(RuntimeError, match=r"^bucc2018/de/src \[0:2\]: predict returned 1 results "
                                           r"for 2 examples$"):
        E.run(items, lambda it: [0])


def test_busy_time_is_the_sum_over_items(monkeypatch):
    ticks = iter(range(0, 100, 1))
    monkeypatch.setattr(E.time, "perf_counter", lambda: float(next(ticks)))
    items = E.chunk_by_cost("xnli", "en", [1] * 6, budget=2)  # 3 items, each timed start/stop
    _, report = E.run(items, lambda it: [0] * (it.stop - it.start))
    assert report.busy_s == 3.0
