"""`xstilts demo`: the embedded default, the whole pipeline on the synthetic suite, started on
local CPU ranks (or the hosts of a hostfile) through a real launcher, or submitted to Slurm
(``--launcher slurm``: a training job of ``--ranks`` ranks per node, then its evaluator job,
waited for here)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from eval.results import load_results
from trainer.commands.common import DEMO_RECIPE, ROOT, load_config
from trainer.commands.dryrun import dry_run
from trainer.commands.launch import demo_command, launch_env
from trainer.commands.slurm_jobs import world_size
from trainer.commands.status import wait
from trainer.commands.submit import entries, flag_overrides, submit_run
from trainer.errors import USER_ERRORS, UserError


def run(args, overrides: list[str]) -> int:
    args.out = os.path.abspath(args.out)
    if args.launcher == "slurm":
        return run_slurm(args, overrides)
    load_config(DEMO_RECIPE, overrides, args.out)  # a bad override fails here, before any launch
    cmd = demo_command(args.out, args.ranks, args.launcher, extra=overrides, hostfile=args.hostfile)
    print("+", " ".join(cmd), flush=True)
    t0 = time.time()
    rc = subprocess.call(cmd, env=launch_env(args.ranks), cwd=ROOT)  # argv list: no shell
    if rc != 0:
        print(f"xstilts demo: the training job failed (exit {rc})", file=sys.stderr)
        return rc
    return finished(args.out, t0)


def finished(out: str, t0: float) -> int:
    load_results(os.path.join(out, "results.json"))  # the job printed its table; check the file
    print(f"\ndemo finished in {time.time() - t0:.0f} s; results in {out}/results.json, "
          f"results.md; TensorBoard: tensorboard --logdir {out}/tb --host 127.0.0.1")
    return 0


def run_slurm(args, overrides: list[str]) -> int:
    """Submit the demo's jobs (``--ranks`` ranks on each node unless the flags say otherwise),
    wait for them, and check the results the evaluator job wrote."""
    if args.hostfile:
        raise UserError("--hostfile is for the deepspeed and mpirun launchers; Slurm gives the hosts")
    per_node = [] if args.tasks_per_node or args.gpus_per_node else [f"--slurm.tasks_per_node={args.ranks}"]
    overrides = [*per_node, *overrides, *flag_overrides(args)]
    cfg = load_config(DEMO_RECIPE, overrides, args.out)
    try:
        dry_run(cfg, world_size(cfg.slurm))
    except USER_ERRORS as err:
        raise UserError(str(err)) from None
    t0 = time.time()
    jobs, ids = submit_run(cfg, DEMO_RECIPE, overrides, args.dry_run)
    if args.dry_run:
        return 0
    try:
        ok = wait(entries(jobs, ids))
    except KeyboardInterrupt:
        print(f"\nxstilts demo: stopped waiting; the jobs go on (xstilts status {args.out})", file=sys.stderr)
        return 130
    if not ok:
        print(f"xstilts demo: a job did not complete; see `xstilts status {args.out}`", file=sys.stderr)
        return 1
    with open(os.path.join(args.out, "results.md")) as f:
        print(f.read())
    return finished(args.out, t0)
