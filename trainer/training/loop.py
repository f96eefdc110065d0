"""The training loop of one run (one phase, or one target group of a per-task phase).

``train()`` reads top to bottom: skip if exported, build, resume, loop, checkpoint, export.
Policy lives in small predicates (``should_log``, ``should_eval``, ``should_save``); what a
checkpoint carries and how a run resumes and exports lives in state.py.
"""
from __future__ import annotations

import logging
import math
import os
import time

import torch

from eval.results import build_results
from trainer.config import Config, PhaseConfig, phase_global_batch, phase_lr
from trainer.config.phases import PhaseRun
from trainer.data.feeder import Feeder, prefetch_depth
from trainer.data.samplers import build_sampler, phase_fixed
from trainer.data.streams import build_streams, to_device
from trainer.engine.build import build_engine, decays, fill_ds_config, load_ds_json
from trainer.evaluation.driver import evaluate_model, task_info
from trainer.model.build import build_model, prepare_model
from trainer.model.multitask import head_specs
from trainer.runtime import dist, faults, peers, preempt
from trainer.runtime.tracking import record_progress
from trainer.runtime.watchdog import Watchdog
from trainer.tasks import get_task
from trainer.tasks.base import Task
from trainer.training.state import TrainState, export, export_init, head_start, resume, save

log = logging.getLogger("xstilts.train")


class NonFiniteLoss(RuntimeError):
    """Too many consecutive non-finite steps (deepspeed.max_nonfinite_steps)."""


def total_steps(phase: PhaseConfig, sizes: dict[str, int], global_batch: int,
                fixed: dict[str, float] | None = None) -> int:
    """Steps of a phase: ``max_steps``, else ``epochs`` passes over the tasks' data. Tasks at a
    fixed rate (an MLM corpus of any size) do not lengthen the phase: they take their share of
    the steps on top of the epochs of the others."""
    if phase.max_steps > 0:
        return phase.max_steps
    epochs = phase.epochs
    if len(sizes) == 1 and next(iter(sizes)) in phase.task_epochs:
        epochs = float(phase.task_epochs[next(iter(sizes))])
    fixed = phase_fixed(sizes, fixed or {})
    counted = sum(n for t, n in sizes.items() if t not in fixed)
    share = 1.0 - sum(fixed.values())
    if not counted or share <= 0:
        counted, share = sum(sizes.values()), 1.0
    return max(1, math.ceil(epochs * counted / global_batch / share))


def should_log(step: int, cfg: Config, last: bool) -> bool:
    return last or step % max(cfg.run.log_every, 1) == 0


def should_eval(step: int, cfg: Config, last: bool, phase: PhaseConfig | None = None) -> bool:
    if phase is not None and not phase.selection:
        return False
    return cfg.eval.every > 0 and (last or step % cfg.eval.every == 0)


def should_stop(state: TrainState, cfg: Config) -> bool:
    return cfg.eval.patience > 0 and state.bad_evals >= cfg.eval.patience


def should_save(step: int, cfg: Config, last: bool) -> bool:
    return last or (cfg.checkpoint.every > 0 and step % cfg.checkpoint.every == 0)


class Meter:
    """Per-task loss sums kept on the device; read (one sync) only at log steps."""

    def __init__(self):
        self.loss: dict[str, torch.Tensor] = {}
        self.count: dict[str, int] = {}
        self.tokens = self.samples = 0
        self.t0 = time.perf_counter()

    def add(self, task: str, loss: torch.Tensor, tokens: int, samples: int) -> None:
        self.loss[task] = self.loss.get(task, 0) + loss.detach().float()
        self.count[task] = self.count.get(task, 0) + 1
        self.tokens += tokens
        self.samples += samples

    def flush(self, tasks: list[str]) -> dict[str, float]:
        vals = [float(self.loss.get(t, 0)) for t in tasks] + [self.count.get(t, 0) for t in tasks]
        vals += [self.tokens, self.samples]
        tot = dist.all_reduce_sum(vals)
        k = len(tasks)
        dt = max(time.perf_counter() - self.t0, 1e-9)
        out = {f"train/loss/{t}": tot[i] / tot[k + i] for i, t in enumerate(tasks) if tot[k + i]}
        out["perf/tokens_per_sec"] = tot[2 * k] / dt
        out["perf/samples_per_sec"] = tot[2 * k + 1] / dt
        self.__init__()
        return out


def train(cfg: Config, run: PhaseRun, info: dist.DistInfo, tracker, tokenizer) -> str:
    """Train ``run`` and return its export folder (skipped if the export already exists)."""
    if os.path.isfile(os.path.join(run.export_dir, "xstilts.json")):
        log.info("[%s] export exists, skipping: %s", run.name, run.export_dir)
        return run.export_dir
    if not run.tasks:  # nothing to train: export the starting point (retrieval from it)
        return export_init(cfg, run, tokenizer, info)
    for task in run.tasks + run.eval_tasks:
        if hasattr(task, "load_labels"):  # tag sets read from licensed data (CCGbank)
            task.load_labels(cfg.data.root)
    heads, task_map = head_specs(run.tasks + run.eval_tasks, len(tokenizer))
    start = head_start(run, heads)
    model = build_model(cfg.model, heads, task_map, run.init, seed=cfg.run.seed,
                        carry_heads=run.phase.heads == "carry")
    if run.init != "pretrained":
        log.info("[%s] heads %s: %s", run.name, run.phase.heads,
                 f"carried {start['carried']} from {run.init}" if start["carried"] else "every head starts anew")
    n = prepare_model(model, cfg.model, decays)
    log.info("[%s] %d parameter tensors (model.flat_params = %s, model.flat_unit = %s, model.flat_layers = %d)",
             run.name, sum(1 for p in model.parameters() if p.requires_grad), cfg.model.flat_params,
             cfg.model.flat_unit, cfg.model.flat_layers)
    if cfg.model.compile:
        log.info("[%s] torch.compile (%s): %d encoder module(s), compiled at their first batch",
                 run.name, cfg.model.compile, n)
    global_batch = phase_global_batch(cfg, run.phase, [t.name for t in run.tasks])
    streams = build_streams(cfg, run, tokenizer, info, global_batch)
    sizes = {t.name: len(streams[t.name].lengths) for t in run.tasks}
    sampler = build_sampler({t: (run_size(cfg, run, t) or n) for t, n in sizes.items()},
                            cfg.sampler, cfg.run.seed)
    steps = total_steps(run.phase, sizes, global_batch, cfg.sampler.fixed)
    ds_cfg = fill_ds_config(load_ds_json(cfg.deepspeed.config), cfg, lr=phase_lr(cfg, run.phase),
                            global_batch=global_batch, world_size=info.world_size,
                            total_steps=steps, device=dist.device_type(), path=cfg.deepspeed.config)
    engine = build_engine(model, ds_cfg)
    # training mode (dropout on): an encoder loaded with from_pretrained (a hub model, or the
    # export of an earlier phase) comes back in eval mode
    engine.train()
    state = resume(cfg, run, engine, streams, sampler, info)
    log.info("[%s] %d steps, tasks %s, probabilities %s, global batch %d (micro %d x accum %d x %d ranks)",
             run.name, steps, list(sizes), {t: round(float(p), 4) for t, p in zip(sampler.tasks, sampler.probs)},
             global_batch, ds_cfg["train_micro_batch_size_per_gpu"],
             ds_cfg["gradient_accumulation_steps"], info.world_size)
    tracker.scalars({f"train/task_prob/{t}": float(p) for t, p in zip(sampler.tasks, sampler.probs)},
                    state.step)
    meter = Meter()
    watchdog = Watchdog(cfg.deepspeed.watchdog_s, f"rank {info.rank} [{run.name}]",
                        **peers.watchdog_hooks(info))
    task_of = {t.name: t for t in run.tasks}
    cuda = engine.device.type == "cuda"
    feeder = Feeder(streams, sampler, state.step, steps, prefetch_depth(cfg.data.prefetch, engine.device.type),
                    pin_memory=cuda)
    try:
        while state.step < steps:
            faults.maybe_fail(state.step + 1, info.rank)
            name, micros = feeder.next(state.step)
            train_step(engine, name, micros, meter, state.step + 1, info.rank)
            state.step += 1
            watchdog.beat(state.step)
            last = state.step == steps
            if should_log(state.step, cfg, last):
                log_step(tracker, meter, engine, state, list(task_of), run.name, steps, cfg)
                record_progress(cfg.run.out, run.name, state.step, steps, info.is_main)
            is_best = False
            if should_eval(state.step, cfg, last, run.phase):
                is_best = dev_eval(cfg, run, engine.module, tokenizer, info, tracker, state)
            stop = dist.all_reduce_max(preempt.requested())  # every rank, every step: all agree
            if should_save(state.step, cfg, last) or is_best or stop:
                save(cfg, run, engine, feeder.stream_states(), sampler, state, info, is_best)
                faults.maybe_fail(state.step, info.rank, after_save=True)
            if stop:
                log.warning("[%s] stopping at step %d/%d on %s: checkpoint written, exit %d",
                            run.name, state.step, steps, preempt.reason(stop), stop)
                raise preempt.Stopped(stop)
            if should_stop(state, cfg):  # every rank has the same dev scores: the same decision
                log.info("[%s] early stop at step %d of %d: %d English dev evaluations without a new "
                         "best (eval.patience); best %.2f at step %d", run.name, state.step, steps,
                         state.bad_evals, state.best_score, state.best_step)
                break
    except NonFiniteLoss:
        # DeepSpeed skipped the non-finite updates, so the weights are the last good ones:
        # leave a checkpoint to resume from (save refuses if they are not finite after all).
        save(cfg, run, engine, feeder.stream_states(), sampler, state, info, False)
        raise
    except Exception as err:
        peers.report_failure(info, state.step, err, f"[{run.name}]")
        raise
    finally:
        feeder.close()
        watchdog.stop()
    export(cfg, run, engine, tokenizer, info, state)
    return run.export_dir


def train_step(engine, name: str, micros: list, meter: Meter, step: int, rank: int) -> None:
    """One optimizer step of task ``name``: forward, backward and ``engine.step()`` per micro-batch
    (DeepSpeed updates at the last one). No host synchronisation: the loss stays on the device
    until a log step reads it."""
    for micro in micros:
        loss, _ = engine(name, to_device(unmasked(micro), engine.device))
        loss = faults.poison_loss(loss, step, rank)
        engine.backward(loss)
        engine.step()
        meter.add(name, loss, micro.tokens, micro.rows)


def unmasked(micro) -> dict:
    """The micro-batch without its attention mask when no row is padded (known on the host: its
    real tokens fill the batch), so the encoder skips building the mask and transformers' test
    of it, a read of a device value at every forward. Multiple-choice rows keep it (their length
    counts choices x the longest choice, not real tokens; retrieval pairs keep both masks)."""
    batch = micro.batch
    ids = batch.get("input_ids")
    if ("attention_mask" not in batch or ids is None or ids.dim() != 2 or micro.tokens != ids.numel()
            or "cand_input_ids" in batch):  # a dual encoder's tokens count both sides
        return batch
    return {k: v for k, v in batch.items() if k != "attention_mask"}


def run_size(cfg: Config, run: PhaseRun, task: str) -> int | None:
    """The sampler weighs tasks by their full training size when it is known (a capped demo
    subset keeps the real mix)."""
    t = next(t for t in run.tasks if t.name == task)
    return t.train_size if cfg.data.max_train_examples and t.train_size else None


def log_step(tracker, meter: Meter, engine, state: TrainState, tasks: list[str], name: str,
             steps: int, cfg: Config) -> None:
    values = meter.flush(tasks)
    values["train/lr"] = float(engine.get_lr()[0])
    norm = engine.get_global_grad_norm()
    if norm is not None:
        values["train/grad_norm"] = float(norm)
    scale = getattr(engine.optimizer, "cur_scale", None) or getattr(engine.optimizer, "loss_scale", None)
    if isinstance(scale, (int, float)):
        values["train/loss_scale"] = float(scale)
    values["train/skipped_steps"] = float(getattr(engine, "skipped_steps", 0))
    tracker.scalars(values, state.step)
    losses = " ".join(f"{k.split('/')[-1]}={v:.4f}" for k, v in values.items() if k.startswith("train/loss/"))
    log.info("[%s] step %d/%d %s lr=%.2e tok/s=%.0f", name, state.step, steps, losses,
             values["train/lr"], values["perf/tokens_per_sec"])
    check_finite(values, state, engine, cfg.deepspeed.max_nonfinite_steps)  # after logging: may stop


def check_finite(values: dict, state: TrainState, engine, max_steps: int) -> None:
    """Count consecutive bad steps at each log step and stop after ``max_steps`` of them.

    A step is bad when DeepSpeed skipped it (fp16 loss-scale overflow, or non-finite gradients
    in any precision: ``engine.skipped_steps``) or when the logged loss is not finite. Losses are
    read only at log steps, so a non-finite mean counts every step of its interval. The values
    are all-reduced, so every rank reaches the same decision at the same step."""
    interval = max(state.step - state.logged_step, 1)
    total = int(getattr(engine, "skipped_steps", 0))
    skipped, state.skipped, state.logged_step = total - state.skipped, total, state.step
    loss_bad = not all(math.isfinite(v) for k, v in values.items() if k.startswith("train/loss/"))
    bad = interval if loss_bad else min(skipped, interval)
    if skipped:
        log.warning("step %d: DeepSpeed skipped %d of the last %d steps (non-finite gradients or "
                    "loss-scale overflow; %d skipped in all)", state.step, skipped, interval, total)
    if bad == 0:
        state.nonfinite = 0
        return
    # a wholly bad interval extends the current run of bad steps; a partly bad one starts one
    state.nonfinite = state.nonfinite + bad if bad == interval else bad
    log.warning("non-finite loss or skipped update at step %d (%d bad steps in a row; the limit "
                "deepspeed.max_nonfinite_steps is %d)", state.step, state.nonfinite, max_steps)
    if max_steps > 0 and state.nonfinite >= max_steps:
        msg = (f"stopping at step {state.step}: {state.nonfinite} consecutive steps had a non-finite "
               f"loss or were skipped by DeepSpeed (deepspeed.max_nonfinite_steps = {max_steps}); "
               f"lower the learning rate, check the data, or resume from the checkpoint")
        log.error(msg)
        raise NonFiniteLoss(msg)


def selection_tasks(run: PhaseRun, model) -> list[Task]:
    """The tasks whose English dev sets select the run's checkpoints: each task's own, or the one
    it names (``Task.selection``), scored with the same head."""
    out = []
    for task in run.tasks:
        if task.selection:
            chosen = get_task(task.selection)
            model.task_to_head.setdefault(chosen.name, model.task_to_head[task.name])
            out.append(chosen)
        else:
            out.append(task)
    return out


def dev_eval(cfg, run, model, tokenizer, info, tracker, state: TrainState) -> bool:
    """English dev score of the run's tasks (model selection, on the first ``eval.dev_subset``
    examples of each); True when it is a new best. Evaluations without a new best are counted
    for early stopping."""
    tasks = selection_tasks(run, model)
    model.eval()
    raw = evaluate_model(cfg, model, tokenizer, tasks, info, split="dev", languages=["en"],
                         limit=cfg.eval.dev_subset)
    model.train()
    scores = build_results(raw, task_info=task_info(raw))["tasks"]
    values = [s["languages"]["en"][s["metric"]] for s in scores.values() if "en" in s["languages"]]
    if not values:
        return False
    score = sum(values) / len(values)
    tracker.scalars({f"dev/{t}/en/{s['metric']}": s["languages"]["en"][s["metric"]]
                     for t, s in scores.items() if "en" in s["languages"]}, state.step)
    if state.best_score is None or score > state.best_score:
        state.best_score, state.best_step, state.bad_evals = score, state.step, 0
        return True
    state.bad_evals += 1
    return False
