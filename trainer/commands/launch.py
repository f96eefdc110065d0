"""Launcher command lines and their environment: the deepspeed launcher, torchrun, mpirun (under
``python -m mpi4py``) or one plain process, on local ranks or on the hosts of a validated
``host slots=N`` file. Always an argv list, never a shell string."""
from __future__ import annotations

import os
import sys

from trainer.commands.common import DEMO_RECIPE, ROOT
from trainer.errors import HostfileError, UserError
from trainer.runtime.dist import free_port
from trainer.runtime.hostfile import mpich_hostfile, parse_hostfile, world_size


def tool(name: str) -> str:
    """A launcher installed beside this Python (the venv's bin), else the one on PATH."""
    local = os.path.join(os.path.dirname(sys.executable), name)
    return local if os.access(local, os.X_OK) else name


def demo_command(out: str, ranks: int, launcher: str, recipe: str = DEMO_RECIPE,
                 extra: list[str] | None = None, hostfile: str | None = None) -> list[str]:
    """The launcher command line (an argv list, never a shell string) that runs ``recipe`` on
    ``ranks`` local CPU ranks, or on the hosts of a validated ``hostfile``."""
    port = str(free_port())
    train = ["train", recipe, "--out", out, *(extra or [])]
    if hostfile is not None:
        return hostfile_command(hostfile, launcher, port, out, train)
    if launcher == "deepspeed" and ranks > 1:
        return [tool("deepspeed"), "--num_gpus", str(ranks), "--master_port", port, "--module", "trainer.cli", *train]
    if launcher == "torchrun" and ranks > 1:
        return [tool("torchrun"), "--nproc-per-node", str(ranks), "--master-port", port, "-m", "trainer.cli", *train]
    if launcher == "mpirun" and ranks > 1:
        return [tool("mpirun"), "-np", str(ranks), sys.executable, "-m", "mpi4py", "-m", "trainer.cli", *train]
    return [sys.executable, "-m", "trainer.cli", *train]


def hostfile_command(hostfile: str, launcher: str, port: str, out: str, train: list[str]) -> list[str]:
    """Launch on the hosts of ``hostfile``: parsed and validated here, before any launcher (and
    the ssh/pdsh behind it) reads it; mpirun gets the same hosts in its own file format."""
    try:
        hosts = parse_hostfile(hostfile)
    except HostfileError as err:
        raise UserError(str(err)) from None
    if launcher == "deepspeed":
        return [tool("deepspeed"), "--hostfile", hostfile, "--master_port", port, "--module", "trainer.cli", *train]
    if launcher == "mpirun":
        os.makedirs(out, exist_ok=True)
        machines = mpich_hostfile(hosts, os.path.join(out, "mpich_hosts"))
        return [tool("mpirun"), "-f", machines, "-np", str(world_size(hosts)), sys.executable, "-m", "mpi4py",
                "-m", "trainer.cli", *train]
    raise UserError(f"--hostfile works with the deepspeed and mpirun launchers, not {launcher}")


def launch_env(ranks: int) -> dict:
    env = dict(os.environ)
    cores = os.cpu_count() or 1
    # One rank per core: more threads per rank than cores only adds contention.
    env.setdefault("OMP_NUM_THREADS", str(max(1, cores // max(ranks, 1))))
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    # the launchers start ranks and helpers by name: find this environment's first
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env
