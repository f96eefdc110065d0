"""Targets carry their own fine-tuning settings, so overriding the targets of a recipe never
changes them: UD-POS and PAN-X (and their XTREME-R versions) train 10 epochs, the QA targets at a
global batch of 16, XCOPA's run trains SIQA first and starts COPA from it; a phase's own
``task_epochs`` still wins. Phases can be addressed by name in overrides. A sweep's equal
compute gives every setting's intermediate phase the same steps (or examples)."""
from __future__ import annotations

import os

import pytest

from tests import helpers as h
from trainer.commands import sweep
from trainer.commands.dryrun import dry_run
from trainer.config import ConfigError, load, phase_global_batch
from trainer.config.phases import main_runs, plan_runs
from trainer.evaluation.plan import plan_from_run
from trainer.training.loop import total_steps

RECIPES = os.path.join(h.ROOT, "trainer", "recipes")
BASELINE = os.path.join(RECIPES, "xlmr_large_multitask.toml")
XTREME_R = ["xnli", "xcopa", "udpos_r", "panx_r", "xquad_r", "mlqa", "tydiqa"]


def _runs(recipe: str, *overrides: str):
    cfg = load(recipe, list(overrides))
    exports = {"pretrained": "pretrained"}
    out = {}
    for phase in cfg.phases:
        runs = plan_runs(cfg, phase, exports)
        out[phase.name] = runs
        exports[phase.name] = main_runs(runs)[0].export_dir
    return cfg, out


def test_a_target_override_keeps_each_tasks_settings():
    cfg, runs = _runs(BASELINE, f"phases.target.tasks={XTREME_R}".replace("'", '"'))
    by = {r.name: r for r in runs["target"]}
    assert by["target/udpos"].tasks[0].name == "udpos_r" and by["target/udpos"].phase.epochs == 10
    assert by["target/panx"].phase.epochs == 10 and by["target/xnli"].phase.epochs == 2
    assert phase_global_batch(cfg, by["target/squad_v1"].phase, ["xquad_r"]) == 16
    assert phase_global_batch(cfg, by["target/xnli"].phase, ["xnli"]) == cfg.deepspeed.global_batch
    # XCOPA: SIQA first (5 epochs, never scored), then COPA from the SIQA export, head carried
    stage, copa = by["target/xcopa/siqa"], by["target/xcopa"]
    assert [t.name for t in stage.tasks] == ["siqa"] and stage.stage_of == "xcopa" and stage.phase.epochs == 5
    assert not stage.phase.evaluate and copa.init == stage.export_dir and copa.phase.heads == "carry"
    assert stage.init == runs["intermediate"][0].export_dir  # the stage starts where the target would
    assert [r.name for r in runs["target"]].index("target/xcopa/siqa") < [r.name for r in runs["target"]].index(
        "target/xcopa")
    steps = total_steps(by["target/udpos"].phase, {"udpos_r": 21253}, 32)
    assert steps == -(-10 * 21253 // 32)  # 10 epochs of the English treebanks


def test_retrieval_targets_keep_their_settings_under_an_override_and_task_lr_wins():
    _, runs = _runs(BASELINE, 'phases.target.tasks=["xnli", "lareqa", "mewslix"]')
    by = {r.tasks[0].name: r.phase for r in runs["target"]}
    assert (by["lareqa"].epochs, by["lareqa"].lr, by["lareqa"].task_batch) == (3.0, 2e-5, {"lareqa": 16})
    assert (by["mewslix"].epochs, by["mewslix"].lr, by["mewslix"].task_batch) == (2.0, 1e-5, {"mewslix": 32})
    assert by["xnli"].lr == 0.0  # optim.lr: xnli has no learning rate of its own
    _, runs = _runs(BASELINE, 'phases.target.tasks=["xnli", "mewslix"]', 'phases.target.task_lr={"mewslix": 2e-5}',
                    "phases.target.lr=3e-5")
    by = {r.tasks[0].name: r.phase.lr for r in runs["target"]}
    assert by == {"xnli": 3e-5, "mewslix": 2e-5}  # task_lr, then the phase's lr, then the task's
    with pytest.raises(ConfigError, match=r"task_lr\.mewslix: expected a positive learning rate"):
        load(BASELINE, ['phases.target.task_lr={"mewslix": -1}'])
    with pytest.raises(ConfigError, match="task_lr: only a per-task phase"):
        load(BASELINE, ['phases.intermediate.task_lr={"mnli": 1e-5}'])


def test_the_phases_own_task_epochs_win_over_the_tasks():
    _, runs = _runs(BASELINE, 'phases.target.tasks=["udpos_r", "xnli"]', 'phases.target.task_epochs={"udpos_r": 3}')
    by = {r.tasks[0].name: r.phase.epochs for r in runs["target"]}
    assert by == {"udpos_r": 3, "xnli": 2}


def test_the_stage_before_a_target_is_trained_not_scored(tmp_path):
    cfg = load(BASELINE, ['phases.target.tasks=["xcopa", "xnli"]', f"run.out={tmp_path}"])
    with open(tmp_path / "config.json", "w") as f:
        import json

        from trainer.config import to_dict
        json.dump(to_dict(cfg), f)
    _, plan = plan_from_run(str(tmp_path))
    scored = {tuple(tasks) for _, tasks in plan}
    assert ("xcopa",) in scored and ("siqa",) not in scored
    text = dry_run(cfg, 8)
    assert "phase target/xcopa/siqa: init intermediate, tasks ['siqa']" in text
    assert "phase target/xcopa: init target/xcopa/siqa" in text and "trained before xcopa" in text


def test_phases_are_addressed_by_name_in_overrides():
    cfg = load(BASELINE, ["phases.target.heads=fresh", "phases.intermediate.epochs=3"])
    assert cfg.phases[1].heads == "fresh" and cfg.phases[0].epochs == 3
    with pytest.raises(ConfigError, match="no phase named 'tagret'"):
        load(BASELINE, ["phases.tagret.heads=fresh"])


# ---------------------------------------------------------------- equal compute


def _spec(tmp_path, kind: str, extra: str = "") -> sweep.Spec:
    recipe = os.path.join(RECIPES, "xlmr_large_multitask.toml")
    text = (f'[sweep]\nrecipe = "{recipe}"\nseeds = [1]\ntargets = ["xnli"]\nequal_compute = "{kind}"\n'
            f'compute_reference = "english"\n{extra}\n'
            '[[settings]]\nname = "baseline"\ntasks = []\n'
            '[[settings]]\nname = "english"\ntasks = ["mnli", "qqp"]\n'
            '[[settings]]\nname = "translated"\ntasks = ["mnli", "mnli@de", "mnli@fr", "qqp"]\n'
            '[[settings]]\nname = "big-batch"\ntasks = ["mnli"]\noverrides = ["phases.intermediate.global_batch=64"]\n')
    return sweep.load_spec(h.write_text(str(tmp_path / "spec.toml"), text))


def _steps(run: sweep.SweepRun) -> tuple[int, int]:
    cfg = sweep.validate(run, 8)
    phase = cfg.phases[0]
    gb = phase_global_batch(cfg, phase, phase.tasks)
    sizes = {t: 1000 for t in phase.tasks}  # unused when max_steps is set
    return total_steps(phase, sizes, gb), gb


def test_equal_compute_gives_every_setting_the_same_steps(tmp_path):
    runs = {r.setting: r for r in sweep.expand(_spec(tmp_path, "steps"))}
    english = (392_702 + 363_846) // 32 + 1  # one epoch of MNLI + QQP at a global batch of 32
    for name in ("english", "translated", "big-batch"):
        assert _steps(runs[name])[0] == english, name
    assert not any("max_steps" in o for o in runs["baseline"].overrides)


def test_equal_compute_in_examples_divides_by_each_global_batch(tmp_path):
    runs = {r.setting: r for r in sweep.expand(_spec(tmp_path, "examples", "compute_budget = 64000"))}
    assert _steps(runs["english"]) == (2000, 32) and _steps(runs["translated"]) == (2000, 32)
    assert _steps(runs["big-batch"]) == (1000, 64)


def test_equal_compute_needs_a_reference_or_budget(tmp_path):
    with pytest.raises(sweep.SweepError, match="compute_reference"):
        sweep.load_spec(h.write_text(str(tmp_path / "bad.toml"), '[sweep]\nrecipe = "x.toml"\n'
                                     'equal_compute = "steps"\n[[settings]]\nname = "baseline"\ntasks = []\n'))
    with pytest.raises(sweep.SweepError, match="equal_compute"):
        sweep.load_spec(h.write_text(str(tmp_path / "bad2.toml"), '[sweep]\nrecipe = "x.toml"\n'
                                     'equal_compute = "flops"\n[[settings]]\nname = "baseline"\ntasks = []\n'))


def test_tatoeba_r_as_a_target_is_scored_with_the_squad_run(tmp_path):
    cfg, runs = _runs(BASELINE, 'phases.target.tasks=["xnli", "xquad_r", "tatoeba_r"]')
    by = {r.name: r for r in runs["target"]}
    assert [t.name for t in by["target/squad_v1"].retrieval] == ["tatoeba_r"] and not by["target/xnli"].retrieval
    cfg = load(BASELINE, ['phases.target.tasks=["xquad_r", "tatoeba_r"]', f"run.out={tmp_path}"])
    with open(tmp_path / "config.json", "w") as f:
        import json

        from trainer.config import to_dict
        json.dump(to_dict(cfg), f)
    _, plan = plan_from_run(str(tmp_path))
    assert any(tasks == ["xquad_r", "tatoeba_r"] and export.endswith("squad_v1/export") for export, tasks in plan)
    with pytest.raises(ConfigError, match="tatoeba_r is scored with the squad_v1 run"):
        _runs(BASELINE, 'phases.target.tasks=["xnli", "tatoeba_r"]')
    with pytest.raises(ConfigError, match="tatoeba train nothing: score them from the phase's export"):
        load(BASELINE, ['phases.intermediate.tasks=["mnli", "tatoeba"]'])
