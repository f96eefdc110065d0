"""Every figure the GPU results need, in one command that fits a 9-minute slot on one H100/H200.

  benchmarks/gpu_check.sh OUT_DIR            # on the GPU machine (see gpu_check.sh for its needs)
  benchmarks/gpu_check.sh --cpu OUT_DIR      # the same steps at a tiny size on CPU, < 3 minutes
  benchmarks/gpu_check.sh --prepare          # here, with the real samples: the side by side's
                                             # workspace into benchmarks/prepared/ (ignored by git)

Steps, each its own process with a time cap inside the overall budget (a step that fails or runs
out of time is recorded under ``failed`` and the next one runs):

  mfu_eager     ``mfu.py``: XLM-R Large, ZeRO-2 bf16, the trainer's own step (flat layout,
                ``train_step``), the paper's global batch of 32 rows in one micro-batch, at 128
                and 256 tokens
  host_proxy    ``host_overhead.py``: host time per optimizer step, xstilts against HF, on this
                machine's CPU and GPU (XLM-R Large layout at hidden 16), and xstilts with
                ``model.flat_unit = encoder`` as a third side
  side_by_side  ``throughput.py``: xstilts, HF Trainer + DeepSpeed with ``group_by_length`` and
                HF with ``max_length`` padding, lengths rounded to a multiple of 8 on both sides,
                global batch 32, one GPU, 3 alternating rounds of 24 steps (4 warm-up), medians
                (real tokens/s); nine launches of about 30 s (each builds XLM-R Large)
  mfu_compiled  ``mfu.py --compile``: as mfu_eager with ``model.compile = "inductor"`` (last:
                compilation is the slowest step to predict)

Each step's figures are written as JSON under OUT_DIR (``<step>.json``, logs under
``OUT_DIR/logs``), then ``summary.json``; the last line printed is the summary as one JSON object:
``mfu`` / ``mfu_compiled`` (at the first length; ``*_by_seq`` for all), ``ratio_vs_hf_best`` and
``ratio_vs_hf_max_length`` (real tokens/s of xstilts over HF's, median of paired rounds: above 1 is
faster), ``host_ms_per_step``, ``host_hf_ms_per_step``, ``host_ratio_vs_hf`` (host ms, below 1 is
cheaper), ``host_ratio_layer_vs_encoder`` (the default ``model.flat_unit`` over ``encoder``),
``device``, ``seconds``, ``failed``. With ``--cpu``: the small encoder (4 layers, hidden 256)
instead of XLM-R Large, fp32, 4-row micro-batches at 32 and 64 tokens, 2 steps, compiled
with ``aot_eager`` (the same tracing, without inductor's minutes of C++ code generation), one
round of the side by side (3 steps per variant; 3 rounds on GPU) and 3 of the host proxy. On two
loaded CPU cores the side by side's launches take most of the time (each one imports torch and
DeepSpeed).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PREPARED = os.path.join(HERE, "prepared")
BUDGET_S = {"gpu": 510, "cpu": 175}  # the whole check, start-up of this driver excluded
SIDE_BY_SIDE = ["xstilts", "hf_group_by_length", "hf_max_length"]


def steps(cpu: bool, out: str, work: str) -> list[tuple[str, str, list[str], int]]:
    """(name, script, arguments, time cap in seconds) of each step, in order."""
    if cpu:
        mfu = ["--shape", "small", "--seqs", "32", "64", "--rows", "4", "--accum", "1", "--steps", "2",
               "--warmup", "1"]
        compiled = mfu + ["--compile", "--compile-backend", "aot_eager"]
        side = ["--shape", "small", "--micro", "4", "--global-batch", "4", "--steps", "3", "--warmup", "1",
                "--repeats", "1"]
        host = ["--rounds", "3", "--steps", "2", "--warmup", "1"]
        caps = (40, 130, 40, 40)  # mfu, side by side, host proxy, compiled
    else:
        mfu = ["--shape", "large", "--seqs", "128", "256", "--rows", "32", "--accum", "1", "--steps", "10",
               "--warmup", "3"]
        compiled = mfu + ["--compile"]
        side = ["--shape", "large", "--micro", "32", "--global-batch", "32", "--steps", "24", "--warmup", "4"]
        host = ["--rounds", "10"]
        caps = (90, 300, 60, 180)
    host += ["--ref", "model.flat_unit=encoder"]  # what one GPU's setting buys on this host
    if not cpu:
        side += ["--repeats", "3"]
    side += ["--ranks", "1", "--pad-multiple", "8", "--variants", *SIDE_BY_SIDE,
             "--work", os.path.join(work, "throughput")]
    return [("mfu_eager", "mfu.py", mfu, caps[0]),
            ("host_proxy", "host_overhead.py", host, caps[2]),
            ("side_by_side", "throughput.py", side, caps[1]),
            ("mfu_compiled", "mfu.py", compiled, caps[3])]


def side_by_side_data(work: str) -> str | None:
    """Why the side by side cannot run here (None when it can): it needs the real samples beside
    the checkout, or a workspace prepared from them (``--prepare``), copied into ``work``."""
    from benchmarks import mixdata

    target = os.path.join(work, "throughput")
    marker = os.path.join("hf", "pairs", "prepared.json")
    if os.path.isfile(os.path.join(target, marker)):
        return None
    if os.path.isfile(os.path.join(PREPARED, "throughput", marker)):  # saves tokenizing the mix
        shutil.copytree(os.path.join(PREPARED, "throughput"), target, dirs_exist_ok=True)
        return None
    if os.path.isdir(mixdata.REAL_DATA):
        return None
    return (f"no data: neither the real samples ({mixdata.REAL_DATA}) nor a prepared workspace "
            f"({PREPARED}/throughput, made by `benchmarks/gpu_check.sh --prepare` where the samples are)")


def prepare() -> str:
    """The side by side's workspace (tokenizer, mix, xstilts cache, HF datasets) into PREPARED."""
    from benchmarks import throughput

    a = throughput.parse(["--work", os.path.join(PREPARED, "throughput"), "--ranks", "1"])
    throughput.prepare(a)
    return a.work


def run_step(name: str, script: str, args: list[str], cap: int, out: str, left: float) -> dict:
    """One step in its own process; its figures from ``OUT/<name>.json``."""
    path = os.path.join(out, f"{name}.json")
    log = os.path.join(out, "logs", f"{name}.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    limit = int(min(cap, left))
    if limit < 10:
        raise RuntimeError(f"skipped: {left:.0f} s of the budget left")
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1",
               HF_DATASETS_OFFLINE="1", TRANSFORMERS_VERBOSITY="error", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, os.path.join(HERE, script), *args, "--json", path]
    with open(log, "w") as sink:
        sink.write("$ " + " ".join(cmd) + "\n")
        sink.flush()
        try:
            proc = subprocess.run(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=common.ROOT,
                                  timeout=limit)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"timed out after {limit} s (log: {log})") from None
    if proc.returncode:
        raise RuntimeError(f"exit status {proc.returncode} (log: {log})")
    return common.read_json(path)


def _num(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else round(float(x), 4)


def summarize(fig: dict, failed: dict, seconds: float, cpu: bool) -> dict:
    def mfu_by_seq(key: str) -> dict:
        rows = fig.get(key, {}).get("rows", [])
        return {str(r["seq"]): _num(r["mfu"]) for r in rows if r["task"] == "cls"}

    eager, compiled = mfu_by_seq("mfu_eager"), mfu_by_seq("mfu_compiled")
    side, host = fig.get("side_by_side", {}), fig.get("host_proxy", {})
    device = (fig.get("mfu_eager") or fig.get("mfu_compiled") or {}).get("device") or common.machine()
    return {"mode": "cpu" if cpu else "gpu", "device": device,
            "mfu": next(iter(eager.values()), None), "mfu_compiled": next(iter(compiled.values()), None),
            "mfu_by_seq": eager, "mfu_compiled_by_seq": compiled,
            "ratio_vs_hf_best": _num(side.get("ratio_vs_hf_trainer_best")),
            "ratio_vs_hf_max_length": _num(side.get("ratio_vs_hf_trainer")),
            "host_ms_per_step": _num(host.get("xstilts", {}).get("ms_per_step")),
            "host_hf_ms_per_step": _num(host.get("hf", {}).get("ms_per_step")),
            "host_ratio_vs_hf": _num(host.get("ratio_vs_hf")),
            "host_ratio_layer_vs_encoder": _num(host.get("ratio_vs_ref")),
            "seconds": round(seconds, 1), "failed": failed}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", nargs="?", default="", help="folder for the JSON figures")
    p.add_argument("--cpu", action="store_true", help="the same steps at a tiny size on CPU")
    p.add_argument("--prepare", action="store_true", help="write the side by side's workspace into "
                   "benchmarks/prepared/ and stop")
    p.add_argument("--work", default="", help="scratch folder (default OUT_DIR/work)")
    p.add_argument("--budget", type=float, default=0.0, help="seconds for all steps (default "
                   f"{BUDGET_S['gpu']} on GPU, {BUDGET_S['cpu']} with --cpu)")
    p.add_argument("--only", nargs="+", default=None, help="run only these steps")
    a = p.parse_args(argv)
    if a.prepare:
        print(f"# prepared {prepare()}")
        return {}
    if not a.out:
        p.error("OUT_DIR is required")
    t0 = time.monotonic()
    out = os.path.abspath(a.out)
    work = os.path.abspath(a.work or os.path.join(out, "work"))
    os.makedirs(out, exist_ok=True)
    mode = "cpu" if a.cpu else "gpu"
    fig, failed = {}, {}
    for name, script, args, cap in steps(a.cpu, out, work):
        if a.only and name not in a.only:
            continue
        t = time.monotonic()
        try:
            if name == "side_by_side" and (why := side_by_side_data(work)):
                raise RuntimeError(why)
            budget = a.budget or BUDGET_S[mode]
            fig[name] = run_step(name, script, args, cap if not a.budget else budget, out,
                                 budget - (time.monotonic() - t0))
            print(f"# {name}: {time.monotonic() - t:.0f} s", flush=True)
        except RuntimeError as e:
            failed[name] = str(e)
            print(f"# {name}: FAILED after {time.monotonic() - t:.0f} s: {e}", flush=True)
    summary = summarize(fig, failed, time.monotonic() - t0, a.cpu)
    common.write_json(os.path.join(out, "summary.json"), summary)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
