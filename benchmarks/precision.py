"""Why the CPU benchmarks train in fp32: one forward + backward of the benchmark encoder in fp32
and in bf16, one thread. Without AVX-512 BF16 (or AMX) the CPU has no bf16 matmul, and the
emulated one is far slower than fp32.

  python benchmarks/precision.py [--rows 16 --seq 64 --repeats 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402


def step_ms(dtype, rows: int, seq: int, repeats: int) -> float:
    import torch
    import transformers as tf

    config = tf.XLMRobertaConfig(vocab_size=common.VOCAB, **common.MODEL_SHAPE)
    config._attn_implementation = "sdpa"
    model = tf.XLMRobertaModel(config, add_pooling_layer=False).to(dtype)
    ids = torch.randint(5, common.VOCAB, (rows, seq))

    def once() -> None:
        model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.float().sum().backward()

    once()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        once()
    return (time.perf_counter() - t0) / repeats * 1000


def main(argv: list[str] | None = None) -> dict:
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=16)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    out = {str(dt).split(".")[-1]: step_ms(dt, a.rows, a.seq, a.repeats)
           for dt in (torch.float32, torch.bfloat16)}
    print(f"forward + backward, {a.rows} x {a.seq} tokens, 1 thread ({common.machine()}; load "
          f"{load:.2f} -> {os.getloadavg()[0]:.2f}): "
          + ", ".join(f"{k} {v:.0f} ms" for k, v in out.items())
          + f"; bf16 / fp32 = {out['bfloat16'] / out['float32']:.1f}x")
    return out


if __name__ == "__main__":
    main()
