"""`--launcher slurm`: check the cluster, write a run's batch scripts into its folder, submit
them with their dependencies, record the job ids (``<folder>/slurm/jobs.json``, which `xstilts
status` reads), and, for the demo, wait for them.

Everything that can be checked is checked before the first ``sbatch``: the recipe for the job's
world size (as ``--dry-run`` does), that Slurm answers, and that the partition exists. If an
``sbatch`` still fails, the jobs this submission already queued are cancelled.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

from trainer.commands.slurm_jobs import SCRIPTS, Job, evaluate_job, train_job, world_size
from trainer.config import SlurmConfig
from trainer.errors import UserError

RECORD = "jobs.json"
# the flags `train`, `demo` and `sweep` take, as the [slurm] keys they override
FLAGS = {"partition": "partition", "nodes": "nodes", "gpus_per_node": "gpus_per_node",
         "tasks_per_node": "tasks_per_node", "time": "time", "account": "account"}


def flag_overrides(args) -> list[str]:
    """``--partition gpu --time 4:00:00`` as ``--slurm.partition=gpu --slurm.time=4:00:00``."""
    return [f"--slurm.{key}={getattr(args, attr)}" for attr, key in FLAGS.items()
            if getattr(args, attr, None) is not None]


def _slurm(cmd: list[str], what: str) -> str:
    if shutil.which(cmd[0]) is None:
        raise UserError(f"{cmd[0]} not found: --launcher slurm needs Slurm's client commands "
                        f"(sbatch, squeue, scontrol) on this machine")
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        detail = (out.stderr or out.stdout).strip().splitlines()
        raise UserError(f"{what}: {' '.join(cmd)} failed: {detail[-1] if detail else f'exit {out.returncode}'}")
    return out.stdout


def check_cluster(sc: SlurmConfig) -> None:
    """Slurm answers, and the partition (if one is named) is one of its partitions."""
    names = _slurm(["sinfo", "-h", "-o", "%R"], "cannot reach the Slurm controller").split()
    if sc.partition and sc.partition not in names:
        raise UserError(f"slurm.partition: unknown partition {sc.partition!r} "
                        f"(this cluster has: {', '.join(sorted(set(names))) or 'none'})")


def write_scripts(jobs: list[Job]) -> None:
    for job in jobs:
        os.makedirs(os.path.dirname(job.script), exist_ok=True)
        with open(job.script, "w") as f:
            f.write(job.text)
        os.chmod(job.script, 0o755)


def _dependency(job: Job, ids: list[str]) -> list[str]:
    return [f"--dependency={job.dependency}:{':'.join(ids[i] for i in job.after)}"] if job.after else []


def submit(jobs: list[Job]) -> list[str]:
    """sbatch every job in order (a job's dependencies come before it); returns the job ids.
    On a failure the jobs already queued are cancelled, so nothing half-submitted stays."""
    write_scripts(jobs)
    ids: list[str] = []
    for job in jobs:
        try:
            out = _slurm(["sbatch", "--parsable", *_dependency(job, ids), job.script], f"submitting {job.script}")
        except UserError:
            if ids:
                subprocess.run(["scancel", *ids], capture_output=True)
                print(f"xstilts: cancelled the jobs already submitted ({', '.join(ids)})", file=sys.stderr)
            raise
        ids.append(out.strip().split(";")[0])
    record(jobs, ids)
    return ids


def entries(jobs: list[Job], ids: list[str]) -> list[dict]:
    """What `xstilts status` needs to know of each submitted job."""
    return [{"kind": job.kind, "id": job_id, "script": job.script, "log": job.log, "runs": job.runs,
             "array": job.array, "submitted": time.time()} for job, job_id in zip(jobs, ids)]


def record(jobs: list[Job], ids: list[str]) -> None:
    """``<folder>/slurm/jobs.json`` per folder: its jobs of this submission, for `xstilts status`."""
    by_folder: dict[str, list[dict]] = {}
    for job, entry in zip(jobs, entries(jobs, ids)):
        by_folder.setdefault(os.path.dirname(os.path.dirname(job.script)), []).append(entry)
    for folder, entries_here in by_folder.items():
        path = os.path.join(folder, SCRIPTS, RECORD)
        with open(path + ".tmp", "w") as f:
            json.dump(entries_here, f, indent=1)
        os.replace(path + ".tmp", path)


def dry_run_text(jobs: list[Job]) -> str:
    """Every script as it would be written, each after the sbatch line that submits it."""
    parts = []
    for i, job in enumerate(jobs):
        dep = [f"--dependency={job.dependency}:" + ":".join(f"<job {j + 1}: {jobs[j].kind}>" for j in job.after)] \
            if job.after else []
        parts.append(f"# ---- job {i + 1}: sbatch {' '.join(dep + [job.script])}\n{job.text}")
    return "\n".join(parts)


def run_jobs(cfg, recipe: str, overrides: list[str]) -> list[Job]:
    """The jobs of one run: training, then its evaluator unless it scores inline."""
    sc, out = cfg.slurm, os.path.abspath(cfg.run.out)
    jobs = [train_job(sc, cfg.run.name, out, os.path.abspath(recipe), [(out, list(overrides))])]
    if sc.evaluate != "inline":
        jobs.append(evaluate_job(sc, cfg.run.name, out, [out], 0))
    return jobs


def submit_run(cfg, recipe: str, overrides: list[str], dry_run: bool) -> tuple[list[Job], list[str]]:
    """Check, then print (``dry_run``) or submit one run's jobs; the recipe was checked for
    ``world_size(cfg.slurm)`` ranks by the caller."""
    jobs = run_jobs(cfg, recipe, overrides)
    if dry_run:
        print(dry_run_text(jobs))
        return jobs, []
    check_cluster(cfg.slurm)
    ids = submit(jobs)
    for job, job_id in zip(jobs, ids):
        print(f"submitted {job.kind} job {job_id}: {job.script} (log {job.log.replace('%j', job_id)})")
    print(f"world size {world_size(cfg.slurm)}; follow it with: xstilts status {cfg.run.out}")
    return jobs, ids
