"""Rendezvous: map any launcher's environment to RANK / WORLD_SIZE / LOCAL_RANK / MASTER_*.

Supported: the deepspeed launcher and torchrun (they set the variables), srun (ranks from the
step's Slurm variables, the rendezvous from its node list and job id: runtime/slurm.py), mpirun
(ranks from mpi4py; MASTER_ADDR is rank 0's host name, chosen here rather than guessed from the
first network interface), and a single plain process. Also owns the collective timeout: every process
group, ZeRO's gradient groups included, gets ``deepspeed.timeout_s`` instead of torch's default;
and the failure report: each rank announces (host, pid) in the rendezvous store and publishes a
heartbeat there, so that a rank whose collective failed can name the peer that died or stopped,
and so can a rank that the launcher ends with SIGTERM because a peer died (runtime/ended.py).
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from trainer.runtime import ended, slurm
from trainer.runtime.ports import free_port

MPI_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK")
KEY = "xstilts"  # prefix of this project's keys in the rendezvous store
# Waiting for one-off work on the main process (tokenizing a large training set, converting a
# checkpoint) legitimately outlasts the short collective timeout; such waits use a separate
# gloo group with this bound. A peer that dies still ends them at once (its sockets close).
SLOW_WAIT_S = 2 * 3600
PORT_TRIES = 5  # picks of a free port for a single plain process (see DistInfo.own_port)
_slow_group = None
_flag_group = None  # gloo: a per-step host scalar all-reduce that never waits for the GPU
# A failing rank reports its peers; the SIGTERM that its launcher sends next must not repeat it.
_report_lock = threading.Lock()
_reported = [False]


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    launcher: str = "single"
    # True when discover() picked MASTER_PORT for a single plain process: another process may
    # take that port between the pick and the listen, and then init() picks again.
    own_port: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _from_mpi() -> DistInfo:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    info = DistInfo(rank, size, local.Get_rank(), local.Get_size(), "mpi")
    addr = os.environ.get("MASTER_ADDR") or (socket.gethostname() if size > 1 else "127.0.0.1")
    port = os.environ.get("MASTER_PORT") or str(free_port())
    addr, port = comm.bcast((addr, port) if rank == 0 else None, root=0)
    os.environ.update(MASTER_ADDR=addr, MASTER_PORT=port)
    return info


def _from_slurm(env) -> DistInfo:
    rank, world, local, local_world = slurm.step_ranks(env)
    addr, port = slurm.rendezvous(env)
    env.update(MASTER_ADDR=addr, MASTER_PORT=str(port))
    return DistInfo(rank, world, local, local_world, "slurm")


def discover() -> DistInfo:
    """Read the launcher's variables, or Slurm's, or ask MPI, then export the torch variables.
    A launcher started inside a Slurm step (the deepspeed launcher, torchrun) sets RANK for its
    ranks, so its variables come first."""
    env = os.environ
    if "RANK" in env and "WORLD_SIZE" in env:
        info = DistInfo(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)),
                        int(env.get("LOCAL_WORLD_SIZE", env.get("LOCAL_SIZE", 1))), "env")
    elif slurm.is_rank_step(env):
        info = _from_slurm(env)
    elif any(v in env for v in MPI_RANK_VARS):
        info = _from_mpi()
    else:
        info = DistInfo()
        env.setdefault("MASTER_ADDR", "127.0.0.1")
        if "MASTER_PORT" not in env:
            env["MASTER_PORT"] = str(free_port())
            info.own_port = True
    env.update(RANK=str(info.rank), WORLD_SIZE=str(info.world_size),
               LOCAL_RANK=str(info.local_rank), LOCAL_WORLD_SIZE=str(info.local_world_size))
    return info


def _patch_default_timeout(timeout: datetime.timedelta) -> None:
    # torch.distributed.new_group() without a timeout falls back to the backend default
    # (30 minutes); DeepSpeed's ZeRO gradient groups are created that way, so a stuck rank
    # would hold every other rank for half an hour. Make the default ours.
    import torch.distributed.distributed_c10d as c10d

    c10d._get_default_timeout = lambda backend=None: timeout
    c10d.default_pg_timeout = timeout
    if hasattr(c10d, "default_pg_nccl_timeout"):
        c10d.default_pg_nccl_timeout = timeout


def device_type() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def local_device() -> str:
    """This process's device for inference: its current GPU, else the CPU."""
    import torch

    return f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"


def init(info: DistInfo, backend: str = "", timeout_s: int = 300, cpu_shm_comm: bool = False) -> None:
    """Initialize the process group through DeepSpeed (which the engine needs) with our timeout."""
    import deepspeed
    import torch

    if device_type() == "cpu":
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
        if not cpu_shm_comm:
            # Skip the JIT build of the shared-memory all-reduce op; gloo does the work.
            deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    else:  # modulo: srun --gpus-per-task shows each task only its own GPU
        torch.cuda.set_device(info.local_rank % torch.cuda.device_count())
    timeout = datetime.timedelta(seconds=timeout_s)
    _patch_default_timeout(timeout)
    backend = backend or ("nccl" if device_type() == "cuda" else "gloo")
    for attempt in range(PORT_TRIES):
        try:
            deepspeed.init_distributed(dist_backend=backend, auto_mpi_discovery=False, timeout=timeout,
                                       rank=info.rank, world_size=info.world_size, verbose=False)
            break
        except torch.distributed.DistNetworkError as err:
            if not (info.own_port and "EADDRINUSE" in str(err)) or attempt == PORT_TRIES - 1:
                raise
            os.environ["MASTER_PORT"] = str(free_port())
    announce(info)
    global _slow_group, _flag_group
    if info.world_size > 1:
        import torch.distributed as tdist

        ended.install(f"rank {info.rank}", lambda: ended_report(info))

        _slow_group = tdist.new_group(backend="gloo", timeout=datetime.timedelta(seconds=SLOW_WAIT_S))
        _flag_group = tdist.new_group(backend="gloo", timeout=timeout)


def is_initialized() -> bool:
    import torch.distributed as tdist

    return tdist.is_available() and tdist.is_initialized()


def barrier() -> None:
    import torch.distributed as tdist

    if is_initialized():
        tdist.barrier()


def slow_barrier() -> None:
    """A barrier that waits up to ``SLOW_WAIT_S`` (for peers doing one-off work), not the
    collective timeout."""
    import torch.distributed as tdist

    if is_initialized():
        tdist.barrier(group=_slow_group)


def shutdown() -> None:
    import torch.distributed as tdist

    global _slow_group, _flag_group
    ended.uninstall()
    if is_initialized():
        tdist.destroy_process_group()
    _slow_group = _flag_group = None


@contextlib.contextmanager
def main_process_first(info: DistInfo) -> Iterator[None]:
    """Local rank 0 runs the body first (fills caches); the others then run it on the cache.
    The others wait on the slow barrier: filling a cache may take longer than a collective."""
    if info.local_rank != 0:
        slow_barrier()
    try:
        yield
    finally:
        if info.local_rank == 0:
            slow_barrier()


def run_on_main(info: DistInfo, name: str, fn: Callable[[], None], patience_s: float = 3600.0) -> None:
    """Run ``fn`` on the main process while the others wait for it, however long it takes.

    A barrier would do, but it is bounded by the collective timeout, which is short on purpose;
    a long one-off job (a checkpoint conversion) is waited for through the store instead, and
    its failure on the main process is raised on every rank rather than left to time out."""
    if info.world_size == 1 or not is_initialized():
        fn()
        return
    key = f"{KEY}/once/{name}"
    store = _store()
    if info.is_main:
        try:
            fn()
        except BaseException as err:
            store.set(key, f"error: {type(err).__name__}: {err}")
            raise
        store.set(key, "ok")
        return
    deadline = time.monotonic() + patience_s
    while not store.check([key]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"rank {info.rank}: rank 0 did not finish {name} in {patience_s:g} s")
        time.sleep(0.2)
    result = store.get(key).decode()
    if result != "ok":
        raise RuntimeError(f"rank {info.rank}: {name} failed on rank 0: {result}")


def all_reduce_sum(values: list[float]) -> list[float]:
    """Sum a few host scalars over ranks (used only at log steps)."""
    import torch
    import torch.distributed as tdist

    if not is_initialized() or tdist.get_world_size() == 1:
        return list(values)
    dev = "cuda" if device_type() == "cuda" else "cpu"
    t = torch.tensor(values, dtype=torch.float64, device=dev)
    tdist.all_reduce(t)
    return t.tolist()


def all_reduce_max(value: int) -> int:
    """The largest of one small integer over ranks, through the host (gloo): cheap enough for
    every step, and it does not wait for the GPU's queue."""
    import torch
    import torch.distributed as tdist

    if _flag_group is None or not is_initialized():
        return value
    t = torch.tensor([value], dtype=torch.int64)
    tdist.all_reduce(t, op=tdist.ReduceOp.MAX, group=_flag_group)
    return int(t.item())


def gather_objects(obj, info: DistInfo) -> list:
    """All ranks' objects, in rank order, on every rank."""
    import torch.distributed as tdist

    if not is_initialized() or info.world_size == 1:
        return [obj]
    out = [None] * info.world_size
    tdist.all_gather_object(out, obj)
    return out


# ---------------------------------------------------------------- failure report


def _store():
    # The store the default group rendezvoused through (served by rank 0, or by torchrun's
    # agent); it lives outside the collectives, so it still answers after one of them failed.
    from torch.distributed import distributed_c10d as c10d

    return c10d._get_default_store()


def announce(info: DistInfo) -> None:
    """Record this rank's host and pid, so that peers on the same host can check it directly."""
    if info.world_size > 1:
        me = json.dumps({"host": socket.gethostname(), "pid": os.getpid()})
        _store().set(f"{KEY}/proc/{info.rank}", me)


def watchdog_hooks(info: DistInfo) -> dict:
    """The watchdog's ``heartbeat`` (publish this rank's state) and ``peers`` (describe the
    others) callbacks; none in a single-process run."""
    if info.world_size == 1 or not is_initialized():
        return {}
    store = _store()

    def heartbeat(text: str) -> None:
        store.set(f"{KEY}/beat/{info.rank}", text)

    def peers() -> list[str]:
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


def describe_peers(info: DistInfo, wait_s: float = 2.5, settle_s: float = 1.0) -> list[tuple[int, str, str]]:
    """(rank, status, description) of every peer; status is ``gone``, ``busy`` (alive, not in a
    collective: the stuck one if we timed out waiting), ``waiting`` or ``alive``. Peers on this
    host are checked by pid; others by whether their heartbeat still advances over ``wait_s``."""
    try:
        store = _store()
        procs = {r: _read(store, f"{KEY}/proc/{r}") for r in range(info.world_size) if r != info.rank}
        beats = {r: _read(store, f"{KEY}/beat/{r}") for r in procs}
    except Exception:
        return [(0, "gone", f"rank 0: the rendezvous store it serves at {os.environ.get('MASTER_ADDR')}:"
                            f"{os.environ.get('MASTER_PORT')} does not answer (rank 0 is gone)")]
    host = socket.gethostname()
    found = {r: json.loads(p) for r, p in procs.items() if p is not None}
    out = [(r, "gone", f"rank {r}: never announced itself") for r, p in procs.items() if p is None]
    local = {r: p["pid"] for r, p in found.items() if p["host"] == host}
    for r, alive in _local_liveness(local, settle_s).items():
        status, text = _beat_status(_read(store, f"{KEY}/beat/{r}")) if alive else ("gone", "EXITED")
        out.append((r, status, f"rank {r} (pid {local[r]} on {host}): {text}"))
    remote = [r for r in found if r not in local]
    if remote:
        time.sleep(wait_s)
    for r in remote:
        again = _read(store, f"{KEY}/beat/{r}")
        moving = again is not None and again.split(" ")[0] != (beats[r] or "").split(" ")[0]
        status, text = _beat_status(again) if moving else (
            "gone", f"SILENT: no heartbeat for {wait_s:g} s (gone, or the whole process froze)")
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


def peer_report(info: DistInfo, prefix: str, summary: Callable[[list[str], list[str]], str],
                unless_reported: bool = False) -> bool:
    """Print one line per peer and a last one, ``summary(gone, busy)`` (the ranks in each state),
    each after ``prefix``, and mark this process as having reported its peers; with
    ``unless_reported``, print nothing (and return False) if it already has. Under a lock, so that
    the SIGTERM thread cannot end the process halfway through the main thread's report."""
    with _report_lock:
        if unless_reported and _reported[0]:
            return False
        try:
            peers = describe_peers(info)
        except Exception as why:  # the report must never hide the original error
            peers = [(-1, "alive", f"could not check the peers: {why}")]
        gone = [str(r) for r, status, _ in peers if status == "gone"]
        busy = [str(r) for r, status, _ in peers if status == "busy"]
        lines = [f"{prefix}peer {text}" for _, _, text in peers] + [prefix + summary(gone, busy)]
        print("\n".join(lines), file=sys.stderr, flush=True)
        _reported[0] = True
        return True


def ended_report(info: DistInfo) -> list[str]:
    """What this rank says when SIGTERM ends it (runtime/ended.py): which peers are gone (printed
    here), unless its own failure report already said so."""
    prefix = f"xstilts: rank {info.rank}: "

    def summary(gone: list[str], _busy: list[str]) -> str:
        if gone:
            # whichever way the peer ended (it died, or failed: waiting for this very rank, say,
            # which its own report then names), its end is why the launcher ends this rank
            return (f"rank {', '.join(gone)} ended first (failed or died); rank {info.rank} was ended "
                    f"because of that")
        return (f"every peer is alive: rank {info.rank} was ended from outside (the launcher was "
                f"stopped or the job cancelled)")

    if peer_report(info, prefix, summary, unless_reported=True):
        return []
    return [f"{prefix}ended after the failure reported above"]


def report_failure(info: DistInfo, step: int, err: BaseException, label: str) -> None:
    """Print what failed on this rank, then the state of every peer (which one died)."""
    head = (f"xstilts: rank {info.rank} {label}: failed after finishing step {step}: "
            f"{type(err).__name__}: {err}")
    print(head, file=sys.stderr, flush=True)  # first, in case the launcher ends us any moment
    if info.world_size == 1 or not is_initialized():
        return

    def summary(gone: list[str], busy: list[str]) -> str:
        if gone:
            return f"rank {', '.join(gone)} died first; rank {info.rank} failed because of that"
        if busy and "timed out" in str(err).lower():
            return (f"rank {', '.join(busy)} is alive but outside any collective while rank {info.rank} "
                    f"timed out waiting in one: rank {', '.join(busy)} is stuck")
        return f"every peer is alive: rank {info.rank} failed on its own"

    peer_report(info, f"xstilts: rank {info.rank}: ", summary)
