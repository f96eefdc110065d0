"""What each CLI command does: parse config -> init distributed -> run -> close, in `finally`."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from trainer.errors import USER_ERRORS, ConfigError, HostfileError, UserError, user_error_in

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_RECIPE = os.path.join(ROOT, "trainer", "recipes", "demo.toml")


def load_config(recipe: str, overrides: list[str], out: str | None = None):
    from trainer import config

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


def cmd_train(args, overrides: list[str]) -> int:
    from trainer.runtime import dist
    from trainer.runtime.logs import setup_logging

    cfg = load_config(args.recipe, overrides, args.out)
    if args.help_config:
        from trainer.config import describe

        print(describe(cfg), end="")
        return 0
    if args.resume:
        cfg.checkpoint.resume = True
    world = dry_run_world_size(args.world_size, args.hostfile)
    if args.dry_run:
        from trainer.dryrun import dry_run

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
        from trainer.pipeline import run_pipeline
        from trainer.data.tokenizer import load_tokenizer

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


def dry_run_world_size(world_size: int | None, hostfile: str | None) -> int:
    """--world-size, else the hostfile's total slots, else 1; a hostfile is validated first."""
    if hostfile is None:
        return world_size or 1
    from trainer.runtime.hostfile import parse_hostfile
    from trainer.runtime.hostfile import world_size as slots

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
    from trainer import config
    from trainer.runtime.tracking import build_tracker

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
    from trainer import config
    from trainer.runtime.tracking import flatten

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


def cmd_evaluate(args, _overrides) -> int:
    from trainer.evaluate import run_evaluate

    return run_evaluate(args)


def cmd_score(args, _overrides) -> int:
    from eval.scorer import main as score_main

    argv = ["--predictions", args.predictions, "--labels", args.labels, "--out", args.out]
    if args.tasks:
        argv += ["--tasks", *args.tasks]
    if args.languages:
        argv += ["--languages", *args.languages]
    return score_main(argv)


def cmd_report(args, _overrides) -> int:
    from eval.report import main as report_main

    return report_main(args.runs, args.out)


def cmd_sweep(args, _overrides) -> int:
    from trainer.sweep import SweepError, main

    try:
        return main(args)
    except SweepError as err:
        raise UserError(str(err)) from None


def cmd_align(args, _overrides) -> int:
    from trainer.align import run_align

    try:
        return run_align(args)
    except USER_ERRORS as err:
        raise UserError(str(err)) from None


def cmd_tasks(args, _overrides) -> int:
    from trainer.tasks import TASKS

    rows = [("task", "kind", "head", "metric", "langs", "train size", "train group")]
    for name, t in TASKS.items():
        size = f"{t.train_size:,}" if t.train_size else "-"
        rows.append((name, t.kind, t.head, t.metric, str(len(t.languages)), size, t.train_group))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def tool(name: str) -> str:
    """A launcher installed beside this Python (the venv's bin), else the one on PATH."""
    local = os.path.join(os.path.dirname(sys.executable), name)
    return local if os.access(local, os.X_OK) else name


def demo_command(out: str, ranks: int, launcher: str, recipe: str = DEMO_RECIPE,
                 extra: list[str] | None = None, hostfile: str | None = None) -> list[str]:
    """The launcher command line (an argv list, never a shell string) that runs ``recipe`` on
    ``ranks`` local CPU ranks, or on the hosts of a validated ``hostfile``."""
    from trainer.runtime.dist import free_port

    port = str(free_port())
    train = ["train", recipe, "--out", out, *(extra or [])]
    if hostfile is not None:
        return hostfile_command(hostfile, launcher, port, out, train)
    if launcher == "deepspeed" and ranks > 1:
        return [tool("deepspeed"), "--num_gpus", str(ranks), "--master_port", port, "--module", "trainer.cli", *train]
    if launcher == "torchrun" and ranks > 1:
        return [tool("torchrun"), "--nproc-per-node", str(ranks), "--master-port", port, "-m", "trainer.cli", *train]
    if launcher == "mpirun" and ranks > 1:
        return [tool("mpirun"), "-np", str(ranks), sys.executable, "-m", "mpi4py", "-m", "trainer.cli", *train]
    return [sys.executable, "-m", "trainer.cli", *train]


def hostfile_command(hostfile: str, launcher: str, port: str, out: str, train: list[str]) -> list[str]:
    """Launch on the hosts of ``hostfile``: parsed and validated here, before any launcher (and
    the ssh/pdsh behind it) reads it; mpirun gets the same hosts in its own file format."""
    from trainer.runtime.hostfile import mpich_hostfile, parse_hostfile, world_size

    try:
        hosts = parse_hostfile(hostfile)
    except HostfileError as err:
        raise UserError(str(err)) from None
    if launcher == "deepspeed":
        return [tool("deepspeed"), "--hostfile", hostfile, "--master_port", port, "--module", "trainer.cli", *train]
    if launcher == "mpirun":
        os.makedirs(out, exist_ok=True)
        machines = mpich_hostfile(hosts, os.path.join(out, "mpich_hosts"))
        return [tool("mpirun"), "-f", machines, "-np", str(world_size(hosts)), sys.executable, "-m", "mpi4py",
                "-m", "trainer.cli", *train]
    raise UserError(f"--hostfile works with the deepspeed and mpirun launchers, not {launcher}")


def launch_env(ranks: int) -> dict:
    env = dict(os.environ)
    cores = os.cpu_count() or 1
    # One rank per core: more threads per rank than cores only adds contention.
    env.setdefault("OMP_NUM_THREADS", str(max(1, cores // max(ranks, 1))))
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    # the launchers start ranks and helpers by name: find this environment's first
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def cmd_demo(args, overrides: list[str]) -> int:
    import time

    from eval.results import load_results

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
