"""`xstilts train RECIPE`: parse the recipe -> rendezvous -> run every phase -> close, in
``finally``. ``--dry-run`` validates without weights or data; ``--help-config`` prints every key."""
from __future__ import annotations

from trainer.commands.common import check_output_dir, dry_run_world_size, finish_run, load_config, start_run
from trainer.commands.dryrun import dry_run
from trainer.config import describe
from trainer.data.tokenizer import load_tokenizer
from trainer.errors import USER_ERRORS, UserError, user_error_in
from trainer.runtime import dist
from trainer.runtime.logs import setup_logging
from trainer.training.pipeline import run_pipeline


def run(args, overrides: list[str]) -> int:
    """Config -> rendezvous -> the phase pipeline -> results; trackers and process groups closed in
    ``finally``."""
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
