"""What every command shares: the recipe loaded with its overrides and paths resolved, the
run folder checked, and a run's start and finish (resolved config, trackers, hyperparameters
with the headline scores)."""
from __future__ import annotations

import json
import os

from trainer import config
from trainer.errors import ConfigError, HostfileError, UserError
from trainer.runtime.hostfile import parse_hostfile
from trainer.runtime.hostfile import world_size as slots
from trainer.runtime.tracking import build_tracker, flatten

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_RECIPE = os.path.join(ROOT, "trainer", "recipes", "demo.toml")


def load_config(recipe: str, overrides: list[str], out: str | None = None):
    extra = [f"run.out={out}"] if out else []
    try:
        cfg = config.load(recipe, list(overrides) + extra)
    except ConfigError as err:
        raise UserError(str(err)) from None
    return resolve_paths(cfg, os.path.dirname(os.path.abspath(recipe)))


def resolve_paths(cfg, recipe_dir: str):
    """``{out}`` in paths means the run folder; relative engine-config paths are looked up in
    the working directory, then beside the recipe, then in the project root."""
    for section, key in (("data", "root"), ("data", "cache_dir"), ("model", "tokenizer"),
                         ("model", "name")):
        obj = getattr(cfg, section)
        setattr(obj, key, getattr(obj, key).replace("{out}", cfg.run.out))
    path = cfg.deepspeed.config
    if not os.path.isabs(path) and not os.path.isfile(path):
        for base in (recipe_dir, ROOT):
            if os.path.isfile(os.path.join(base, path)):
                cfg.deepspeed.config = os.path.join(base, path)
                break
    return cfg


def dry_run_world_size(world_size: int | None, hostfile: str | None) -> int:
    """--world-size, else the hostfile's total slots, else 1; a hostfile is validated first."""
    if hostfile is None:
        return world_size or 1

    try:
        total = slots(parse_hostfile(hostfile))
    except HostfileError as err:
        raise UserError(str(err)) from None
    if world_size is not None and world_size != total:
        raise UserError(f"--world-size {world_size} disagrees with {hostfile} ({total} slots)")
    return total


def check_output_dir(out: str) -> None:
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, f".write-test-{os.getpid()}")
        open(probe, "w").close()
        os.remove(probe)
    except OSError as err:
        raise UserError(f"run folder {out} is not writable: {err.strerror}") from None


def start_run(cfg, info):
    """Tracker on rank 0 (no-op elsewhere); resolved config into the run folder and TensorBoard."""
    tracker = build_tracker(cfg.tracking.tensorboard, os.path.join(cfg.run.out, "tb"), info.is_main,
                            os.path.join(cfg.run.out, "metrics.jsonl"))
    if info.is_main:
        config.dump(cfg, os.path.join(cfg.run.out, "config.json"))
        resolved = json.dumps(config.to_dict(cfg), indent=2)
        tracker.text("config", resolved)
    return tracker


def finish_run(cfg, info, tracker, results: dict) -> None:
    """The recipe's hyperparameters with the run's headline scores, for TensorBoard's HPARAMS
    tab (written once, at the end, so that the scores sit beside the settings)."""
    if not info.is_main:
        return
    tree = config.to_dict(cfg)
    hp = {k: v for k, v in flatten(tree).items() if not k.startswith("phases")}
    hp["phases"] = json.dumps([p["name"] for p in tree["phases"]])
    hp["world_size"] = info.world_size
    metrics = {f"results/{task}/{entry['metric']}": entry["avg_metric"]
               for task, entry in results.get("tasks", {}).items()}
    if results.get("xtreme_score") is not None:
        metrics["results/xtreme_score"] = results["xtreme_score"]
    tracker.hparams(hp, metrics)
