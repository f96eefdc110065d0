"""Model FLOPs utilization of xstilts' training step on one GPU.

XLM-R Large (built from its config: 24 layers, hidden 1024, 16 heads, FFN 4096, 250,002-row
vocabulary; random weights, no download) with a classification head, trained through xstilts'
own pieces: ``trainer.model.build.build_model`` (SDPA attention, dropout on), prepared as
training prepares it (``prepare_model``: the flat parameter layout, and ``torch.compile`` of the
layers with ``--compile``), ``trainer.engine.build.build_engine`` on ``ds_configs/zero2_bf16.json``
filled by ``trainer.engine.build.fill_ds_config`` (ZeRO-2, bf16, torch's fused AdamW), one rank,
and the training loop's own step (``trainer.training.loop.train_step``) per micro-batch. Every
row is exactly ``seq`` tokens (no padding), so real tokens = computed tokens; one DeepSpeed engine
serves every length (the micro batch holds about ``--tokens`` tokens: 128 x 128, 64 x 256,
42 x 384, or ``--rows`` rows at every length: ``--rows 32 --accum 1`` is the paper's global
batch of 32 rows on one GPU), with ``--accum`` micro-batches per optimizer step.

  model FLOPs per token = 6 x N + 12 x layers x hidden x seq

N is the non-embedding parameter count (encoder layers and head; the embedding lookup is not
a matrix product); the second term is attention's two matrix products (scores and weighted
sum), forward and backward. ``--mlm`` adds a row with the MLM head (15% of tokens masked,
logits at masked positions only), counting its vocabulary projection for the masked share:
0.15 x 6 x (hidden^2 + hidden x vocab) per token. MFU = model FLOPs x tokens/s / peak, against
the datasheet's dense bf16 peak (989 TFLOP/s for H100 / H200 SXM) and against a bf16 8192^3
matrix product measured in the same process (on a CPU, which has no datasheet entry: against an
fp32 1024^3 matrix product measured there, so that a smoke run's figures are numbers too). Per micro-batch times come from CUDA events (no
host synchronisation inside the timed steps); the optimizer's share is the extra time of the
micro-batch that ends an optimizer step.

  python benchmarks/mfu.py [--seqs 128 256 384] [--steps 10] [--accum 4] [--mlm] [--json F]
  python benchmarks/mfu.py --seqs 128 256 --rows 32 --accum 1 [--compile]   # the paper's batch
  python benchmarks/mfu.py --shape small --seqs 32 --tokens 512 --steps 2   # CPU smoke run
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

# dense bf16 tensor-core peak (no sparsity), TFLOP/s, by the vendors' datasheets
DATASHEET_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0}
MLM_PROB = 0.15


def datasheet_peak(name: str) -> float | None:
    return next((v for k, v in DATASHEET_BF16_TFLOPS.items() if k in name), None)


def matmul_tflops(size: int = 8192, reps: int = 10) -> float | None:
    """A bf16 ``size``^3 matrix product on random data: the reachable ceiling of this GPU (on a
    CPU: fp32 at 1024^3)."""
    import torch

    if not torch.cuda.is_available():
        a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
        a @ b
        t = time.perf_counter()
        for _ in range(3):
            a @ b
        return 2 * 1024 ** 3 * 3 / (time.perf_counter() - t) / 1e12
    a = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        a @ b
    end.record()
    torch.cuda.synchronize()
    return 2 * size ** 3 * reps / (start.elapsed_time(end) / 1000) / 1e12


def _config(shape: dict, micro: int, accum: int, compile_backend: str = ""):
    from trainer.config import from_dict

    raw = {"run": {"name": "mfu", "out": os.path.join(common.default_work(), "mfu"), "seed": common.SEED},
           "model": {"name": "", "init_config": dict(shape), "attn_implementation": "sdpa",
                     "compile": compile_backend},
           "deepspeed": {"config": common.DS_JSON, "micro_batch": micro,
                         "precision": "bf16" if common.gpu_available() else "fp32",  # CPUs: no fast bf16
                         "global_batch": micro * accum},
           "optim": {"lr": common.LR}, "tracking": {"tensorboard": False},
           "phases": [{"name": "mfu", "tasks": ["cls"], "max_steps": 1000}]}
    return from_dict(raw)


def flops_per_token(model, seq: int, mlm: bool) -> float:
    enc = model.encoder
    c = enc.config
    embedding = sum(p.numel() for p in enc.embeddings.parameters())
    cls = sum(p.numel() for p in model.heads["cls"].parameters())
    n = sum(p.numel() for p in enc.parameters()) - embedding + cls
    flops = 6 * n + 12 * c.num_hidden_layers * c.hidden_size * seq
    if mlm:
        flops += MLM_PROB * 6 * (c.hidden_size ** 2 + c.hidden_size * c.vocab_size)
    return float(flops)


class MicroTimer:
    """End-of-micro-batch marks: CUDA events on GPU (read once at the end), host time on CPU."""

    def __init__(self, cuda: bool):
        import torch

        self.cuda, self.marks = cuda, []
        self._torch = torch

    def mark(self) -> None:
        if self.cuda:
            event = self._torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append(event)
        else:
            self.marks.append(time.perf_counter())

    def intervals_ms(self) -> list[float]:
        if self.cuda:
            self._torch.cuda.synchronize()
            return [a.elapsed_time(b) for a, b in zip(self.marks, self.marks[1:])]
        return [(b - a) * 1000 for a, b in zip(self.marks, self.marks[1:])]


def measure(engine, model, task: str, seq: int, micro: int, accum: int, steps: int, warmup: int,
            vocab: int, cuda: bool) -> dict:
    import torch

    from trainer.data.collate import MlmMasker
    from trainer.data.feeder import Micro
    from trainer.training.loop import Meter, train_step

    device = engine.device
    gen = torch.Generator().manual_seed(common.SEED + seq)
    masker = MlmMasker(mask_id=3, vocab_size=vocab, special_ids=[0, 1, 2, 3], prob=MLM_PROB,
                       seed=common.SEED) if task == "mlm" else None
    batches = []
    for _ in range(accum):  # the micro-batches of one optimizer step, reused every step
        ids = torch.randint(5, vocab, (micro, seq), generator=gen)
        mask = torch.ones_like(ids)
        batch = {"input_ids": ids, "attention_mask": mask}
        if masker is None:
            batch["labels"] = torch.randint(0, 3, (micro,), generator=gen)
        else:
            batch["input_ids"], batch["labels"], batch["mlm_positions"] = masker(ids, mask)
        batches.append(Micro({k: v.to(device) for k, v in batch.items()}, micro * seq, micro))
    timer, meter = MicroTimer(cuda), Meter()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for step in range(warmup + steps):
        if step == warmup:
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            timer.mark()
        for batch in batches:  # the loop's step, one micro-batch at a time so each is timed
            train_step(engine, task, [batch], meter, step + 1, 0)
            if step >= warmup:
                timer.mark()
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    ms = timer.intervals_ms()
    step_ms = [sum(ms[i:i + accum]) for i in range(0, len(ms), accum)]
    plain = [t for i, t in enumerate(ms) if (i + 1) % accum]  # micro-batches without the update
    last = [t for i, t in enumerate(ms) if (i + 1) % accum == 0]
    tokens = steps * accum * micro * seq
    micro_ms = common.median(plain) if plain else common.median(ms)
    return {"task": task, "seq": seq, "micro": micro, "accum": accum, "steps": steps,
            "tokens_per_step": accum * micro * seq, "step_ms": common.median(step_ms),
            "micro_ms": micro_ms,
            "update_ms": (common.median(last) - micro_ms) if plain else None,
            "tokens_per_s": tokens / (sum(ms) / 1000), "wall_tokens_per_s": tokens / wall,
            "peak_mem_gib": torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else None,
            "final_loss": float(meter.loss[task]) / meter.count[task]}  # mean over the run's micro-batches


def run(a) -> dict:
    import torch

    from trainer.engine.build import build_engine, decays, fill_ds_config, load_ds_json
    from trainer.model.build import build_model, prepare_model
    from trainer.model.multitask import HeadSpec
    from trainer.runtime import dist

    cuda = torch.cuda.is_available()
    shape = common.SHAPES[a.shape]
    vocab = shape.get("vocab_size", common.VOCAB)
    shape = {"vocab_size": vocab, "pad_token_id": 1, **shape}
    info = dist.discover()
    dist.init(info, "", 600, False)
    name = torch.cuda.get_device_name(0) if cuda else "cpu"
    print(f"# mfu: {common.machine()}; shape {a.shape}, accum {a.accum}, {a.steps} steps "
          f"({a.warmup} warm-up){', torch.compile' if a.compile else ''}", flush=True)
    ceiling = matmul_tflops()
    peak = a.peak_tflops or datasheet_peak(name) or (None if cuda else ceiling)
    micro_of = {seq: a.rows or max(1, a.tokens // seq) for seq in a.seqs}
    cfg = _config(shape, micro_of[a.seqs[0]], a.accum, a.compile_backend if a.compile else "")
    heads = {"cls": HeadSpec("classification", 3)}
    if a.mlm:
        heads["mlm"] = HeadSpec("mlm", vocab)
    t = time.perf_counter()
    model = build_model(cfg.model, heads, {h: h for h in heads}, "pretrained", seed=common.SEED)
    prepare_model(model, cfg.model, decays)  # as training does: flat layout, model.compile
    ds = fill_ds_config(load_ds_json(cfg.deepspeed.config), cfg, lr=cfg.optim.lr,
                        global_batch=cfg.deepspeed.global_batch, world_size=info.world_size,
                        total_steps=1000, device=dist.device_type(), path=cfg.deepspeed.config)
    engine = build_engine(model, ds)
    params = sum(p.numel() for p in model.parameters())
    print(f"# {params / 1e6:.1f}M parameters; model + engine built in {time.perf_counter() - t:.1f} s; "
          f"matmul {ceiling and round(ceiling, 3)} TFLOP/s measured ({'bf16 8192' if cuda else 'fp32 1024'}^3), "
          f"datasheet {datasheet_peak(name)}",
          flush=True)
    rows = []
    jobs = [("cls", seq) for seq in a.seqs] + ([("mlm", a.seqs[0])] if a.mlm else [])
    for task, seq in jobs:
        row = measure(engine, model, task, seq, micro_of[seq], a.accum, a.steps, a.warmup, vocab, cuda)
        row["flops_per_token"] = flops_per_token(model, seq, task == "mlm")
        row["tflops"] = row["flops_per_token"] * row["tokens_per_s"] / 1e12
        row["mfu"] = row["tflops"] / peak if peak else None
        row["of_matmul"] = row["tflops"] / ceiling if ceiling else None
        rows.append(row)
        print(_line(row), flush=True)
    dist.shutdown()
    out = {"device": name, "machine": common.machine(), "params": params, "shape": a.shape,
           "param_tensors": sum(1 for _ in model.parameters()), "rows_per_micro": micro_of,
           "matmul_tflops": ceiling, "peak_tflops": peak, "compile": a.compile, "rows": rows,
           "mfu": {f"{r['task']}@{r['seq']}": r["mfu"] for r in rows}}
    if a.json:
        common.write_json(a.json, out)
    return out


def _line(r: dict) -> str:
    pct = (lambda x: f"{100 * x:.1f}%" if x is not None else "n/a")
    mem = f"{r['peak_mem_gib']:.1f} GiB" if r["peak_mem_gib"] is not None else "n/a"
    upd = f"{r['update_ms']:.1f}" if r["update_ms"] is not None else "n/a"
    return (f"  {r['task']}@{r['seq']}: micro {r['micro']} x accum {r['accum']}, step {r['step_ms']:.1f} ms "
            f"(micro {r['micro_ms']:.1f}, update +{upd}), {r['tokens_per_s']:.0f} tok/s, "
            f"{r['tflops']:.1f} TFLOP/s, MFU {pct(r['mfu'])} (of matmul {pct(r['of_matmul'])}), "
            f"peak {mem}, loss {r['final_loss']:.3f}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", default="large", choices=list(common.SHAPES))
    p.add_argument("--seqs", type=int, nargs="+", default=[128, 256, 384])
    p.add_argument("--tokens", type=int, default=16384, help="tokens per micro-batch")
    p.add_argument("--rows", type=int, default=0, help="rows per micro-batch at every length "
                   "(instead of --tokens)")
    p.add_argument("--accum", type=int, default=4, help="micro-batches per optimizer step")
    p.add_argument("--steps", type=int, default=10, help="timed optimizer steps per length")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--mlm", action="store_true", help="also an MLM-head row at the first length")
    p.add_argument("--compile", action="store_true", help="torch.compile the encoder layers with "
                   "inductor, in place, as model.compile = \"inductor\" does in training (compiled "
                   "in the warm-up)")
    p.add_argument("--compile-backend", default="inductor", help="with --compile (aot_eager: the "
                   "same tracing without code generation, for a quick CPU run)")
    p.add_argument("--peak-tflops", type=float, default=0.0, help="bf16 peak (default: datasheet)")
    p.add_argument("--json", default="")
    p.add_argument("--local_rank", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    return run(parse(argv))


if __name__ == "__main__":
    main()
