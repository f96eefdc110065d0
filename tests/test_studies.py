"""The five studies: every spec dry-runs with its XTREME-R targets at their own settings; the demo
mapping onto the synthetic suite (settings of the same synthetic training run once, chains get
their demo recipe, contrasts follow the renames); robustness drops and alignment aggregated like
scores, with the most robust setting named only below the baseline's interval."""
from __future__ import annotations

import os

import pytest

from eval.grid import build_grid, to_markdown
from eval.grid_extra import alignment_tables, build_extra, robustness_tables
from eval.results import aggregate_runs
from tests import helpers as h
from trainer.commands import sweep
from trainer.commands.sweep_demo import DemoConfig, demo_spec
from trainer.config import build_table

STUDIES = os.path.join(h.ROOT, "trainer", "recipes", "sweeps", "studies")
NAMES = ["multilingual_robustness", "reasoning_chain", "source_language_alignment",
         "diverse_tasks_robustness", "mbert_nli_vs_qa"]


@pytest.mark.parametrize("name", NAMES)
def test_each_study_expands_and_validates_with_its_targets_settings(name):
    spec = sweep.load_spec(os.path.join(STUDIES, f"{name}.toml"))
    runs = sweep.expand(spec)
    assert len(runs) == len(spec.settings) * len(spec.sweep.seeds)
    cfg = sweep.validate(runs[-1], 8)  # the last setting: a chain or a task alone
    target = next(p for p in cfg.phases if p.name == "target")
    assert target.heads == "fresh" and "xcopa" in target.tasks
    from trainer.config.phases import plan_runs
    exports = {p.name: f"/x/{p.name}/export" for p in cfg.phases} | {"pretrained": "pretrained"}
    by = {r.name: r for r in plan_runs(cfg, target, exports)}
    assert by["target/xcopa/siqa"].stage_of == "xcopa"  # SIQA, then COPA
    if "udpos_r" in target.tasks:
        assert by["target/udpos"].phase.epochs == 10 and by["target/panx"].phase.epochs == 10
    assert spec.demo is not None


def test_equal_compute_in_the_multilingual_study():
    spec = sweep.load_spec(os.path.join(STUDIES, "multilingual_robustness.toml"))
    runs = {r.setting: r for r in sweep.expand(spec) if r.seed == 1}
    english = [o for o in runs["english"].overrides if "max_steps" in o]
    assert english and english == [o for o in runs["translated"].overrides if "max_steps" in o]
    assert not any("max_steps" in o for o in runs["baseline"].overrides + runs["english.translated"].overrides)


def _demo(name: str, tmp_path, ranks: int = 1):
    spec = sweep.load_spec(os.path.join(STUDIES, f"{name}.toml"))
    return demo_spec(spec, build_table(DemoConfig, spec.demo, "demo"), str(tmp_path), ranks)


def test_demo_runs_each_synthetic_training_once(tmp_path):
    spec, notes = _demo("diverse_tasks_robustness", tmp_path)
    assert [s.name for s in spec.settings] == ["baseline", "synth_nli", "synth_qa", "synth_mc", "synth_ccg", "multitask"]
    assert spec.settings[-1].tasks == ["synth_nli", "synth_qa", "synth_mc", "synth_ccg"]
    assert "mnli runs as synth_nli in the demo (same synthetic training)" in notes
    assert spec.sweep.launcher == "single" and spec.sweep.seeds == [1, 2]
    assert _demo("diverse_tasks_robustness", tmp_path, 2)[0].sweep.launcher == "deepspeed"


def test_demo_maps_translations_chains_and_contrasts(tmp_path):
    spec, notes = _demo("multilingual_robustness", tmp_path)
    by = {s.name: s for s in spec.settings}
    assert {"synth_nli@de", "synth_nli@fr", "synth_nli@sw", "synth_qa@de"} <= set(by["translated"].tasks)
    assert not any("@zh" in t or "@ar" in t for t in by["translated"].tasks)  # no such language in the suite
    assert not any(t.startswith(("synth_mc@", "synth_ccg@")) for t in by["translated"].tasks)  # not translated
    assert by["english.translated"].recipe.endswith("demo_study_chain.toml")
    assert any("phases.first.tasks" in o for o in by["english.translated"].overrides)
    assert spec.sweep.compute_reference == "english"
    spec, _ = _demo("mbert_nli_vs_qa", tmp_path)
    (c,) = spec.contrasts
    assert c.plus == ["synth_nli"] and c.minus == ["synth_qa", "synth_mc"]
    spec, notes = _demo("source_language_alignment", tmp_path)
    assert [s.name for s in spec.settings] == ["baseline", "mnli", "synth_nli@de", "synth_nli@fr", "synth_nli@sw"]
    assert any("mnli@zh is left out" in n for n in notes)


# ---------------------------------------------------------------- robustness and alignment


def _report(drop_noise: float, drop_attack: float) -> dict:
    return {"settings": ["char_swap@0.1"], "tasks": {"xnli": {
        "languages": {"de": {"drop": {"char_swap@0.1": drop_noise}}, "fr": {"drop": {"char_swap@0.1": drop_noise + 2}}},
        "average": {"drop": {"char_swap@0.1": drop_noise + 1}}}},
        "attacks": {"char_greedy@0.2": {"xnli": {"de": {"drop": drop_attack}, "fr": {"drop": drop_attack}}}},
        "attack_averages": {"char_greedy@0.2": {"xnli": {"drop": drop_attack}}}}


def test_robustness_tables_give_the_drop_per_language_and_average():
    tables = robustness_tables(_report(3.0, 20.0))
    noise = tables["noise char_swap@0.1"]["tasks"]["xnli"]
    assert noise["metric"] == "drop" and noise["avg_metric"] == 4.0
    assert noise["languages"] == {"de": {"drop": 3.0}, "fr": {"drop": 5.0}}
    assert tables["attack char_greedy@0.2"]["tasks"]["xnli"]["avg_metric"] == 20.0


def test_the_most_robust_setting_is_named_only_below_the_baseline():
    seeds = range(1, 6)
    per_seed = {"baseline": {s: robustness_tables(_report(10.0 + s % 2, 30.0)) for s in seeds},
                "robust": {s: robustness_tables(_report(2.0 + s % 2, 31.0 + s % 2)) for s in seeds},
                "fragile": {s: robustness_tables(_report(15.0 + s % 2, 29.0)) for s in seeds}}
    extra = build_extra(per_seed, "baseline", ["baseline", "robust", "fragile"], 5)
    noise, attack = extra["noise char_swap@0.1"], extra["attack char_greedy@0.2"]
    assert noise["higher_is_better"] is False
    assert noise["cells"]["robust"]["xnli"]["delta"] == pytest.approx(-8.0)
    assert noise["best"]["xnli"]["setting"] == "robust"  # lowest drop, interval below 0
    # under the attack 'fragile' drops 1 point less on every seed: that is below the baseline too
    assert attack["best"]["xnli"]["setting"] == "fragile"
    per_seed["fragile"] = per_seed["baseline"]  # equal to the baseline: never named
    del per_seed["robust"]
    same = build_extra(per_seed, "baseline", ["baseline", "fragile"], 5)["noise char_swap@0.1"]
    assert same["best"]["xnli"] == {"setting": None, "why": "no setting beats the baseline by more than its 95% interval"}
    assert "most robust intermediate | none" in to_markdown(same)


def test_a_setting_below_the_baseline_is_never_named_best():
    res = lambda v: {"tasks": {"xnli": {"metric": "accuracy", "languages": {"de": {"accuracy": v}},  # noqa: E731
                                        "avg_metric": v}}}
    per_seed = {"baseline": {s: res(60.0 + s) for s in range(1, 4)}, "worse": {s: res(58.0 + s) for s in range(1, 4)}}
    grid = build_grid({k: aggregate_runs(list(v.values())) for k, v in per_seed.items()}, "baseline",
                      ["baseline", "worse"], 3, per_seed)
    assert grid["cells"]["worse"]["xnli"]["delta"] == pytest.approx(-2.0)
    assert grid["best"]["xnli"]["setting"] is None


def test_alignment_tables_have_one_column_per_layer():
    report = {"task": "tatoeba", "languages": {
        "de": {"per_layer": [{"layer": 0, "accuracy": 10.0, "cos_gap": 0.1, "cka": 0.5},
                             {"layer": 1, "accuracy": 30.0, "cos_gap": 0.2, "cka": 0.6}]},
        "fr": {"per_layer": [{"layer": 0, "accuracy": 20.0, "cos_gap": 0.3, "cka": 0.7},
                             {"layer": 1, "accuracy": 50.0, "cos_gap": 0.4, "cka": 0.8}]}}}
    tables = alignment_tables(report)
    acc = tables["alignment accuracy"]["tasks"]
    assert list(acc) == ["tatoeba L0", "tatoeba L1"]
    assert acc["tatoeba L1"]["avg_metric"] == 40.0 and acc["tatoeba L1"]["languages"]["fr"] == {"accuracy": 50.0}
    assert set(tables) == {"alignment accuracy", "alignment cos_gap", "alignment cka"}


def test_report_aggregates_robustness_beside_the_scores(tmp_path, capsys):
    import json

    from eval.report import main
    from eval.results import build_results, write_results

    for seed, drop in ((1, 3.0), (2, 5.0)):
        run = tmp_path / f"seed{seed}"
        write_results(build_results({"xnli": {"de": {"accuracy": 70.0 + seed}}}), str(run))
        with open(run / "robustness.json", "w") as f:
            json.dump(_report(drop, 20.0 + seed), f)
    assert main([str(tmp_path / "seed1"), str(tmp_path / "seed2")], str(tmp_path / "report")) == 0
    out = capsys.readouterr().out
    assert "noise char_swap@0.1: xnli 5.00 ± 1.41 (n=2)" in out
    assert "attack char_greedy@0.2: xnli 21.50 ± 0.71 (n=2)" in out
    with open(tmp_path / "report" / "results.json") as f:
        extra = json.load(f)["extra"]
    assert extra["noise char_swap@0.1"]["tasks"]["xnli"]["languages"]["de"]["drop"]["mean"] == 4.0


def test_model_dropout_overrides_the_encoders_config(tmp_path):
    from trainer.config import ConfigError, ModelConfig, load
    from trainer.model.build import build_model
    from trainer.model.multitask import HeadSpec

    tiny = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
            "vocab_size": 50, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
    heads, tasks = {"nli": HeadSpec("classification", 3, ["a", "b", "c"])}, {"mnli": "nli"}
    kept = build_model(ModelConfig(name="", init_config=tiny), heads, tasks)
    assert kept.encoder.config.hidden_dropout_prob == 0.1
    off = build_model(ModelConfig(name="", init_config=tiny, dropout=0.0), heads, tasks)
    assert off.encoder.config.hidden_dropout_prob == 0.0 and off.encoder.config.attention_probs_dropout_prob == 0.0
    off.encoder.save_pretrained(str(tmp_path / "enc"))  # from a folder too (a pretrained export)
    again = build_model(ModelConfig(name=str(tmp_path / "enc"), dropout=0.2), heads, tasks)
    assert again.encoder.config.hidden_dropout_prob == 0.2
    demo = os.path.join(h.ROOT, "trainer", "recipes", "demo_study.toml")
    assert load(demo).model.dropout == 0.0 and load(demo).deepspeed.micro_batch == 16
    with pytest.raises(ConfigError, match="model.dropout"):
        load(demo, ["model.dropout=1.5"])


def test_alignment_fractions_print_with_three_decimals_and_scores_with_one():
    """Cosine gap and CKA lie in [0, 1]: one decimal would print 0.1 ± 0.0 for every setting."""
    def report(gap: float) -> dict:
        return {"task": "tatoeba", "languages": {"de": {"per_layer": [
            {"layer": 1, "accuracy": 40.0 + 100 * gap, "cos_gap": gap, "cka": 0.5}]}}}
    per_seed = {"baseline": {1: alignment_tables(report(0.1230)), 2: alignment_tables(report(0.1270))},
                "mnli": {1: alignment_tables(report(0.1421)), 2: alignment_tables(report(0.1479))}}
    extra = build_extra(per_seed, "baseline", ["baseline", "mnli"], 2)
    gap = to_markdown(extra["alignment cos_gap"])
    assert "| **baseline** (baseline) | 0.125 ± 0.003 | 0.125 |" in gap, gap
    assert "| mnli | 0.145 ± 0.004 (+0.020 [" in gap, gap
    acc = to_markdown(extra["alignment accuracy"])
    assert "| **baseline** (baseline) | 52.5 ± 0.3 | 52.5 |" in acc, acc
