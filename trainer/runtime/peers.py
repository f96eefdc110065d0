"""Which peer failed: each rank announces (host, pid) in the rendezvous store and publishes a
heartbeat there (beat count, last finished step, whether its main thread is in a collective,
where), so that a rank whose collective failed, whose watchdog fired, or that its launcher ends
with SIGTERM (runtime/ended.py) can say which peers are gone, stuck or waiting.

The store is the one the default process group rendezvoused through; it lives outside the
collectives, so it still answers after one of them failed (unless its server, rank 0, is gone,
which the report then says).
"""
from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

KEY = "xstilts"  # prefix of this project's keys in the rendezvous store
# A failing rank reports its peers; the SIGTERM that its launcher sends next must not repeat it.
_report_lock = threading.Lock()
_reported = [False]


class Ranks(Protocol):  # runtime.dist.DistInfo
    rank: int
    world_size: int


def _initialized() -> bool:
    import torch.distributed as tdist

    return tdist.is_available() and tdist.is_initialized()


def rendezvous_store():
    # The store the default group rendezvoused through (served by rank 0, or by torchrun's
    # agent); it lives outside the collectives, so it still answers after one of them failed.
    from torch.distributed import distributed_c10d as c10d

    return c10d._get_default_store()


def announce(info: Ranks) -> None:
    """Record this rank's host and pid, so that peers on the same host can check it directly."""
    if info.world_size > 1:
        me = json.dumps({"host": socket.gethostname(), "pid": os.getpid()})
        rendezvous_store().set(f"{KEY}/proc/{info.rank}", me)


def watchdog_hooks(info: Ranks) -> dict:
    """The watchdog's ``heartbeat`` (publish this rank's state) and ``peers`` (describe the
    others) callbacks; none in a single-process run."""
    if info.world_size == 1 or not _initialized():
        return {}
    store = rendezvous_store()

    def heartbeat(text: str) -> None:
        store.set(f"{KEY}/beat/{info.rank}", text)

    def peers() -> list[str]:
        with _report_lock:  # the SIGTERM that may follow the watchdog's exit adds one line
            _reported[0] = True
            return [text for _, _, text in describe_peers(info)]

    return {"heartbeat": heartbeat, "peers": peers}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child stays a zombie until its launcher reaps it
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _read(store, key: str) -> str | None:
    return store.get(key).decode() if store.check([key]) else None


def mark_failed(info: Ranks, err: BaseException) -> None:
    """Record in the store that this rank failed, why, and in which order among the ranks that
    failed. A peer whose collective fails when this rank closes its sockets may find this
    process still alive (printing its traceback, tearing down): the mark names it anyway, and
    the order tells a cause (failed first) from a consequence. The first mark of a rank stays."""
    if info.world_size == 1 or not _initialized():
        return
    try:
        store = rendezvous_store()
        if store.check([f"{KEY}/failed/{info.rank}"]):
            return
        order = store.add(f"{KEY}/failures", 1)
        why = " ".join(f"{type(err).__name__}: {err}".split())[:200]
        store.set(f"{KEY}/failed/{info.rank}", f"{order} {why}")
    except Exception:  # the store is gone with rank 0: the report says so
        pass


def _failures(store, world_size: int) -> dict[int, tuple[int, str]]:
    """rank -> (order, why) of the ranks that marked themselves failed."""
    out = {}
    for r in range(world_size):
        mark = _read(store, f"{KEY}/failed/{r}")
        if mark is not None:
            order, _, why = mark.partition(" ")
            out[r] = (int(order), why)
    return out


def _local_liveness(pids: dict[int, int], settle_s: float) -> dict[int, bool]:
    """rank -> alive, for peers on this host. A rank that was just killed closes its sockets
    before its process is gone, so a peer that still looks alive is looked at again for up to
    ``settle_s``; the first one seen gone ends the wait."""
    alive = {r: _pid_alive(pid) for r, pid in pids.items()}
    deadline = time.monotonic() + settle_s
    while all(alive.values()) and alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = {r: _pid_alive(pid) for r, pid in pids.items()}
    return alive


def describe_peers(info: Ranks, wait_s: float = 2.5, settle_s: float = 1.0) -> list[tuple[int, str, str]]:
    """(rank, status, description) of every peer; status is ``failed`` (it marked itself failed
    before this rank did: a cause, even while its process is still exiting), ``gone``, ``ended``
    (gone, but ended by its launcher's SIGTERM: not a cause), ``after`` (it failed after this
    rank: not a cause), ``unreachable`` (the store, which rank 0 serves, does not answer: rank 0
    is gone, and nobody else can be checked), ``busy`` (alive, not in a collective: the stuck one
    if we timed out waiting), ``waiting`` or ``alive``. Peers on this host are checked by pid;
    others by whether their heartbeat still advances over ``wait_s``."""
    try:
        store = rendezvous_store()
        procs = {r: _read(store, f"{KEY}/proc/{r}") for r in range(info.world_size) if r != info.rank}
        beats = {r: _read(store, f"{KEY}/beat/{r}") for r in procs}
        failures = _failures(store, info.world_size)
    except Exception:
        return [(0, "unreachable", f"rank 0: the rendezvous store it serves at {os.environ.get('MASTER_ADDR')}:"
                            f"{os.environ.get('MASTER_PORT')} does not answer (rank 0 is gone)")]
    host = socket.gethostname()
    found = {r: json.loads(p) for r, p in procs.items() if p is not None}
    out = [(r, "gone", f"rank {r}: never announced itself") for r, p in procs.items() if p is None]
    mine = failures.get(info.rank, (None, ""))[0]
    for r in [r for r in found if r in failures]:
        order, why = failures[r]
        where = f"pid {found[r]['pid']} on {host}" if found[r]["host"] == host else f"on {found[r]['host']}"
        first = mine is None or order < mine
        text = f"FAILED before this rank: {why}" if first else f"failed after this rank: {why}"
        out.append((r, "failed" if first else "after", f"rank {r} ({where}): {text}"))
        del found[r]
    local = {r: p["pid"] for r, p in found.items() if p["host"] == host}
    for r, alive in _local_liveness(local, settle_s).items():
        if alive:
            status, text = _beat_status(_read(store, f"{KEY}/beat/{r}"))
        elif _read(store, f"{KEY}/ended/{r}") is not None:
            status, text = "ended", "EXITED after its launcher's SIGTERM"
        else:
            status, text = "gone", "EXITED"
        out.append((r, status, f"rank {r} (pid {local[r]} on {host}): {text}"))
    remote = [r for r in found if r not in local]
    if remote:
        time.sleep(wait_s)
    for r in remote:
        again = _read(store, f"{KEY}/beat/{r}")
        moving = again is not None and again.split(" ")[0] != (beats[r] or "").split(" ")[0]
        if moving:
            status, text = _beat_status(again)
        elif _read(store, f"{KEY}/ended/{r}") is not None:
            status, text = "ended", "got its launcher's SIGTERM"
        else:
            status, text = "gone", f"SILENT: no heartbeat for {wait_s:g} s (gone, or the whole process froze)"
        out.append((r, status, f"rank {r} (on {found[r]['host']}): {text}"))
    return sorted(out)


def _beat_status(beat: str | None) -> tuple[str, str]:
    """(status, text) from a heartbeat 'count step in_collective where'."""
    if not beat:
        return "alive", "alive (no heartbeat yet)"
    _, step, in_coll, where = beat.split(" ", 3)
    if in_coll == "1":
        return "waiting", f"alive, last finished step {step}, waiting in a collective at {where}"
    return "busy", f"alive, last finished step {step}, NOT in a collective: main thread at {where}"


@dataclass
class Causes:
    """What the peers' states say about why this rank ended, for a report's last line."""
    gone: list[str]  # ranks that ended before this one: failed (marked) or died
    how: str  # "failed", "died" or "failed or died": how the ranks in ``gone`` ended
    busy: list[str]  # alive, outside any collective
    store_gone: bool  # the store, and so rank 0, is gone

    @classmethod
    def of(cls, peers: list[tuple[int, str, str]]) -> "Causes":
        failed = [str(r) for r, status, _ in peers if status == "failed"]
        dead = [str(r) for r, status, _ in peers if status in ("gone", "unreachable")]
        how = "failed or died" if failed and dead else "failed" if failed else "died"
        return cls(sorted(failed + dead, key=int), how, [str(r) for r, status, _ in peers if status == "busy"],
                   any(status == "unreachable" for _, status, _ in peers))


def peer_report(info: Ranks, prefix: str, summary: Callable[[Causes], str],
                unless_reported: bool = False) -> bool:
    """Print one line per peer and a last one, ``summary(causes)``, each after ``prefix``, and
    mark this process as having reported its peers; with ``unless_reported``, print nothing (and
    return False) if it already has. Under a lock, so that the SIGTERM thread cannot end the
    process halfway through the main thread's report."""
    with _report_lock:
        if unless_reported and _reported[0]:
            return False
        try:
            peers = describe_peers(info)
        except Exception as why:  # the report must never hide the original error
            peers = [(-1, "alive", f"could not check the peers: {why}")]
        lines = [f"{prefix}peer {text}" for _, _, text in peers] + [prefix + summary(Causes.of(peers))]
        print("\n".join(lines), file=sys.stderr, flush=True)
        _reported[0] = True
        return True


def ended_report(info: Ranks) -> list[str]:
    """What this rank says when SIGTERM ends it (runtime/ended.py): which peers are gone (printed
    here), unless its own failure report already said so. It first records in the store that it
    was ended, so that peers ended after it do not take it for the cause."""
    prefix = f"xstilts: rank {info.rank}: "
    try:
        rendezvous_store().set(f"{KEY}/ended/{info.rank}", "1")
    except Exception:  # the store is gone with rank 0: the report below says so
        pass

    def summary(c: Causes) -> str:
        if c.store_gone:
            return ("rank 0, which serves the rendezvous store, has ended: whether it failed or was "
                    "ended by its launcher cannot be told from here (the rank that failed first "
                    "reports itself)")
        if c.gone:
            # whichever way the peer ended (it died, or failed: waiting for this very rank, say,
            # which its own report then names), its end is why the launcher ends this rank
            return (f"rank {', '.join(c.gone)} ended first ({c.how}); rank {info.rank} was ended "
                    f"because of that")
        return (f"no peer ended before it of its own accord: rank {info.rank} was ended from outside "
                f"(the launcher was stopped or the job cancelled)")

    if peer_report(info, prefix, summary, unless_reported=True):
        return []
    return [f"{prefix}ended after the failure reported above"]


def report_failure(info: Ranks, step: int, err: BaseException, label: str) -> None:
    """Print what failed on this rank, then the state of every peer (which one died)."""
    head = (f"xstilts: rank {info.rank} {label}: failed after finishing step {step}: "
            f"{type(err).__name__}: {err}")
    print(head, file=sys.stderr, flush=True)  # first, in case the launcher ends us any moment
    mark_failed(info, err)
    if info.world_size == 1 or not _initialized():
        return

    def summary(c: Causes) -> str:
        if c.gone:
            return f"rank {', '.join(c.gone)} {c.how} first; rank {info.rank} failed because of that"
        if c.busy and "timed out" in str(err).lower():
            return (f"rank {', '.join(c.busy)} is alive but outside any collective while rank {info.rank} "
                    f"timed out waiting in one: rank {', '.join(c.busy)} is stuck")
        return f"no peer failed or died before it: rank {info.rank} failed on its own"

    peer_report(info, f"xstilts: rank {info.rank}: ", summary)
