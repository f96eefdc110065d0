"""The task sampler a phase builds from its sampler settings, checked on hand-worked numbers."""
from __future__ import annotations

import types

import pytest

from trainer.data import samplers as S


def test_build_sampler_applies_every_setting():
    # temperature 2 over sizes capped at 400: weights sqrt(400) = 20 and sqrt(100) = 10 share
    # the 0.7 left by mlm's fixed 0.3 (a fixed rate of a task not in the phase is dropped)
    cfg = types.SimpleNamespace(kind="temperature", cap=400, temperature=2.0, fixed={"mlm": 0.3, "other": 0.1})
    sampler = S.build_sampler({"a": 900, "b": 100, "mlm": 50}, cfg, seed=11)
    assert sampler.tasks == ["a", "b", "mlm"]
    assert sampler.probs.tolist() == pytest.approx([0.7 * 2 / 3, 0.7 / 3, 0.3])
    assert sampler.seed == 11
    assert sampler.state_dict() == {"tasks": ["a", "b", "mlm"], "probs": sampler.probs.tolist(), "seed": 11}
    same = S.build_sampler({"a": 900, "b": 100, "mlm": 50}, cfg, seed=11)
    assert [sampler.task_at(s) for s in range(50)] == [same.task_at(s) for s in range(50)]
