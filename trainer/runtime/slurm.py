"""Inside a Slurm allocation: the variables Slurm sets, turned into ranks, a rendezvous and a
hostfile.

``srun`` starts one task per rank and tells each its place: ``SLURM_PROCID`` (rank),
``SLURM_LOCALID`` (rank on its node), ``SLURM_STEP_NUM_TASKS`` (world size; only a step has
it, the batch script does not). The rendezvous host is the first host of the step's node list
(task 0 runs there), expanded here as ``scontrol show hostnames`` would; the port is derived
from the job and step ids, so every rank computes the same one without talking to the others
and concurrent jobs on one node do not meet. The deepspeed launcher route gets the same
allocation as a ``host slots=N`` hostfile.

Every error names the variable and its value.
"""
from __future__ import annotations

import os
import re

from trainer.errors import UserError
from trainer.runtime.hostfile import valid_host

# MASTER_PORT = PORT_BASE + (job id + STEP_STRIDE x step id) mod PORT_SPAN: 15000-29999, above
# the privileged and common service ports and below Linux's ephemeral range (32768-60999), so an
# outgoing connection never holds it. Two jobs meet only if their ids differ by a multiple of
# PORT_SPAN; two steps of one job (training and a watching evaluator) never do.
PORT_BASE = 15000
PORT_SPAN = 15000
STEP_STRIDE = 7919
# MPI launchers started inside a step (mpirun bootstrapping through srun) leave their proxy's
# SLURM_PROCID in the ranks' environment: then MPI's world, not the step's tasks, is the job.
MPI_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")


class SlurmEnvError(UserError):
    """A Slurm variable that is missing or cannot be read; the message names it and its value."""


def _bad(var: str, value: str, why: str) -> SlurmEnvError:
    return SlurmEnvError(f"{var}={value!r}: {why}")


# ---------------------------------------------------------------- host lists


def _split_top(text: str, var: str) -> list[str]:
    """Split at commas outside brackets: ``a[1,3],b`` -> ``a[1,3]``, ``b``."""
    items, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "[":
            depth += 1
            if depth > 1:
                raise _bad(var, text, f"nested '[' at character {i + 1}")
        elif c == "]":
            depth -= 1
            if depth < 0:
                raise _bad(var, text, f"']' without '[' at character {i + 1}")
        elif c == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    if depth:
        raise _bad(var, text, "'[' without ']'")
    return items + [text[start:]]


def _range(spec: str, var: str, value: str) -> list[str]:
    """``01-03`` -> 01, 02, 03 (the width of the first bound is kept); ``7`` -> 7."""
    lo, dash, hi = spec.partition("-")
    if not lo.isdigit() or (dash and not hi.isdigit()):
        raise _bad(var, value, f"bad range {spec!r} in brackets (expected N or N-M)")
    if not dash:
        return [lo]
    if int(hi) < int(lo):
        raise _bad(var, value, f"range {spec!r} runs backwards")
    return [str(n).zfill(len(lo)) for n in range(int(lo), int(hi) + 1)]


def _expand_item(item: str, var: str, value: str) -> list[str]:
    """One host expression: text and bracket groups, every group multiplied out in order
    (``r[1-2]n[1-2]`` -> r1n1 r1n2 r2n1 r2n2, as Slurm does)."""
    names = [""]
    for m in re.finditer(r"\[([^\]]*)\]|[^\[]+", item):
        if m.group(0).startswith("["):
            if not m.group(1):
                raise _bad(var, value, "empty brackets")
            choices = [n for part in m.group(1).split(",") for n in _range(part, var, value)]
        else:
            choices = [m.group(0)]
        names = [n + c for n in names for c in choices]
    return names


def expand_hostlist(value: str, var: str = "SLURM_JOB_NODELIST") -> list[str]:
    """A Slurm host list (``node[01-03,07],gpu-a[1-2]``) as host names, in order; raises
    ``SlurmEnvError`` naming ``var`` and the value when it cannot be read."""
    text = value.strip()
    if not text:
        raise _bad(var, value, "empty host list")
    hosts: list[str] = []
    for item in _split_top(text, var):
        if not item:
            raise _bad(var, value, "empty entry between commas")
        for host in _expand_item(item, var, value):
            if not valid_host(host):
                raise _bad(var, value, f"{host!r} is not a host name")
            hosts.append(host)
    return hosts


def expand_counts(value: str, var: str = "SLURM_TASKS_PER_NODE") -> list[int]:
    """Slurm's per-node counts, ``2(x3),1`` -> [2, 2, 2, 1]."""
    out: list[int] = []
    for part in value.strip().split(","):
        m = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part.strip())
        if not m:
            raise _bad(var, value, f"cannot read {part!r} (expected N or N(xK), comma-separated)")
        out += [int(m.group(1))] * int(m.group(2) or 1)
    return out


# ---------------------------------------------------------------- ranks and rendezvous


def in_allocation(env: dict | os._Environ = os.environ) -> bool:
    return "SLURM_JOB_ID" in env


def is_rank_step(env: dict | os._Environ = os.environ) -> bool:
    """True in a task of an srun step whose tasks are the ranks (not in the batch script, and
    not in ranks an MPI launcher started through its own srun proxies)."""
    if "SLURM_PROCID" not in env or "SLURM_STEP_NUM_TASKS" not in env:
        return False
    mpi_sizes = {env[v] for v in MPI_SIZE_VARS if v in env}
    return not mpi_sizes or mpi_sizes == {env["SLURM_STEP_NUM_TASKS"]}


def _int(env, var: str) -> int:
    if var not in env:
        raise SlurmEnvError(f"{var} is not set: not inside a Slurm job step (start the ranks with srun)")
    value = env[var]
    if not value.strip().isdigit():
        raise _bad(var, value, "expected a non-negative integer")
    return int(value)


def job_port(env: dict | os._Environ = os.environ) -> int:
    """The rendezvous port of this job step (see ``PORT_BASE``)."""
    job = _int(env, "SLURM_JOB_ID")
    step = env.get("SLURM_STEP_ID", "0")
    step_id = int(step) if step.isdigit() else 0  # the batch script's "step" has no number
    return PORT_BASE + (job + STEP_STRIDE * step_id) % PORT_SPAN


def master_host(env: dict | os._Environ = os.environ) -> str:
    """First host of the step's node list (task 0 runs there), else of the job's."""
    for var in ("SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST"):
        if env.get(var):
            return expand_hostlist(env[var], var)[0]
    raise SlurmEnvError("SLURM_JOB_NODELIST is not set: not inside a Slurm allocation "
                        "(submit with sbatch or `--launcher slurm`, or get nodes with salloc)")


def step_ranks(env: dict | os._Environ = os.environ) -> tuple[int, int, int, int]:
    """(rank, world size, local rank, local world size) of this srun task."""
    rank, world, local = _int(env, "SLURM_PROCID"), _int(env, "SLURM_STEP_NUM_TASKS"), _int(env, "SLURM_LOCALID")
    if rank >= world:
        raise _bad("SLURM_PROCID", str(rank), f"not below SLURM_STEP_NUM_TASKS={world}")
    per_node = env.get("SLURM_STEP_TASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE") or str(world)
    var = "SLURM_STEP_TASKS_PER_NODE" if env.get("SLURM_STEP_TASKS_PER_NODE") else "SLURM_TASKS_PER_NODE"
    counts = expand_counts(per_node, var)
    node = int(env.get("SLURM_NODEID", "0") or 0)
    local_world = counts[node] if node < len(counts) else counts[-1]
    return rank, world, local, local_world


def rendezvous(env: dict | os._Environ = os.environ) -> tuple[str, int]:
    """(MASTER_ADDR, MASTER_PORT) of this job step; MASTER_ADDR/PORT already set win."""
    addr = env.get("MASTER_ADDR") or master_host(env)
    port = int(env["MASTER_PORT"]) if env.get("MASTER_PORT", "").isdigit() else job_port(env)
    return addr, port


# ---------------------------------------------------------------- the allocation as a hostfile


def allocation_hosts(env: dict | os._Environ = os.environ) -> dict[str, int]:
    """``{host: slots}`` of the whole allocation: the job's node list, with one slot per GPU
    when the job asked for GPUs per node, else per task (``SLURM_TASKS_PER_NODE``)."""
    if not env.get("SLURM_JOB_NODELIST"):
        raise SlurmEnvError("SLURM_JOB_NODELIST is not set: not inside a Slurm allocation "
                            "(run this in an sbatch script or under salloc)")
    hosts = expand_hostlist(env["SLURM_JOB_NODELIST"], "SLURM_JOB_NODELIST")
    gpus = env.get("SLURM_GPUS_PER_NODE", "")
    if gpus:
        count = gpus.rsplit(":", 1)[-1]  # "8" or "a100:8"
        if not count.isdigit() or int(count) == 0:
            raise _bad("SLURM_GPUS_PER_NODE", gpus, "expected N or TYPE:N with N > 0")
        slots = [int(count)] * len(hosts)
    else:
        if not env.get("SLURM_TASKS_PER_NODE"):
            raise SlurmEnvError("SLURM_TASKS_PER_NODE is not set: cannot tell the slots per node")
        slots = expand_counts(env["SLURM_TASKS_PER_NODE"], "SLURM_TASKS_PER_NODE")
    if len(slots) != len(hosts):
        raise _bad("SLURM_TASKS_PER_NODE", env.get("SLURM_TASKS_PER_NODE", ""),
                   f"{len(slots)} counts for the {len(hosts)} hosts of SLURM_JOB_NODELIST")
    return dict(zip(hosts, slots))


def write_hostfile(hosts: dict[str, int], path: str) -> str:
    """``host slots=N`` lines, the format ``deepspeed --hostfile`` and hostfile.py read."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.writelines(f"{host} slots={n}\n" for host, n in hosts.items())
    return path


def restart_count(env: dict | os._Environ = os.environ) -> int:
    """How often Slurm has requeued this job (0 for its first run, or outside Slurm)."""
    value = env.get("SLURM_RESTART_COUNT", "0")
    return int(value) if value.isdigit() else 0


def lone_process_note(env: dict | os._Environ = os.environ) -> str | None:
    """A warning for a training process started straight from a batch script of several tasks:
    it runs alone (one rank), which is rarely what the allocation was for."""
    tasks = env.get("SLURM_NTASKS", "1")
    if in_allocation(env) and "SLURM_STEP_NUM_TASKS" not in env and tasks.isdigit() and int(tasks) > 1:
        return (f"inside Slurm job {env.get('SLURM_JOB_ID')} of {tasks} tasks but not in an srun step: "
                f"this is one process, one rank; start the ranks with `srun xstilts train ...`")
    return None


def job_id(env: dict | os._Environ = os.environ) -> str:
    return env.get("SLURM_JOB_ID", "")
