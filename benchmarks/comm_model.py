"""Communication model of a ZeRO-2 step, and its check against the bytes counted on 2 ranks.

Per optimizer step, ZeRO-2 moves, per rank (ring collectives, N ranks, P parameters):
  gradients   reduced at *every* micro-step (DeepSpeed partitions gradients as backward produces
              them, accumulation included). DeepSpeed 0.19 all-reduces each bucket by default
              (``use_multi_rank_bucket_allreduce``: 2 x (N-1)/N x P x b per micro-step); with it
              off, slices are reduced to their owners, as a reduce-scatter: (N-1)/N x P x b
  parameters  all-gather of the updated shards after the optimizer step: (N-1)/N x P x b
The gradient buckets overlap the backward pass (``overlap_comm``); the all-gather does not.
Step time = compute + max(0, reduce-scatter - backward) per micro-step + all-gather, so the
scaling efficiency is compute / step time. Compute per token is about 6 x non-embedding
parameters + 12 x layers x hidden x sequence FLOPs, at ``--mfu`` of the peak.

  python benchmarks/comm_model.py [--measured DIR]   # DIR: a throughput result with --count-comm
"""
from __future__ import annotations

import argparse
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

XLMR_LARGE = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
              "intermediate_size": 4096, "max_position_embeddings": 514, "type_vocab_size": 1,
              "vocab_size": 250002}
H100_BF16 = 989e12  # dense bf16 peak, FLOP/s (SXM)
NVLINK_GBS = 450.0  # H100 NVLink, GB/s per direction


def param_counts(shape: dict) -> tuple[int, int]:
    """(all parameters, word-embedding parameters) of an XLM-R encoder of ``shape`` (no weights
    are allocated: built on the meta device)."""
    import torch
    import transformers as tf

    with torch.device("meta"):
        model = tf.XLMRobertaModel(tf.XLMRobertaConfig(**shape), add_pooling_layer=False)
    total = sum(p.numel() for p in model.parameters())
    return total, model.embeddings.word_embeddings.weight.numel()


def flops_per_token(shape: dict, params: int, embedding: int, seq: int) -> float:
    layers, hidden = shape["num_hidden_layers"], shape["hidden_size"]
    return 6.0 * (params - embedding) + 12.0 * layers * hidden * seq


def step_model(params: int, n: int, gbps: float, tokens_micro: int, accum: int, fpt: float,
               mfu: float, bytes_per: int = 2, grad_factor: int = 2) -> dict:
    """Times (s) of one optimizer step on ``n`` ranks with ``gbps`` Gb/s per rank;
    ``grad_factor`` 2 = gradient buckets all-reduced (DeepSpeed's default), 1 = reduced to
    their owners (a reduce-scatter)."""
    rate = gbps / 8 * 1e9  # bytes/s
    rs = grad_factor * (n - 1) / n * params * bytes_per / rate  # per micro-step
    ag = (n - 1) / n * params * bytes_per / rate
    micro = tokens_micro * fpt / (H100_BF16 * mfu)
    backward = micro * 2 / 3
    step = accum * (micro + max(0.0, rs - backward)) + ag
    return {"bytes": (grad_factor * accum + 1) * (n - 1) / n * params * bytes_per,
            "compute": accum * micro, "rs": accum * rs, "ag": ag, "step": step,
            "efficiency": accum * micro / step}


def table(mfu: float) -> None:
    params, emb = param_counts(XLMR_LARGE)
    print(f"XLM-R Large: {params / 1e6:.1f}M parameters, {emb / 1e6:.1f}M ({emb / params:.0%}) "
          f"in the word embedding; bf16 = {params * 2 / 1e9:.2f} GB; compute at {mfu:.0%} MFU "
          f"of {H100_BF16 / 1e12:.0f} TFLOP/s")
    print("all-reduced gradient buckets (DeepSpeed's default); last column: reduced to owners")
    print(f"{'N':>3}{'Gb/s':>6}{'micro x seq':>13}{'accum':>6}{'GB/rank/step':>13}{'compute ms':>11}"
          f"{'grad ms':>8}{'AG ms':>8}{'step ms':>9}{'efficiency':>11}{'(reduce)':>9}")
    for micro, seq, accum in ((4, 128, 1), (32, 128, 1), (32, 128, 4)):
        fpt = flops_per_token(XLMR_LARGE, params, emb, seq)
        for n in (8, 16, 64):
            for gbps in (100, 400):
                m = step_model(params, n, gbps, micro * seq, accum, fpt, mfu)
                r = step_model(params, n, gbps, micro * seq, accum, fpt, mfu, grad_factor=1)
                print(f"{n:>3}{gbps:>6}{f'{micro} x {seq}':>13}{accum:>6}{m['bytes'] / 1e9:>13.2f}"
                      f"{m['compute'] * 1e3:>11.1f}{m['rs'] * 1e3:>8.1f}{m['ag'] * 1e3:>8.1f}"
                      f"{m['step'] * 1e3:>9.1f}{m['efficiency']:>11.0%}{r['efficiency']:>9.0%}")
    fpt = flops_per_token(XLMR_LARGE, params, emb, 128)
    for gbps in (100, 400):
        rs = 2 * params * 2 / (gbps / 8 * 1e9)
        tokens = rs / (fpt * 2 / 3 / (H100_BF16 * mfu))
        print(f"at {gbps} Gb/s the gradient all-reduce hides behind backward from about "
              f"{tokens:,.0f} tokens per rank per micro-step ({tokens / 128:.0f} rows of 128)")
    m = step_model(params, 8, NVLINK_GBS * 8, 4 * 128, 1, fpt, mfu)
    print(f"one node of 8 over NVLink ({NVLINK_GBS:.0f} GB/s), the paper's batch (micro 4 x 128): "
          f"step {m['step'] * 1e3:.1f} ms, efficiency {m['efficiency']:.0%}")


def check_measured(result: str, ranks: int = 2) -> dict:
    """Compare the bytes DeepSpeed's collectives carried on ``ranks`` ranks (full buffers, as
    counted by ``throughput.py --count-comm``) with 2 x P x bytes per step."""
    params, _ = param_counts(dict(common.MODEL_SHAPE, vocab_size=common.VOCAB))
    runs = [common.read_json(p) for p in sorted(glob.glob(os.path.join(result, "rank*.json")))]
    steps = runs[0]["comm"][2:]  # the first steps include the engine's set-up broadcasts
    per_step = {}
    for step in steps:
        for name, (calls, size, _) in step.items():
            per_step.setdefault(name, []).append(size)
    measured = {k: common.median(v) for k, v in per_step.items()}
    heads = runs[0].get("params", 0)
    print(f"benchmark encoder: {params / 1e6:.2f}M parameters (+ heads); collectives per step on "
          f"{ranks} ranks (full buffers, MB): "
          + ", ".join(f"{k} {v / 1e6:.2f}" for k, v in measured.items()))
    print(f"model: gradients {params * 4 / 1e6:.2f} MB + parameters {params * 4 / 1e6:.2f} MB in "
          f"fp32 (encoder; the heads add the rest); measured total "
          f"{sum(measured.values()) / 1e6:.2f} MB")
    return {"measured": measured, "params": params, "heads": heads}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mfu", type=float, default=0.45)
    p.add_argument("--measured", default="", help="a throughput result folder run with --count-comm")
    a = p.parse_args(argv)
    table(a.mfu)
    if a.measured:
        check_measured(a.measured)


if __name__ == "__main__":
    main()
