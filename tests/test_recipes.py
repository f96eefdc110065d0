"""Every shipped recipe stays valid: `xstilts train RECIPE --dry-run` succeeds for several world
sizes, and the paper's recipes keep the paper's shape."""
import glob
import os
import subprocess
import sys

import pytest

from trainer.commands.common import load_config
from trainer.commands.dryrun import dry_run
from trainer.config import phase_global_batch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = sorted(glob.glob(os.path.join(ROOT, "trainer", "recipes", "*.toml")))
NINE = {"anli_plus", "mnli", "qqp", "sst2", "squad_v2", "hellaswag", "cosmosqa", "commonsenseqa", "ccg"}
TARGETS = {"xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa"}


@pytest.mark.parametrize("recipe", RECIPES, ids=os.path.basename)
@pytest.mark.parametrize("world", [1, 2, 8])
def test_recipe_dry_run(recipe, world):
    cfg = load_config(recipe, [])
    batches = {phase_global_batch(cfg, p, [t]) for p in cfg.phases for t in p.tasks or [""]}
    for gb in sorted(batches):
        micro = cfg.deepspeed.micro_batch or gb // world  # 0: auto
        if not micro or gb % (micro * world):
            pytest.skip(f"a global batch of {gb} does not split over {world} ranks")
    out = dry_run(cfg, world)
    assert out.startswith("recipe ok")
    assert "auto" not in out.split("DeepSpeed config after filling")[-1]


def test_multitask_recipe_is_the_papers():
    cfg = load_config(os.path.join(ROOT, "trainer", "recipes", "xlmr_large_multitask.toml"), [])
    assert cfg.model.name == "xlm-roberta-large" and cfg.model.retrieval_layer == 14
    inter, target = cfg.phases
    assert set(inter.tasks) == NINE and cfg.sampler.kind == "proportional"
    assert set(inter.retrieval) == {"bucc2018", "tatoeba"}
    assert target.init == "intermediate" and target.per_task and target.evaluate
    assert set(target.tasks) == TARGETS
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.warmup_ratio, cfg.optim.clip) == (1e-5, 0.01, 0.1, 1.0)
    assert cfg.deepspeed.precision == "bf16" and "zero2" in cfg.deepspeed.config
    # the paper's batch of 32, in one pass per rank per step (micro-batch auto)
    assert cfg.deepspeed.global_batch == 32 and cfg.deepspeed.micro_batch == 0
    assert "global batch 32 = 32 x 1 x 1" in dry_run(cfg, 1) and "global batch 32 = 4 x 1 x 8" in dry_run(cfg, 8)


@pytest.mark.slow
def test_dry_run_cli_reports_bad_world_size():
    recipe = os.path.join(ROOT, "trainer", "recipes", "xlmr_large_multitask.toml")
    p = subprocess.run([sys.executable, "-m", "trainer.cli", "train", recipe, "--dry-run", "--world-size", "3"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2
    assert "micro_batch = 0 (auto) needs a global batch divisible by the world size: 32 over 3 ranks" in p.stderr


def recipe(name: str):
    return load_config(os.path.join(ROOT, "trainer", "recipes", name), [])


def test_follow_up_recipes_keep_their_shape():
    cfg = recipe("xlmr_large_mlm_cotrain.toml")
    assert set(cfg.phases[0].tasks) == NINE | {"mlm"} and cfg.sampler.fixed == {"mlm": 0.2}
    cfg = recipe("xlmr_large_translated.toml")
    assert cfg.phases[0].tasks[0] == "mnli" and len(cfg.phases[0].tasks) == 15
    assert all(t.startswith("mnli@") for t in cfg.phases[0].tasks[1:])
    squad, mnli, target = recipe("xlmr_large_squad_mnli.toml").phases
    assert (squad.tasks, mnli.tasks, mnli.init, target.init) == (["squad_v2"], ["mnli"], "squad", "intermediate")
    for name, model, arch in (("mbert_multitask.toml", "bert-base-multilingual-cased", "bert"),
                              ("xlmr_base_multitask.toml", "xlm-roberta-base", "xlm-roberta")):
        cfg = recipe(name)
        assert (cfg.model.name, cfg.model.arch, cfg.model.retrieval_layer) == (model, arch, 8)
        assert set(cfg.phases[0].tasks) == NINE and set(cfg.phases[1].tasks) == TARGETS
