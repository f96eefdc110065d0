"""`xstilts demo`: the embedded default, the whole pipeline on the synthetic suite, started on
local CPU ranks (or the hosts of a hostfile) through a real launcher."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from eval.results import load_results
from trainer.commands.common import DEMO_RECIPE, ROOT, load_config
from trainer.commands.launch import demo_command, launch_env


def run(args, overrides: list[str]) -> int:
    args.out = os.path.abspath(args.out)
    load_config(DEMO_RECIPE, overrides, args.out)  # a bad override fails here, before any launch
    cmd = demo_command(args.out, args.ranks, args.launcher, extra=overrides, hostfile=args.hostfile)
    print("+", " ".join(cmd), flush=True)
    t0 = time.time()
    rc = subprocess.call(cmd, env=launch_env(args.ranks), cwd=ROOT)  # argv list: no shell
    if rc != 0:
        print(f"xstilts demo: the training job failed (exit {rc})", file=sys.stderr)
        return rc
    load_results(os.path.join(args.out, "results.json"))  # the job printed its table; check the file
    print(f"\ndemo finished in {time.time() - t0:.0f} s; results in {args.out}/results.json, "
          f"results.md; TensorBoard: tensorboard --logdir {args.out}/tb --host 127.0.0.1")
    return 0
