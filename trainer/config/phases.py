"""The runs a recipe's phases plan: one run for a joint phase, one per training group for a
per-task phase; each run knows its tasks, its starting weights and its folders. Training runs
them (training/), the evaluator finds their exports by the same plan (evaluation/)."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from trainer.config.schema import Config, PhaseConfig
from trainer.errors import ConfigError
from trainer.tasks import get_task
from trainer.tasks.base import Task


@dataclass
class PhaseRun:
    """One training run: which tasks, from which weights, into which folder."""

    name: str
    phase: PhaseConfig
    tasks: list[Task]
    init: str  # "pretrained" or an export folder
    out: str
    eval_tasks: list[Task] = field(default_factory=list)  # scored with this run's export
    stage_of: str = ""  # a step trained before this target's run (XCOPA's SIQA), never scored
    retrieval: list[Task] = field(default_factory=list)  # retrieval targets scored with this export

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
    trainable = [t for t in tasks if t.trainable]
    base = os.path.join(cfg.run.out, phase.name)
    if not phase.per_task:
        if not trainable and not phase.retrieval and not phase.align and init != "pretrained":
            # nothing to do: the phase passes its starting point on (a step a chain leaves out)
            return [PhaseRun(phase.name, phase, [], init, os.path.dirname(init))]
        return [PhaseRun(phase.name, phase, trainable, init, base)]
    groups: dict[str, list[Task]] = {}
    for t in trainable:
        groups.setdefault(t.train_group, []).append(t)
    # The group's first task supplies the English training data and the settings; the others
    # share its head and are scored with its export.
    runs = []
    for g, ts in groups.items():
        start, target = init, target_phase(phase, ts[0])
        for name, epochs in ts[0].target_before:
            stage = dataclasses.replace(phase, epochs=float(epochs), max_steps=0, task_epochs={}, task_batch={},
                                        task_lr={}, evaluate=False, selection=False, retrieval=[])
            run = PhaseRun(f"{phase.name}/{g}/{name}", stage, [get_task(name)], start,
                           os.path.join(base, g, name), stage_of=ts[0].name)
            runs.append(run)
            start = run.export_dir
            target = dataclasses.replace(target, heads="carry")  # the stage's head goes on (SIQA's into COPA)
        runs.append(PhaseRun(f"{phase.name}/{g}", target, ts[:1], start, os.path.join(base, g), eval_tasks=ts[1:]))
    for t in tasks:  # retrieval targets that do not train go with the run that scores them
        if not t.trainable:
            host = next((r for r in runs if not r.stage_of and r.tasks[0].train_group == t.target_scored_with), None)
            if host is None and t.target_scored_with:
                raise ConfigError(f"phases.{phase.name}.tasks: {t.name} is scored with the {t.target_scored_with} "
                                  f"run's export; add a target of that training group (e.g. xquad_r for "
                                  f"squad_v1) or score it from a phase's `retrieval`")
            if host is None:
                raise ConfigError(f"phases.{phase.name}.tasks: {t.name} trains nothing and names no run to be "
                                  f"scored with; score it from a phase's `retrieval`")
            host.retrieval.append(t)
    return runs


def target_phase(phase: PhaseConfig, task: Task) -> PhaseConfig:
    """``phase`` as it trains ``task`` in a per-task run: the phase's ``task_epochs`` /
    ``task_batch`` for the task, else the task's own target settings (Task.target_epochs,
    target_batch: the benchmark scripts'), else the phase's ``epochs`` / batch; the learning rate
    from the phase's ``task_lr``, else its ``lr``, else the task's ``target_lr``, else ``optim.lr``."""
    epochs = phase.task_epochs.get(task.name, task.target_epochs)
    batch = phase.task_batch.get(task.name, task.target_batch)
    lr = phase.task_lr.get(task.name) or phase.lr or task.target_lr or 0.0
    return dataclasses.replace(phase, epochs=float(phase.epochs if epochs is None else epochs), lr=float(lr),
                               task_epochs={}, task_lr={},
                               task_batch={} if batch is None else {task.name: int(batch)})


def main_runs(runs: list[PhaseRun]) -> list[PhaseRun]:
    """The runs that train the phase's own tasks (stages trained before a target left out)."""
    return [r for r in runs if not r.stage_of]
