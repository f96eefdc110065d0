"""The runs a phase plans (trainer/config/phases.py) field by field: a stage trained before a
target (XCOPA's SIQA) is a plain run of its own epochs that is never scored or selected and keeps
none of the phase's per-task tables; the target run after it carries the stage's head; a phase
with nothing to do hands its starting point on; a per-task phase's run settings come from the
phase's tables first. Also the (query, candidate) limits of any task."""
from __future__ import annotations

import os

import pytest

from trainer import config
from trainer.config import PhaseConfig, pair_lengths
from trainer.config.phases import plan_runs, target_phase
from trainer.tasks import get_task

CFG = config.load(None, ["phases=[]", "run.out=/r"])


def test_the_stage_before_xcopa_is_a_plain_unscored_run():
    phase = PhaseConfig(name="target", per_task=True, epochs=2.0, max_steps=0, evaluate=True, selection=True,
                        task_epochs={"xcopa": 7, "siqa": 9}, task_batch={"xcopa": 8}, task_lr={"xcopa": 3e-5},
                        retrieval=["tatoeba"], tasks=["xcopa"], heads="fresh")
    runs = plan_runs(CFG, phase, {"pretrained": "pretrained"})
    stage, copa = runs
    assert stage.name == "target/xcopa/siqa" and stage.out == os.path.join("/r", "target", "xcopa", "siqa")
    assert stage.init == "pretrained" and stage.stage_of == "xcopa" and [t.name for t in stage.tasks] == ["siqa"]
    sp = stage.phase
    assert (sp.epochs, sp.max_steps, sp.task_epochs, sp.task_batch, sp.task_lr) == (5.0, 0, {}, {}, {})
    assert (sp.evaluate, sp.selection, sp.retrieval) == (False, False, [])
    cp = copa.phase
    assert copa.init == stage.export_dir and cp.heads == "carry"  # SIQA's head goes on into COPA
    assert (cp.epochs, cp.task_batch, cp.lr, cp.task_epochs, cp.task_lr) == (7.0, {"xcopa": 8}, 3e-5, {}, {})
    assert cp.evaluate and cp.selection


def test_a_stage_ignores_a_phases_step_cap():
    phase = PhaseConfig(name="target", per_task=True, max_steps=40, tasks=["xcopa"])
    stage = plan_runs(CFG, phase, {"pretrained": "pretrained"})[0]
    assert stage.phase.max_steps == 0 and stage.phase.epochs == 5.0


def test_a_phase_with_nothing_to_do_hands_its_start_on():
    phase = PhaseConfig(name="gap", tasks=["tatoeba"], init="inter")
    (run,) = plan_runs(CFG, phase, {"pretrained": "pretrained", "inter": "/r/inter/export"})
    assert (run.name, run.phase, run.tasks, run.init, run.out) == ("gap", phase, [], "/r/inter/export", "/r/inter")
    assert run.export_dir == "/r/inter/export"
    # from the pretrained model, or with retrieval or alignment to do, the phase has its own folder
    for p, exports in ((PhaseConfig(name="gap", tasks=[]), {"pretrained": "pretrained"}),
                       (PhaseConfig(name="gap", init="inter", retrieval=["tatoeba"]), {"inter": "/r/inter/export"}),
                       (PhaseConfig(name="gap", init="inter", align=["tatoeba"]), {"inter": "/r/inter/export"})):
        (own,) = plan_runs(CFG, p, {"pretrained": "pretrained", **exports})
        assert own.out == os.path.join("/r", "gap") and own.tasks == []
    (mixed,) = plan_runs(CFG, PhaseConfig(name="mix", tasks=["mnli"], init="inter"), {"inter": "/r/inter/export"})
    assert [t.name for t in mixed.tasks] == ["mnli"] and mixed.out == os.path.join("/r", "mix")


def test_an_untrained_retrieval_target_without_its_run_names_it():
    with pytest.raises(config.ConfigError, match=r"tatoeba_r is scored with the squad_v1 run's export"):
        plan_runs(CFG, PhaseConfig(name="t", per_task=True, tasks=["xnli", "tatoeba_r"]), {"pretrained": "pretrained"})
    import dataclasses

    from trainer import tasks as registry

    own = dataclasses.replace(get_task("tatoeba_r"), name="tatoeba_own", target_scored_with="")
    registry.TASKS["tatoeba_own"] = own
    try:
        with pytest.raises(config.ConfigError, match=r"tatoeba_own trains nothing and names no run to be scored with; score it from a phase's `retrieval`"):
            plan_runs(CFG, PhaseConfig(name="t", per_task=True, tasks=["xnli", "tatoeba_own"]),
                      {"pretrained": "pretrained"})
    finally:
        del registry.TASKS["tatoeba_own"]


def test_target_phase_reads_the_phases_tables_by_task():
    phase = PhaseConfig(name="t", per_task=True, task_batch={"xnli": 64, "pawsx": 8}, task_lr={"xnli": 1e-6})
    got = target_phase(phase, get_task("xnli"))
    assert got.task_batch == {"xnli": 64} and got.lr == 1e-6 and got.task_lr == {}
    assert target_phase(phase, get_task("udpos")).task_batch == {}  # none for it, none from the task


def test_pair_lengths_of_a_task_without_its_own():
    assert pair_lengths(CFG, get_task("xnli")) == (CFG.data.max_length, CFG.data.max_length)
