"""The runs a recipe's phases plan: one run for a joint phase, one per training group for a
per-task phase; each run knows its tasks, its starting weights and its folders. Training runs
them (training/), the evaluator finds their exports by the same plan (evaluation/)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from trainer.config.schema import Config, PhaseConfig
from trainer.tasks import get_task
from trainer.tasks.base import RetrievalTask, Task


@dataclass
class PhaseRun:
    """One training run: which tasks, from which weights, into which folder."""

    name: str
    phase: PhaseConfig
    tasks: list[Task]
    init: str  # "pretrained" or an export folder
    out: str
    eval_tasks: list[Task] = field(default_factory=list)  # scored with this run's export

    @property
    def export_dir(self) -> str:
        return os.path.join(self.out, "export")

    @property
    def ckpt_dir(self) -> str:
        return os.path.join(self.out, "checkpoints")


def plan_runs(cfg: Config, phase: PhaseConfig, exports: dict[str, str]) -> list[PhaseRun]:
    """One run for a joint phase; one per training group for a per-task phase."""
    init = exports[phase.init]
    tasks = [get_task(n) for n in phase.tasks]
    trainable = [t for t in tasks if not isinstance(t, RetrievalTask)]
    base = os.path.join(cfg.run.out, phase.name)
    if not phase.per_task:
        return [PhaseRun(phase.name, phase, trainable, init, base)]
    groups: dict[str, list[Task]] = {}
    for t in trainable:
        groups.setdefault(t.train_group, []).append(t)
    # The group's first task supplies the English training data; the others share its head.
    return [PhaseRun(f"{phase.name}/{g}", phase, ts[:1], init, os.path.join(base, g), eval_tasks=ts[1:])
            for g, ts in groups.items()]
