"""`xstilts sweep SPEC --launcher slurm`: the grid as Slurm jobs. Each setting is one job array
over its runs (its seeds, and targets with ``per_target``), each element of which resumes its
run; each has an evaluator array whose element i starts when training element i succeeded
(``aftercorr``); one last job collects the table once every evaluator has ended. Runs already
scored are left out of the arrays, so submitting a sweep again finishes what is missing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from trainer.commands.slurm_jobs import Job, collect_job, evaluate_job, train_job
from trainer.config import SlurmConfig


@dataclass
class SettingRuns:
    """The runs of one setting, in array order, and which of them still need to run."""

    name: str
    recipe: str
    slurm: SlurmConfig  # the resolved [slurm] table of its runs
    runs: list[tuple[str, list[str]]]  # (run folder, overrides)
    pending: list[int]


def sweep_jobs(spec_path: str, sweep_name: str, out: str, groups: list[SettingRuns]) -> list[Job]:
    """Train and evaluator arrays of every setting with pending runs, then the collector."""
    jobs: list[Job] = []
    ends: list[int] = []  # the job each setting's runs end with
    for g in groups:
        if not g.pending:
            continue
        folder, name = os.path.join(out, g.name), f"{sweep_name}/{g.name}"
        array = ",".join(str(i) for i in g.pending)
        jobs.append(train_job(g.slurm, name, folder, g.recipe, g.runs, array))
        if g.slurm.evaluate != "inline":
            jobs.append(evaluate_job(g.slurm, name, folder, [r for r, _ in g.runs], len(jobs) - 1, array))
        ends.append(len(jobs) - 1)
    if jobs:
        jobs.append(collect_job(groups[0].slurm, spec_path, out, ends))
    return jobs
