"""The optimizer update as ZeRO hands it over: one flat fp32 partition per parameter group
(weights with decay, biases and LayerNorm without), timed for torch's AdamW as DeepSpeed
built it before (``torch_adam`` with no kernel named: torch's default, the per-tensor loop on
CPU), with the multi-tensor kernel (``foreach``), and with the fused kernel, which
``trainer.engine`` now selects.

  python benchmarks/optimizer.py [--params 5000000] [--steps 20] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

KERNELS = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def time_step(params: int, kernel: str, steps: int, device: str) -> float:
    """Median ms of one AdamW step over two flat groups of ``params`` and ``params / 250``."""
    import statistics

    import torch

    groups = [torch.nn.Parameter(torch.randn(params, device=device)),
              torch.nn.Parameter(torch.randn(max(1, params // 250), device=device))]
    for p in groups:
        p.grad = torch.randn_like(p)
    opt = torch.optim.AdamW([{"params": [groups[0]], "weight_decay": 0.01},
                             {"params": [groups[1]], "weight_decay": 0.0}],
                            lr=1e-4, **KERNELS[kernel])
    times = []
    for i in range(steps + 3):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 3:  # the first steps create the moment buffers
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--params", type=int, default=5_000_000)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    out = {kind: time_step(a.params, kind, a.steps, device) for kind in KERNELS}
    print(f"AdamW step over {a.params:,} + {max(1, a.params // 250):,} parameters on {device} "
          f"({a.threads} thread(s)), median ms: default {out['default']:.1f}, multi-tensor "
          f"{out['foreach']:.1f}, fused {out['fused']:.1f} ({out['default'] / out['fused']:.1f}x "
          f"faster than the default)")
    return out


if __name__ == "__main__":
    main()
