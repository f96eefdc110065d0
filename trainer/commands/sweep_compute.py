"""Equal compute across the settings of a sweep: every setting's intermediate phase trains the
same number of optimizer steps (``equal_compute = "steps"``) or the same number of training
examples (``"examples"``: steps = examples / that setting's global batch).

The amount is ``compute_budget`` (steps or examples) or, when that is 0, what the phase of the
``compute_reference`` setting takes by its own recipe (its epochs over its tasks' training
sizes). A multilingual (translated) mix of the 9 tasks otherwise trains 15x the steps of the
English mix; with ``equal_compute = "steps"`` and the English mix as reference, both train the
English mix's steps. Settings without intermediate tasks (the baseline) and settings that run
their own recipe (chains) are left as they are: the dry-run table shows every run's steps.
"""
from __future__ import annotations

import math

from trainer.commands.common import load_config as load_run
from trainer.commands.dryrun import train_size
from trainer.config import Config, phase_global_batch
from trainer.tasks import get_task
from trainer.training.loop import total_steps

KINDS = ("", "steps", "examples")


def phase_steps(cfg: Config, index: int) -> tuple[int, int]:
    """(steps, global batch) of phase ``index`` as its config trains it."""
    phase = cfg.phases[index]
    gb = phase_global_batch(cfg, phase, phase.tasks)
    if phase.max_steps:
        return phase.max_steps, gb
    sizes = {t: train_size(cfg, get_task(t)) for t in phase.tasks}
    unknown = [t for t, n in sizes.items() if not n and t not in cfg.sampler.fixed]
    if unknown:
        raise ValueError(f"the training size of {', '.join(unknown)} is unknown (Task.train_size); "
                         f"set sweep.compute_budget")
    return total_steps(phase, sizes, gb, cfg.sampler.fixed), gb


def budget(kind: str, amount: int, reference: tuple[str, list[str], str] | None, index: int) -> int:
    """The budget in steps or examples: ``amount``, else the reference run's phase
    (``reference`` = (recipe, overrides, out))."""
    if amount:
        return amount
    recipe, overrides, out = reference
    steps, gb = phase_steps(load_run(recipe, overrides, out), index)
    return steps if kind == "steps" else steps * gb


def override(kind: str, amount: int, cfg: Config, index: int) -> str:
    """The ``max_steps`` override that gives phase ``index`` of ``cfg`` the budget."""
    if kind == "steps":
        steps = amount
    else:
        steps = max(1, math.ceil(amount / phase_global_batch(cfg, cfg.phases[index], cfg.phases[index].tasks)))
    return f"--phases.{index}.max_steps={steps}"
