"""`xstilts train RECIPE --dry-run`: validate a recipe end to end without weights or data.

Checks every task name, the phase graph, the DeepSpeed JSON after filling its "auto" keys, and
the batch arithmetic for the given world size; prints the runs the recipe would launch.
"""
from __future__ import annotations

import json

from trainer.config import (Config, ConfigError, batch_arithmetic, max_length_for, micro_batch_for,
                            phase_global_batch, phase_lr, pair_lengths)
from trainer.config.phases import plan_runs
from trainer.engine.build import fill_ds_config, load_ds_json
from trainer.tasks import get_task
from trainer.tasks.base import RetrievalTask
from trainer.training.loop import total_steps


def dry_run(cfg: Config, world_size: int) -> str:
    lines = [f"recipe ok: run {cfg.run.name!r} -> {cfg.run.out}",
             f"model: {cfg.model.name or f'{cfg.model.arch} from config {cfg.model.init_config}'}",
             f"world size {world_size}, precision {cfg.deepspeed.precision}, "
             f"DeepSpeed config {cfg.deepspeed.config}"]
    if not cfg.phases:
        raise ConfigError("the recipe has no [[phases]]")
    ds_json = load_ds_json(cfg.deepspeed.config)
    exports = {"pretrained": "pretrained"}
    filled = None
    table = [("phase", "task", "epochs", "steps", "global batch", "max length", "lr", "selection")]
    for phase in cfg.phases:
        for name in phase.tasks:
            get_task(name)
        for name in phase.retrieval:
            if not isinstance(get_task(name), RetrievalTask):
                raise ConfigError(f"phases.{phase.name}.retrieval: {name} is not a retrieval task")
        runs = plan_runs(cfg, phase, exports)
        stages = {r.export_dir: r.name for r in runs if r.stage_of}  # a target run starts from its stage
        for run in runs:
            if not run.tasks:
                what = "passes its starting point on" if run.export_dir == run.init else "exports its starting point"
                lines.append(f"phase {run.name}: no training, {what} ({phase.init})"
                             f"{', retrieval ' + str(phase.retrieval) if phase.retrieval else ''}")
                continue
            gb = phase_global_batch(cfg, run.phase, [t.name for t in run.tasks])
            micro = micro_batch_for(cfg.deepspeed.micro_batch, gb, world_size)
            accum = batch_arithmetic(gb, micro, world_size)
            sizes = {t.name: train_size(cfg, t) for t in run.tasks}
            # a fixed-rate task (an MLM corpus) does not set the length: its size may stay unknown
            known = all(v for t, v in sizes.items() if t not in cfg.sampler.fixed)
            steps = total_steps(run.phase, sizes, gb, cfg.sampler.fixed) if known or phase.max_steps else 1000
            filled = fill_ds_config(ds_json, cfg, lr=phase_lr(cfg, run.phase), global_batch=gb,
                                    world_size=world_size, total_steps=steps, device="cuda",
                                    path=cfg.deepspeed.config)
            start = stages.get(run.init, phase.init)
            lines.append(f"phase {run.name}: init {start}, tasks {[t.name for t in run.tasks]}"
                         f"{' + scored ' + str([t.name for t in run.eval_tasks]) if run.eval_tasks else ''}, "
                         f"{steps}{'' if known or phase.max_steps else ' (assumed; sizes unknown)'} steps, "
                         f"global batch {gb} = {micro} x {accum} x {world_size}, "
                         f"lr {phase_lr(cfg, run.phase):g}"
                         f"{', then zero-shot on all languages' if run.phase.evaluate else ''}"
                         f"{', retrieval ' + str([t.name for t in run.retrieval]) + ' from its export' if run.retrieval else ''}"
                         f"{f', trained before {run.stage_of}' if run.stage_of else ''}"
                         f"{', retrieval ' + str(phase.retrieval) if phase.retrieval else ''}")
            table += _rows(cfg, run.phase, run, steps if known or phase.max_steps else None, gb)
        for name in phase.retrieval:
            task = get_task(name)
            table.append((phase.name, f"{name} (retrieval)", "-", "-", "-",
                          str(max_length_for(cfg, name, task.kind)), "-", "-"))
        exports[phase.name] = "export"
    lines += ["", "Every phase and task (compare with the paper's settings, docs/paper.md):", _format(table)]
    if filled is None:
        return "\n".join(lines)
    lines.append("DeepSpeed config after filling (last run):")
    lines.append(json.dumps(filled, indent=2))
    return "\n".join(lines)


def _rows(cfg: Config, phase, run, steps: int | None, gb: int) -> list[tuple]:
    """One row per task of a run (tasks scored with its export share its settings)."""
    ev = cfg.eval
    if ev.every > 0 and phase.selection:
        subset = f"first {ev.dev_subset}" if ev.dev_subset else "all"
        rule = (f"en dev ({subset}) every {ev.every}" + (f", stop after {ev.patience} without gain" if ev.patience else "")
                + (", best" if ev.select_best else ", last"))
    else:
        rule = "last step"
    epochs = f"{phase.max_steps} steps" if phase.max_steps else f"{phase.epochs:g}"
    rows = []
    for t in run.tasks + run.eval_tasks:
        rows.append((run.name, t.name if t in run.tasks else f"{t.name} (scored)", epochs,
                     "?" if steps is None else str(steps), str(gb), _length(cfg, t),
                     f"{phase_lr(cfg, phase):g}", rule))
    return rows


def _length(cfg: Config, task) -> str:
    """The max length column: query/candidate for a dual encoder (a trained retrieval task)."""
    if task.kind == "retrieval":
        return "/".join(str(n) for n in pair_lengths(cfg, task))
    return str(max_length_for(cfg, task.name, task.kind))


def _format(rows: list[tuple]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def train_size(cfg: Config, task) -> int:
    if cfg.data.max_train_examples:
        return min(cfg.data.max_train_examples, task.train_size or cfg.data.max_train_examples)
    return task.train_size or 0
