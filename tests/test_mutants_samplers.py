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


def test_temperature_defaults_to_1_which_is_proportional():
    sizes = {"a": 300, "b": 100}
    assert S.task_probabilities(sizes, "temperature") == pytest.approx({"a": 0.75, "b": 0.25})


def test_fixed_rates_may_use_the_whole_mass_or_be_zero():
    assert S.task_probabilities({"a": 10, "mlm": 5}, fixed={"mlm": 1.0}) == pytest.approx({"a": 0.0, "mlm": 1.0})
    assert S.task_probabilities({"a": 10, "mlm": 5}, fixed={"mlm": 0.0}) == pytest.approx({"a": 1.0, "mlm": 0.0})


@pytest.mark.parametrize("fixed", [{"mlm": -0.1}, {"mlm": 0.7, "b": 0.4}])
def test_bad_fixed_rates_are_refused(fixed):
    with pytest.raises(ValueError, match=r"^sampler\.fixed rates must be >= 0 and sum to at most 1, got "):
        S.task_probabilities({"a": 10, "b": 4, "mlm": 5}, fixed=fixed)


def test_an_empty_task_is_refused():
    with pytest.raises(ValueError, match=r"^every sampled task needs a positive size, got \{'a': 10, 'b': 0\}$"):
        S.task_probabilities({"a": 10, "b": 0})


def test_two_tasks_both_drawn_and_unnormalised_probabilities_respected():
    two = S.TaskSampler({"a": 0.5, "b": 0.5}, seed=1)
    assert {two.task_at(s) for s in range(50)} == {"a", "b"}
    assert {S.TaskSampler({"a": 1.0}, seed=1).task_at(s) for s in range(5)} == {"a"}
    # weights 1 : 3 that do not sum to 1 are drawn in that ratio
    odd = S.TaskSampler({"a": 1.0, "b": 3.0}, seed=2)
    share = sum(odd.task_at(s) == "a" for s in range(4000)) / 4000
    assert 0.2 < share < 0.3


def test_cap_of_one_makes_every_task_equal_and_capped_ignores_the_temperature():
    sizes = {"a": 300, "b": 100}
    assert S.task_probabilities(sizes, "capped", cap=1) == pytest.approx({"a": 0.5, "b": 0.5})
    assert S.task_probabilities(sizes, "capped", cap=200, temperature=4.0) == pytest.approx({"a": 2 / 3, "b": 1 / 3})


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match=r"^unknown sampler kind 'round_robin'$"):
        S.task_probabilities({"a": 1}, "round_robin")
