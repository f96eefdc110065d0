"""Multi-task samplers: which task trains at each optimizer step.

Pure and seeded: the task of step ``s`` depends only on (seed, s, probabilities), so every rank
draws the same task without communicating, and a checkpoint needs nothing but the step.

  proportional  p_i = n_i / sum n
  capped        p_i ∝ min(n_i, cap)
  temperature   p_i ∝ min(n_i, cap) ^ (1 / T)
  uniform       p_i = 1 / k

``fixed`` rates (MLM co-training at a set share, say) are taken off the top; the remaining mass
is shared by the other tasks by the rule above.
"""
from __future__ import annotations

import numpy as np


def task_probabilities(sizes: dict[str, int], kind: str = "proportional", cap: int = 0,
                       temperature: float = 1.0, fixed: dict[str, float] | None = None
                       ) -> dict[str, float]:
    fixed = dict(fixed or {})
    unknown = sorted(set(fixed) - set(sizes))
    if unknown:
        raise ValueError(f"sampler.fixed names tasks that are not trained in this phase: {unknown}")
    rest_mass = 1.0 - sum(fixed.values())
    if rest_mass < 0 or any(v < 0 for v in fixed.values()):
        raise ValueError(f"sampler.fixed rates must be >= 0 and sum to at most 1, got {fixed}")
    rest = {t: n for t, n in sizes.items() if t not in fixed}
    if any(n <= 0 for n in rest.values()):
        raise ValueError(f"every sampled task needs a positive size, got {rest}")
    if kind == "uniform":
        weights = {t: 1.0 for t in rest}
    elif kind == "proportional":
        weights = {t: float(n) for t, n in rest.items()}
    elif kind in ("capped", "temperature"):
        capped = {t: float(min(n, cap) if cap > 0 else n) for t, n in rest.items()}
        power = 1.0 / temperature if kind == "temperature" else 1.0
        weights = {t: w ** power for t, w in capped.items()}
    else:
        raise ValueError(f"unknown sampler kind {kind!r}")
    total = sum(weights.values())
    probs = {t: rest_mass * w / total for t, w in weights.items()} if total else {}
    probs.update(fixed)
    # keep the order of `sizes` so draws do not depend on dict construction order elsewhere
    return {t: probs[t] for t in sizes}


class TaskSampler:
    """Draws the task of each optimizer step; identical on every rank for the same seed."""

    def __init__(self, probs: dict[str, float], seed: int):
        self.tasks = list(probs)
        self.probs = np.array([probs[t] for t in self.tasks], dtype=np.float64)
        self.cdf = np.cumsum(self.probs)
        self.seed = seed

    def task_at(self, step: int) -> str:
        if len(self.tasks) == 1:
            return self.tasks[0]
        # A generator keyed by (seed, step): stateless, so resume and skipping are exact.
        u = np.random.default_rng([self.seed, step]).random() * self.cdf[-1]
        return self.tasks[int(np.searchsorted(self.cdf, u, side="right"))]

    def state_dict(self) -> dict:
        return {"tasks": self.tasks, "probs": self.probs.tolist(), "seed": self.seed}

    def check_state(self, state: dict) -> None:
        """A resumed run must sample from the same distribution it was saved with."""
        if state.get("tasks") != self.tasks or not np.allclose(state.get("probs"), self.probs):
            raise ValueError(f"checkpoint sampler state {state} does not match this run "
                             f"({self.state_dict()}); the task mix changed")


def phase_fixed(sizes: dict[str, int], fixed: dict[str, float]) -> dict[str, float]:
    """The fixed rates of the tasks this phase trains: ``sampler.fixed`` is one table for the
    whole recipe (MLM co-training in the intermediate phase, none in target fine-tuning)."""
    return {t: r for t, r in fixed.items() if t in sizes}


def build_sampler(sizes: dict[str, int], cfg, seed: int) -> TaskSampler:
    probs = task_probabilities(sizes, cfg.kind, cfg.cap, cfg.temperature, phase_fixed(sizes, cfg.fixed))
    return TaskSampler(probs, seed)
