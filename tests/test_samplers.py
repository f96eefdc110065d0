"""Samplers: probabilities by rule, identical draws for the same seed, stateless in the step."""
import collections

import pytest

from trainer.data.samplers import TaskSampler, task_probabilities

SIZES = {"mnli": 392702, "squad": 87599, "sst2": 67349, "csqa": 9741}


def test_proportional():
    p = task_probabilities(SIZES)
    total = sum(SIZES.values())
    for t, n in SIZES.items():
        assert p[t] == pytest.approx(n / total)


def test_capped_and_temperature_and_uniform():
    p = task_probabilities(SIZES, "capped", cap=50000)
    assert p["mnli"] == pytest.approx(50000 / (50000 * 3 + 9741))
    p = task_probabilities(SIZES, "temperature", cap=0, temperature=2.0)
    w = {t: n ** 0.5 for t, n in SIZES.items()}
    assert p["csqa"] == pytest.approx(w["csqa"] / sum(w.values()))
    p = task_probabilities(SIZES, "uniform")
    assert set(p.values()) == {0.25}


def test_fixed_rate_taken_off_the_top():
    p = task_probabilities({"mlm": 10**9, "a": 100, "b": 300}, fixed={"mlm": 0.2})
    assert p["mlm"] == pytest.approx(0.2)
    assert p["a"] == pytest.approx(0.8 * 0.25) and p["b"] == pytest.approx(0.8 * 0.75)
    with pytest.raises(ValueError, match="not trained"):
        task_probabilities({"a": 1}, fixed={"zz": 0.1})


def test_same_seed_same_draws_and_stateless():
    p = task_probabilities(SIZES)
    a, b = TaskSampler(p, seed=3), TaskSampler(p, seed=3)
    seq = [a.task_at(s) for s in range(500)]
    assert seq == [b.task_at(s) for s in range(500)]
    assert [a.task_at(s) for s in range(250, 500)] == seq[250:]  # resume mid-way is exact
    assert seq != [TaskSampler(p, seed=4).task_at(s) for s in range(500)]


def test_empirical_frequencies_follow_probabilities():
    p = task_probabilities(SIZES)
    s = TaskSampler(p, seed=0)
    counts = collections.Counter(s.task_at(i) for i in range(20000))
    for t in SIZES:
        assert counts[t] / 20000 == pytest.approx(p[t], abs=0.015)


def test_state_check_refuses_changed_mix():
    s = TaskSampler(task_probabilities(SIZES), seed=0)
    s.check_state(s.state_dict())
    other = TaskSampler(task_probabilities(SIZES, "uniform"), seed=0)
    with pytest.raises(ValueError, match="task mix changed"):
        other.check_state(s.state_dict())
