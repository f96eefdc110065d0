"""`xstilts train RECIPE`: parse the recipe -> rendezvous -> run every phase -> close, in
``finally``. ``--dry-run`` validates without weights or data; ``--help-config`` prints every key;
``--launcher slurm`` submits the run as Slurm jobs instead (submit.py).

Under Slurm the ranks handle SIGUSR1 (time limit near) and SIGTERM (scancel) by stopping after
a checkpoint (runtime/preempt.py; cli.py installs the handlers before this module's imports); a
requeued job (``SLURM_RESTART_COUNT`` > 0) resumes."""
from __future__ import annotations

import logging

from trainer.commands.common import check_output_dir, dry_run_world_size, finish_run, load_config, start_run
from trainer.commands.dryrun import dry_run
from trainer.commands.slurm_jobs import world_size
from trainer.commands.submit import flag_overrides, submit_run
from trainer.config import describe
from trainer.data.tokenizer import load_tokenizer
from trainer.errors import USER_ERRORS, UserError, user_error_in
from trainer.runtime import dist, slurm
from trainer.runtime.logs import setup_logging
from trainer.training.pipeline import run_pipeline

log = logging.getLogger("xstilts.train")


def submit(args, overrides: list[str]) -> int:
    """``--launcher slurm``: the recipe checked for the job's world size, then its batch
    scripts printed (``--dry-run``) or submitted."""
    overrides = [*overrides, *flag_overrides(args)]
    cfg = load_config(args.recipe, overrides, args.out)
    try:
        dry_run(cfg, world_size(cfg.slurm))
    except USER_ERRORS as err:
        raise UserError(str(err)) from None
    submit_run(cfg, args.recipe, overrides, args.dry_run)
    return 0


def run(args, overrides: list[str]) -> int:
    """Config -> rendezvous -> the phase pipeline -> results; trackers and process groups closed in
    ``finally``."""
    if getattr(args, "launcher", None) == "slurm" and not args.help_config:
        return submit(args, overrides)
    cfg = load_config(args.recipe, overrides, args.out)
    if args.help_config:
        print(describe(cfg), end="")
        return 0
    if args.resume:
        cfg.checkpoint.resume = True
    world = dry_run_world_size(args.world_size, args.hostfile)
    if args.dry_run:
        try:
            print(dry_run(cfg, world))
        except USER_ERRORS as err:
            raise UserError(str(err)) from None
        return 0
    info = dist.discover()
    setup_logging(info.rank)
    note = slurm.lone_process_note()
    if note:
        log.warning(note)
    if slurm.restart_count():
        log.info("Slurm restart %d of job %s: resuming from the latest checkpoints",
                 slurm.restart_count(), slurm.job_id())
        cfg.checkpoint.resume = True
    check_output_dir(cfg.run.out)
    dist.init(info, cfg.deepspeed.backend, cfg.deepspeed.timeout_s, cfg.deepspeed.cpu_shm_comm)
    tracker = None
    try:
        tracker = start_run(cfg, info)
        tokenizer = load_tokenizer(cfg, info)
        results = run_pipeline(cfg, info, tracker, tokenizer)
        finish_run(cfg, info, tracker, results)
    except Exception as err:
        cause = user_error_in(err)
        if cause is None:
            raise
        raise UserError(f"rank {info.rank}: {cause}") from None
    finally:
        if tracker is not None:
            tracker.close()
        dist.shutdown()
    return 0
