"""Where one training step of the benchmark encoder spends its time, and whether
``torch.compile`` buys anything: one process, one thread, dropout on (training mode).

1. Operator profile of forward + backward (``torch.profiler``): share of self time per
   operator, and the matmul rate in GFLOP/s (dense layers only, forward and backward).
2. Median step time, eager against ``torch.compile`` (inductor, static shapes, so that one
   compilation serves every timed step), launches alternating, each in a fresh process.

  python benchmarks/step_profile.py [--rows 16 --seq 48 --steps 12 --rounds 2]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402


def _encoder():
    import torch
    import transformers as tf

    torch.manual_seed(common.SEED)
    config = tf.XLMRobertaConfig(vocab_size=common.VOCAB, **common.MODEL_SHAPE)
    config._attn_implementation = "sdpa"
    return tf.XLMRobertaModel(config, add_pooling_layer=False).train(), config


def _step_fn(model, rows: int, seq: int):
    import torch

    ids = torch.randint(5, common.VOCAB, (rows, seq))
    mask = torch.ones_like(ids)

    def once() -> None:
        model(input_ids=ids, attention_mask=mask).last_hidden_state.sum().backward()
    return once


def profile(rows: int, seq: int, steps: int) -> dict:
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    torch.set_num_threads(1)
    model, config = _encoder()
    once = _step_fn(model, rows, seq)
    once()
    once()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            once()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    shares = sorted(((e.key, e.self_cpu_time_total / total) for e in events), key=lambda kv: -kv[1])
    h, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    dense_flops = 2 * rows * seq * layers * (4 * h * h + 2 * h * f) * 3 * steps  # fwd + 2x bwd
    mm_s = sum(e.self_cpu_time_total for e in events if e.key in ("aten::mm", "aten::addmm")) / 1e6
    return {"top": [(k, round(v, 4)) for k, v in shares[:8]], "ms_per_step": total / 1e3 / steps,
            "matmul_gflops": dense_flops / mm_s / 1e9}


def time_mode(mode: str, rows: int, seq: int, steps: int) -> dict:
    import torch

    torch.set_num_threads(1)
    model, _ = _encoder()
    run_model = torch.compile(model, dynamic=False) if mode == "compiled" else model
    once = _step_fn(run_model, rows, seq)
    t0 = time.perf_counter()
    once()
    once()
    warm = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        once()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"mode": mode, "first_two_s": warm, "median_ms": times[len(times) // 2], "min_ms": times[0]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=16)
    p.add_argument("--seq", type=int, default=48)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps(time_mode(a.child, a.rows, a.seq, a.steps)))
        return {}
    load = os.getloadavg()[0]
    prof = profile(a.rows, a.seq, 3)
    print(f"# forward + backward, {a.rows} x {a.seq} tokens, 1 thread, dropout on ({common.machine()})")
    print(f"profiled step {prof['ms_per_step']:.0f} ms; dense matmuls at {prof['matmul_gflops']:.0f} GFLOP/s")
    for key, share in prof["top"]:
        print(f"  {key:<28}{share:>7.1%}")
    runs = {"eager": [], "compiled": []}
    for _ in range(a.rounds):
        for mode in runs:  # alternate, each launch in a fresh process (no shared compile state)
            cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, "--rows", str(a.rows),
                   "--seq", str(a.seq), "--steps", str(a.steps)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            runs[mode].append(json.loads(out.strip().splitlines()[-1]))
    for mode, rs in runs.items():
        print(f"{mode:<9} median step " + ", ".join(f"{r['median_ms']:.0f}" for r in rs)
              + " ms; first two steps " + ", ".join(f"{r['first_two_s']:.1f}" for r in rs) + " s")
    print(f"load average {load:.2f} -> {os.getloadavg()[0]:.2f}")
    return {"profile": prof, "runs": runs}


if __name__ == "__main__":
    main()
