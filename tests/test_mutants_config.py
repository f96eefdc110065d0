"""The config's batch arithmetic and limits on hand-worked values: which global batch a run of
one task or several tasks gets, each task's length limit, micro-batch and accumulation."""
from __future__ import annotations

import pytest

from trainer import config
from trainer.config import batch as B
from trainer.config.schema import PhaseConfig
from trainer.errors import EngineConfigError


def test_a_task_batch_applies_to_a_run_of_that_task_alone():
    cfg = config.Config()
    cfg.deepspeed.global_batch = 32
    phase = PhaseConfig(task_batch={"xquad": 16})
    assert B.phase_global_batch(cfg, phase, ["xquad"]) == 16
    # a multi-task run (xquad first) trains on the phase's batch, not xquad's own
    assert B.phase_global_batch(cfg, phase, ["xquad", "xnli"]) == 32
    assert B.phase_global_batch(cfg, phase, ["xnli"]) == 32
    assert B.phase_global_batch(cfg, phase, []) == 32
    phase.global_batch = 64
    assert B.phase_global_batch(cfg, phase, ["xquad", "xnli"]) == 64
    assert B.phase_global_batch(cfg, phase, ["xquad"]) == 16


def test_length_limits_by_task_and_kind():
    cfg = config.Config()
    cfg.data.max_length, cfg.data.qa_max_length = 128, 384
    cfg.data.task_max_length = {"tatoeba": 512}
    assert B.max_length_for(cfg, "xquad", "span") == 384
    assert B.max_length_for(cfg, "xnli", "classification") == 128
    assert B.max_length_for(cfg, "udpos", "tagging") == 128
    assert B.max_length_for(cfg, "tatoeba", "retrieval") == 512
    assert B.max_length_for(cfg, "tatoeba", "span") == 512  # the per-task limit wins over the kind


def test_phase_lr_falls_back_to_the_optimizer_lr():
    cfg = config.Config()
    cfg.optim.lr = 2e-5
    assert B.phase_lr(cfg, PhaseConfig()) == 2e-5
    assert B.phase_lr(cfg, PhaseConfig(lr=1e-4)) == 1e-4


def test_micro_batch_and_accumulation():
    assert B.micro_batch_for(8, 64, 2) == 8
    assert B.micro_batch_for(0, 64, 2) == 32
    for global_batch, world in ((63, 2), (0, 2), (-4, 2)):
        with pytest.raises(EngineConfigError, match=rf"^deepspeed\.micro_batch = 0 \(auto\) needs a global batch "
                                                    rf"divisible by the world size: {global_batch} over {world} ranks$"):
            B.micro_batch_for(0, global_batch, world)
    assert B.batch_arithmetic(64, 4, 2) == 8
    assert B.batch_arithmetic(8, 4, 2) == 1
    for g, m, w in ((60, 4, 2), (0, 4, 2), (64, 0, 2), (64, -4, 2)):
        with pytest.raises(EngineConfigError, match=rf"^deepspeed\.global_batch = {g} is not divisible by micro_batch "
                                                    rf"x world size = {m} x {w} = {m * w}$"):
            B.batch_arithmetic(g, m, w)
