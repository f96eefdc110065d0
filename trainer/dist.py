"""Rendezvous: map any launcher's environment to RANK / WORLD_SIZE / LOCAL_RANK / MASTER_*.

Supported: the deepspeed launcher and torchrun (they set the variables), mpirun (ranks from
mpi4py; MASTER_ADDR is rank 0's host name, chosen here rather than guessed from the first
network interface), and a single plain process. Also owns the collective timeout: every process
group, ZeRO's gradient groups included, gets ``deepspeed.timeout_s`` instead of torch's default.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import socket
from dataclasses import dataclass
from typing import Iterator

MPI_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK")


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    launcher: str = "single"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def discover() -> DistInfo:
    """Read the launcher's variables, or ask MPI, then export the torch variables."""
    env = os.environ
    if "RANK" in env and "WORLD_SIZE" in env:
        info = DistInfo(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)),
                        int(env.get("LOCAL_WORLD_SIZE", env.get("LOCAL_SIZE", 1))), "env")
    elif any(v in env for v in MPI_RANK_VARS):
        info = _from_mpi()
    else:
        info = DistInfo()
        env.setdefault("MASTER_ADDR", "127.0.0.1")
        env.setdefault("MASTER_PORT", str(free_port()))
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


def init(info: DistInfo, backend: str = "", timeout_s: int = 300, cpu_shm_comm: bool = False) -> None:
    """Initialize the process group through DeepSpeed (which the engine needs) with our timeout."""
    import deepspeed
    import torch

    if device_type() == "cpu":
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
        if not cpu_shm_comm:
            # Skip the JIT build of the shared-memory all-reduce op; gloo does the work.
            deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    else:
        torch.cuda.set_device(info.local_rank)
    timeout = datetime.timedelta(seconds=timeout_s)
    _patch_default_timeout(timeout)
    backend = backend or ("nccl" if device_type() == "cuda" else "gloo")
    deepspeed.init_distributed(dist_backend=backend, auto_mpi_discovery=False, timeout=timeout,
                               rank=info.rank, world_size=info.world_size, verbose=False)


def is_initialized() -> bool:
    import torch.distributed as tdist

    return tdist.is_available() and tdist.is_initialized()


def barrier() -> None:
    import torch.distributed as tdist

    if is_initialized():
        tdist.barrier()


def shutdown() -> None:
    import torch.distributed as tdist

    if is_initialized():
        tdist.destroy_process_group()


@contextlib.contextmanager
def main_process_first(info: DistInfo) -> Iterator[None]:
    """Local rank 0 runs the body first (fills caches); the others then run it on the cache."""
    if info.local_rank != 0:
        barrier()
    try:
        yield
    finally:
        if info.local_rank == 0:
            barrier()


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


def gather_objects(obj, info: DistInfo) -> list:
    """All ranks' objects, in rank order, on every rank."""
    import torch.distributed as tdist

    if not is_initialized() or info.world_size == 1:
        return [obj]
    out = [None] * info.world_size
    tdist.all_gather_object(out, obj)
    return out
