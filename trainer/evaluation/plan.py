"""What the evaluator scores: the plan of (export folder, tasks scored with it) from a run folder's
recipe (the same phase plan training ran) or from one export's own heads, with the command
line's restrictions (tasks, languages, split, chunk size, noise settings) applied.
"""
from __future__ import annotations

import json
import os

from trainer.config import Config, check_perturb, from_dict
from trainer.config.phases import plan_runs
from trainer.model.export import EXPORT_META, read_export_meta

Plan = list[tuple[str, list[str]]]  # (export folder, tasks scored with it)


def plan_from_run(run_dir: str) -> tuple[Config, Plan]:
    """(config, [(export folder, tasks scored with it)]) from a run folder's recipe."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{run_dir} is neither a run folder (no config.json) nor an export")
    with open(path) as f:
        cfg = from_dict(json.load(f))
    cfg.run.out = run_dir
    plan, exports = [], {"pretrained": "pretrained"}
    for phase in cfg.phases:
        runs = plan_runs(cfg, phase, exports)
        if phase.evaluate:
            plan += [(r.export_dir, [t.name for t in r.tasks + r.eval_tasks]) for r in runs]
        if phase.retrieval:
            plan.append((runs[0].export_dir, list(phase.retrieval)))
        exports[phase.name] = runs[0].export_dir
    return cfg, plan


def plan_from_export(export: str, tasks: list[str] | None) -> tuple[Config, Plan]:
    meta = read_export_meta(export)
    cfg = from_dict(meta["config"]) if "config" in meta else Config()
    names = tasks or [t for t in meta["task_to_head"]]
    return cfg, [(export, names)]


def resolve_plan(args, out: str) -> tuple[Config, Plan]:
    """The config and plan of ``args.target`` with the command line's restrictions applied."""
    if os.path.isfile(os.path.join(args.target, EXPORT_META)):
        cfg, plan = plan_from_export(args.target, args.tasks)
        if not cfg.data.cache_dir:  # not the training run's folder, which may be gone
            cfg.data.cache_dir = os.path.join(out, "cache")
    else:
        cfg, plan = plan_from_run(args.target)
        if args.tasks:
            plan = [(e, [t for t in ts if t in args.tasks]) for e, ts in plan]
            plan = [(e, ts) for e, ts in plan if ts]
    apply_args(cfg, args)
    return cfg, plan


def apply_args(cfg: Config, args) -> None:
    if args.split:
        cfg.eval.split = args.split
    if args.languages:
        cfg.eval.languages = list(args.languages)
    if getattr(args, "chunk_tokens", None) is not None:
        cfg.eval.chunk_tokens = args.chunk_tokens
    apply_perturb_args(cfg, args)


def apply_perturb_args(cfg: Config, args) -> None:
    """--perturb KIND..., --perturb-rates, --perturb-seed, --lexicon over ``eval.perturb``."""
    pc = cfg.eval.perturb
    if getattr(args, "perturb", None):
        pc.kinds = list(args.perturb)
    if getattr(args, "perturb_rates", None):
        pc.rates = list(args.perturb_rates)
    if getattr(args, "perturb_seed", None) is not None:
        pc.seed = args.perturb_seed
    if getattr(args, "lexicon", None):
        pc.lexicon = os.path.abspath(args.lexicon)
    check_perturb(cfg)  # a ConfigError: one line for the user, exit 2
