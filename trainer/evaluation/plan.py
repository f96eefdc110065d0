"""What the evaluator scores: the plan of (export folder, tasks scored with it) from a run folder's
recipe (the same phase plan training ran) or from one export's own heads, with the command
line's restrictions (tasks, languages, split, chunk size, noise settings) applied.
"""
from __future__ import annotations

import json
import os

from eval.attack_views import ATTACKABLE_KINDS
from eval.lexicon import MUSE_NAME
from trainer.config import Config, check_attack, check_perturb, from_dict
from trainer.errors import ConfigError
from trainer.evaluation.attack import read_dictionary
from trainer.config.phases import main_runs, plan_runs
from trainer.model.export import EXPORT_META, read_export_meta
from trainer.tasks import get_task

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
            plan += [(r.export_dir, [t.name for t in r.tasks + r.eval_tasks + r.retrieval]) for r in main_runs(runs)]
        if phase.retrieval:
            plan.append((main_runs(runs)[0].export_dir, list(phase.retrieval)))
        exports[phase.name] = main_runs(runs)[0].export_dir
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
    check_attack_tasks(cfg, plan, args.tasks)
    if cfg.eval.attack.kinds and cfg.eval.attack.lexicon:
        try:  # a malformed dictionary line is refused here, naming the file and line
            read_dictionary(cfg)
        except (OSError, ValueError) as err:
            raise ConfigError(f"eval.attack.lexicon: {err}") from None
    return cfg, plan


def apply_args(cfg: Config, args) -> None:
    if args.split:
        cfg.eval.split = args.split
    if args.languages:
        cfg.eval.languages = list(args.languages)
    if getattr(args, "chunk_tokens", None) is not None:
        cfg.eval.chunk_tokens = args.chunk_tokens
    apply_perturb_args(cfg, args)
    apply_attack_args(cfg, args)


def apply_perturb_args(cfg: Config, args) -> None:
    """--perturb KIND..., --perturb-rates, --perturb-seed, --lexicon over ``eval.perturb``."""
    pc = cfg.eval.perturb
    if getattr(args, "perturb", None):
        pc.kinds = list(args.perturb)
    if getattr(args, "perturb_rates", None):
        pc.rates = list(args.perturb_rates)
    if getattr(args, "perturb_seed", None) is not None:
        pc.seed = args.perturb_seed
    concepts = [p for p in getattr(args, "lexicon", None) or [] if not MUSE_NAME.match(os.path.basename(p))]
    if concepts:  # code_switch noise reads one concept lexicon; MUSE pair files serve the attacks
        pc.lexicon = os.path.abspath(concepts[0])
    check_perturb(cfg)  # a ConfigError: one line for the user, exit 2


def apply_attack_args(cfg: Config, args) -> None:
    """--attack KIND..., --attack-budget, --attack-queries, --attack-seed, --attack-examples and
    --lexicon over ``eval.attack``; refused here, before any rank loads a model."""
    ac = cfg.eval.attack
    for flag, key in (("attack", "kinds"), ("attack_budget", "budgets"), ("lexicon", "lexicon")):
        value = getattr(args, flag, None)
        if value:
            setattr(ac, key, [os.path.abspath(v) for v in value] if key == "lexicon" else list(value))
    for flag, key in (("attack_queries", "max_queries"), ("attack_seed", "seed"), ("attack_examples", "max_examples")):
        if getattr(args, flag, None) is not None:
            setattr(ac, key, getattr(args, flag))
    check_attack(cfg)


def check_attack_tasks(cfg: Config, plan: Plan, named: list[str] | None) -> None:
    """Tasks named on the command line that an attack cannot take are refused (a recipe's
    retrieval tasks are left out of the attacks with a logged reason instead)."""
    if not cfg.eval.attack.kinds or not named:
        return
    for name in named:
        task = get_task(name)
        if task.kind not in ATTACKABLE_KINDS:
            raise ConfigError(f"--attack: task {name} (head kind {task.kind}) cannot be attacked; "
                              f"attackable head kinds: {', '.join(ATTACKABLE_KINDS)}")
