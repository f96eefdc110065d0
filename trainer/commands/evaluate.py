"""`xstilts evaluate`: the separate distributed evaluator, launched on its own on any number of
ranks (deepspeed launcher, torchrun, mpirun or one plain process; no DeepSpeed engine). A run
folder means the final exports its recipe's plan names; an export folder is scored on the tasks
its heads serve (or ``--tasks``). ``--watch RUN_DIR`` scores each export as training writes it
(trainer/evaluation/watch.py).

Writes into ``--out``: results.json/csv/md, heatmap.png, predictions/<task>/test-<lang>.*,
tb/ (``eval/<task>/<lang>/<metric>`` at each export's step) and eval_stats.json (per export: the
ranks' busy times, items, planned costs and the balance).
"""
from __future__ import annotations

import os
import sys
import time

from trainer.errors import USER_ERRORS, UserError, user_error_in
from trainer.evaluation.driver import evaluate_plan
from trainer.evaluation.plan import resolve_plan
from trainer.evaluation.watch import watch
from trainer.model.export import EXPORT_META
from trainer.runtime import dist, peers
from trainer.runtime.logs import setup_logging
from trainer.runtime.tracking import build_tracker


def wait_for_config(run_dir: str, max_idle: float, poll: float) -> None:
    """--watch may start before the training job has written its config: wait for it (every
    rank on its own: nothing is initialized yet)."""
    start = time.monotonic()
    while not os.path.isfile(os.path.join(run_dir, "config.json")):
        if max_idle > 0 and time.monotonic() - start > max_idle:
            raise FileNotFoundError(f"{run_dir}: no config.json after {max_idle:g} s (is a training "
                                    f"job writing this run folder?)")
        time.sleep(min(poll, 5.0))


def report_failure(info: dist.DistInfo, err: BaseException) -> None:
    """What failed on this rank, then which peers are alive or gone."""
    print(f"xstilts evaluate: rank {info.rank} failed: {type(err).__name__}: {err}",
          file=sys.stderr, flush=True)
    peers.mark_failed(info, err)
    if info.world_size == 1 or not dist.is_initialized():
        return
    peers.peer_report(info, f"xstilts evaluate: rank {info.rank}: ", lambda c: (
        f"rank {', '.join(c.gone)} {c.how}; the evaluation cannot finish" if c.gone else
        f"no peer failed or died before it: rank {info.rank} failed on its own"))


def run_evaluate(args) -> int:
    info = dist.discover()
    setup_logging(info.rank)
    out = args.out or os.path.join(args.target, "eval")
    if args.watch:
        if os.path.isfile(os.path.join(args.target, EXPORT_META)):
            raise UserError(f"--watch takes a run folder, not an export: {args.target}")
        if getattr(args, "perturb", None) or getattr(args, "attack", None):
            raise UserError("--watch scores clean data only; run --perturb or --attack on the finished "
                            "export (or set eval.perturb / eval.attack in the recipe for a pass at the end "
                            "of training)")
        wait_for_config(args.target, args.max_idle, args.poll)
    try:
        cfg, plan = resolve_plan(args, out)
    except USER_ERRORS as err:
        raise UserError(str(err)) from None
    dist.init(info, cfg.deepspeed.backend, cfg.deepspeed.timeout_s, cfg.deepspeed.cpu_shm_comm)
    tracker = build_tracker(cfg.tracking.tensorboard, os.path.join(out, "tb"), info.is_main)
    try:
        if args.watch:
            watch(cfg, args, out, info, tracker)
        else:
            evaluate_plan(cfg, plan, out, info, tracker)
    except Exception as err:
        report_failure(info, err)
        cause = user_error_in(err)
        if cause is not None:
            raise UserError(f"rank {info.rank}: {cause}") from None
        raise
    finally:
        tracker.close()
        dist.shutdown()
    return 0


def run(args, _overrides) -> int:
    return run_evaluate(args)
