"""Rendezvous: map any launcher's environment to RANK / WORLD_SIZE / LOCAL_RANK / MASTER_*.

Supported: the deepspeed launcher and torchrun (they set the variables), srun (ranks from the
step's Slurm variables, the rendezvous from its node list and job id: runtime/slurm.py), mpirun
(ranks from mpi4py; MASTER_ADDR is rank 0's host name, chosen here rather than guessed from the
first network interface), and a single plain process. Also owns the collective timeout: every process
group, ZeRO's gradient groups included, gets ``deepspeed.timeout_s`` instead of torch's default.
``init`` announces the rank for the failure report (runtime/peers.py) and has a rank that its
launcher ends with SIGTERM say why (runtime/ended.py).
"""
from __future__ import annotations

import contextlib
import datetime
import os
import socket
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from trainer.runtime import ended, peers, slurm
from trainer.runtime.ports import free_port

MPI_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK")
# Waiting for one-off work on the main process (tokenizing a large training set, converting a
# checkpoint) legitimately outlasts the short collective timeout; such waits use a separate
# gloo group with this bound. A peer that dies still ends them at once (its sockets close).
SLOW_WAIT_S = 2 * 3600
PORT_TRIES = 5  # picks of a free port for a single plain process (see DistInfo.own_port)
_slow_group = None
_flag_group = None  # gloo: a per-step host scalar all-reduce that never waits for the GPU


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
    peers.announce(info)
    global _slow_group, _flag_group
    if info.world_size > 1:
        import torch.distributed as tdist

        _slow_group = tdist.new_group(backend="gloo", timeout=datetime.timedelta(seconds=SLOW_WAIT_S))
        _flag_group = tdist.new_group(backend="gloo", timeout=timeout)
        # last: a failure above never reaches shutdown(), which would take the handler down again
        ended.install(f"rank {info.rank}", lambda: peers.ended_report(info))


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
    key = f"{peers.KEY}/once/{name}"
    store = peers.rendezvous_store()
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
