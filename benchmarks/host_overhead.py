"""Host work per micro-batch: the same global batch as 8 micro-batches of 4 rows or 1 of 32.

  python benchmarks/host_overhead.py [--rounds 5] [--steps 10] [--json FILE]

The encoder has XLM-R Large's layout (24 layers, 389 parameter tensors, the same modules and
ZeRO-2 gradient hooks) at a tiny width (hidden 64), so that the arithmetic is small and what
is left is the work every micro-batch costs whatever the model's width: Python and module
calls, one kernel launch per operation on a GPU, and ZeRO-2's hook on every parameter's
gradient. Both engines train through xstilts' model and DeepSpeed engine (ZeRO-2, fp32 on
CPU, bf16 on GPU); rounds alternate between them. Reported: ms per optimizer step and per
micro-batch, and the share of a step spent in DeepSpeed's gradient hooks (cProfile, one
extra step per engine). ``deepspeed.micro_batch = 0`` (one micro-batch per rank per step) is
what the XLM-R recipes use because of this cost.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

GLOBAL = 32
SEQ = 16
SKINNY = {**common.XLMR_LARGE_SHAPE, "vocab_size": 1000, "hidden_size": 64,
          "num_attention_heads": 4, "intermediate_size": 256}


def build(micro: int, info, ds_json: str = ""):
    from benchmarks.mfu import _config
    from trainer.engine.build import build_engine, fill_ds_config, load_ds_json
    from trainer.model.build import build_model
    from trainer.model.multitask import HeadSpec
    from trainer.runtime import dist

    cfg = _config(dict(SKINNY, pad_token_id=1), micro, GLOBAL // micro)
    cfg.deepspeed.precision = "bf16" if dist.device_type() == "cuda" else "fp32"
    cfg.deepspeed.config = ds_json or cfg.deepspeed.config
    heads = {"cls": HeadSpec("classification", 3)}
    model = build_model(cfg.model, heads, {"cls": "cls"}, "pretrained", seed=common.SEED)
    ds = fill_ds_config(load_ds_json(cfg.deepspeed.config), cfg, lr=cfg.optim.lr, global_batch=GLOBAL,
                        world_size=info.world_size, total_steps=1000, device=dist.device_type(),
                        path=cfg.deepspeed.config)
    return build_engine(model, ds), sum(1 for _ in model.encoder.parameters())


def batches(engine, micro: int) -> list[dict]:
    import torch

    gen = torch.Generator().manual_seed(common.SEED)
    out = []
    for _ in range(GLOBAL // micro):
        ids = torch.randint(5, SKINNY["vocab_size"], (micro, SEQ), generator=gen)
        out.append({"input_ids": ids.to(engine.device), "attention_mask": torch.ones_like(ids).to(engine.device),
                    "labels": torch.randint(0, 3, (micro,), generator=gen).to(engine.device)})
    return out


def one_step(engine, micro_batches: list[dict]) -> None:
    for batch in micro_batches:
        loss, _ = engine("cls", batch)
        engine.backward(loss)
        engine.step()


def timed(engine, micro_batches: list[dict], steps: int) -> float:
    """Median ms per optimizer step (the GPU synchronised at each step end)."""
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        one_step(engine, micro_batches)
        common.sync()
        times.append((time.perf_counter() - t) * 1000)
    return common.median(times)


def hook_share(engine, micro_batches: list[dict]) -> float:
    """Share of one step's profiled time inside ZeRO-2's per-parameter gradient hook."""
    prof = cProfile.Profile()
    prof.enable()
    one_step(engine, micro_batches)
    common.sync()
    prof.disable()
    stats = pstats.Stats(prof).stats
    total = max(v[3] for v in stats.values())  # the outermost call's cumulative time
    hook = sum(v[3] for (path, _, name), v in stats.items()
               if name == "grad_handling_hook" and "stage_1_and_2" in path)
    return hook / total if total else 0.0


def run(a) -> dict:
    import torch

    from trainer.runtime import dist

    torch.set_num_threads(1)
    info = dist.discover()
    dist.init(info, "", 600, False)
    print(f"# host_overhead: {common.machine()}; XLM-R Large layout at hidden 64, global batch "
          f"{GLOBAL} rows of {SEQ} tokens, {a.rounds} alternated rounds of {a.steps} steps", flush=True)
    engines = {}
    for micro in (4, GLOBAL):
        engine, tensors = build(micro, info, a.ds_json)
        engines[micro] = (engine, batches(engine, micro))
        timed(engine, engines[micro][1], 2)  # warm-up
    print(f"# {tensors} encoder parameter tensors", flush=True)
    ms: dict[int, list[float]] = {m: [] for m in engines}
    for r in range(a.rounds):
        for micro, (engine, mb) in engines.items():
            ms[micro].append(timed(engine, mb, a.steps))
        print(f"  round {r + 1}: " + ", ".join(f"micro {m}: {ms[m][-1]:.1f} ms/step" for m in engines), flush=True)
    rows = {}
    for micro, (engine, mb) in engines.items():
        step = common.median(ms[micro])
        rows[micro] = {"micro": micro, "accum": GLOBAL // micro, "step_ms": step,
                       "micro_ms": step / (GLOBAL // micro), "hook_share": hook_share(engine, mb)}
        r = rows[micro]
        print(f"  micro {micro} x accum {r['accum']}: {r['step_ms']:.1f} ms per step, {r['micro_ms']:.1f} ms per "
              f"micro-batch, {100 * r['hook_share']:.0f}% of it in ZeRO-2's gradient hooks", flush=True)
    dist.shutdown()
    out = {"machine": common.machine(), "encoder_tensors": tensors, "global_batch": GLOBAL, "seq": SEQ,
           "rows": list(rows.values()), "step_ratio_micro4_over_micro32": rows[4]["step_ms"] / rows[GLOBAL]["step_ms"]}
    print(f"# one step of 8 micro-batches of 4 takes {out['step_ratio_micro4_over_micro32']:.2f}x one "
          f"micro-batch of 32 rows", flush=True)
    if a.json:
        common.write_json(a.json, out)
    return out


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10, help="timed steps per engine per round")
    p.add_argument("--ds-json", default="", help="DeepSpeed JSON (default ds_configs/zero2_bf16.json)")
    p.add_argument("--json", default="")
    p.add_argument("--local_rank", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    return run(parse(argv))


if __name__ == "__main__":
    main()
