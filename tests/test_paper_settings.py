"""The XLM-R Large recipes carry the paper's target settings (jiant's X-STILTs scripts), the dry
run shows every phase and task at a glance, and early stopping on the English dev score stops a
run `patience` evaluations after its best step and exports that best step."""
from __future__ import annotations

import json
import os

import pytest

from tests import helpers as h
from trainer import config
from trainer.commands.common import load_config
from trainer.commands.dryrun import dry_run
from trainer.config import ConfigError, max_length_for, phase_global_batch

RECIPES = os.path.join(h.ROOT, "trainer", "recipes")
PAPER_EPOCHS = {"xnli": 2, "pawsx": 5, "udpos": 10, "panx": 10, "xquad": 2, "mlqa": 2, "tydiqa": 2}


@pytest.mark.parametrize("name", ["xlmr_large_multitask", "xlmr_large_baseline", "xlmr_large_translated",
                                  "xlmr_large_squad_mnli", "xlmr_large_mlm_cotrain"])
def test_xlmr_large_recipes_resolve_to_the_paper_target_settings(name):
    cfg = load_config(os.path.join(RECIPES, f"{name}.toml"), [])
    target = next(p for p in cfg.phases if p.name == "target")
    for task in target.tasks:
        assert target.task_epochs[task] == PAPER_EPOCHS[task], task
        qa = task in ("xquad", "mlqa", "tydiqa")
        assert phase_global_batch(cfg, target, [task]) == (16 if qa else 32), task
        assert max_length_for(cfg, task, "span" if qa else "classification") == (384 if qa else 256), task
    assert max_length_for(cfg, "tatoeba", "retrieval") == 512 == max_length_for(cfg, "bucc2018", "retrieval")
    ev = cfg.eval
    assert (ev.every, ev.dev_subset, ev.patience, ev.select_best) == (1000, 500, 30, True)
    assert cfg.optim.lr == 1e-5 and target.selection
    assert all(not p.selection for p in cfg.phases if p.name != "target" and p.tasks)


def test_dry_run_prints_every_phase_and_task_with_its_settings():
    cfg = load_config(os.path.join(RECIPES, "xlmr_large_multitask.toml"), [])
    text = dry_run(cfg, 8)
    table = text[text.index("Every phase and task"):text.index("DeepSpeed config after")]
    rows = {tuple(line.split()[:2]): line.split() for line in table.splitlines()[2:] if line.strip()}
    assert rows[("target/xnli", "xnli")][2:6] == ["2", "24544", "32", "256"]  # 392,702 / 32 x 2
    assert rows[("target/pawsx", "pawsx")][2] == "5"
    assert rows[("target/squad_v1", "xquad")][4:6] == ["16", "384"]
    assert rows[("target/tydiqa", "tydiqa")][2:6] == ["2", "462", "16", "384"]  # 3,696 / 16 x 2
    bucc = next(line for line in table.splitlines() if "bucc2018 (retrieval)" in line)
    assert bucc.split()[6] == "512"
    assert "best" in " ".join(rows[("target/xnli", "xnli")]) and "stop after 30" in table
    assert " ".join(rows[("intermediate", "mnli")]).endswith("last step")


@pytest.mark.parametrize("override, message", [
    (["eval.every=0", "eval.patience=3"], "eval.patience = 3 stops on the English dev score: it needs eval.every > 0"),
    (["eval.select_best=false"], "and eval.select_best = true"),
    (["eval.dev_subset=-1"], "eval.dev_subset: expected 0 or more"),
    (['data.task_max_length={"xnlii": 64}'], "data.task_max_length.xnlii: unknown task"),
    (['data.task_max_length={"xnli": true}'], "data.task_max_length.xnli: expected a number of tokens"),
    (['phases.0.task_batch={"mnli": 16}'], "phases.0.task_batch: only a per-task phase"),
    (['phases.1.task_batch={"squad_v3": 16}'], "phases.1.task_batch.squad_v3: unknown task"),
    (['phases.1.task_epochs={"xnli": 0}'], "phases.1.task_epochs.xnli: expected a positive number of epochs"),
])
def test_selection_and_per_task_settings_are_checked(override, message):
    with pytest.raises(ConfigError, match=message):
        config.load(os.path.join(RECIPES, "xlmr_large_multitask.toml"), override)


def inverted_dev(ws: h.Workspace) -> None:
    """Dev pairs are training pairs with another label: the more the model learns, the worse
    its dev score, so the dev score peaks within the first steps."""
    rows = open(os.path.join(ws.data, "xnli", "train-en.tsv")).read().splitlines()
    labels = ["entailment", "neutral", "contradiction"]
    flipped = [f"{a}\t{b}\t{labels[(labels.index(y) + 1) % 3]}" for a, b, y in (r.split("\t") for r in rows[:24])]
    h.write_text(os.path.join(ws.data, "xnli", "dev-en.tsv"), "\n".join(flipped) + "\n")


@pytest.mark.slow
def test_early_stopping_stops_after_patience_and_exports_the_best_step(tmp_path):
    ws = h.make_workspace(str(tmp_path), steps=30)
    inverted_dev(ws)
    out = str(tmp_path / "run")
    extra = ["--eval.every=1", "--eval.patience=3", "--eval.select_best=true", "--eval.dev_subset=20",
             "--checkpoint.every=0", "--optim.lr=3e-3", "--optim.warmup_ratio=0.0"]
    r = h.run(h.train_cmd("single", ws.recipe, out, ranks=1, extra=extra), out + ".log", timeout=300)
    assert r.rc == 0, r.tail()
    dev = {row["step"]: row["dev/xnli/en/accuracy"] for row in h.metric_rows(out) if "dev/xnli/en/accuracy" in row}
    steps = sorted(dev)
    best = max(steps, key=lambda s: (dev[s], -s))  # the first step with the highest score
    stop = next(s for s in steps if s > best and len([t for t in steps if best < t <= s]) == 3)
    assert steps[-1] == stop < 30, (dev, best)  # three evaluations without a new best, then stop
    assert f"early stop at step {stop} of 30" in r.output
    meta = json.load(open(os.path.join(out, "inter", "export", "xstilts.json")))
    assert meta["step"] == best and int(meta["checkpoint"].rsplit("_", 1)[-1]) == best
    assert meta["best_score"] == pytest.approx(dev[best])


def test_the_dev_subset_is_the_first_examples(tmp_path):
    from trainer.data.load import load_examples
    from trainer.tasks import get_task

    ws = h.make_workspace(str(tmp_path))
    cfg = config.load(ws.recipe, [f"data.cache_dir={tmp_path / 'cache'}"])
    full = load_examples(get_task("xnli"), "validation", "en", cfg)
    first = load_examples(get_task("xnli"), "validation", "en", cfg, limit=5)
    assert list(first["text_a"]) == list(full["text_a"])[:5]
