"""Host work per optimizer step, side by side: xstilts against HF Trainer + DeepSpeed.

  python benchmarks/host_overhead.py [--rounds 15] [--steps 5] [--micro 32] [--seq 16] [--json FILE]

A CPU proxy of what the host does per step on a GPU. The encoder has XLM-R Large's layout (24
layers, 389 parameter tensors, the same modules, one ZeRO-2 gradient hook per parameter tensor
DeepSpeed sees) at a tiny width (hidden 16, 4 heads, FFN 64, 1,000-row vocabulary), so that
the arithmetic is small and what is left is the work a step costs whatever the model's width:
Python and module calls, one operator dispatch per operation (a kernel launch on a GPU),
DeepSpeed's per-tensor bookkeeping in the gradient hooks and the optimizer step.

Both sides train the same encoder shape with a 3-way classification head, with the same filled
DeepSpeed JSON (``ds_configs/zero2_bf16.json`` through ``trainer.engine.build.fill_ds_config``:
ZeRO-2, fused AdamW, clipping; fp32 on CPU, bf16 on GPU), on the same batch: the paper's global
batch of 32 rows of 16 tokens (``--seq``: another row length, the same operations), one
micro-batch per step (what ``deepspeed.micro_batch = 0`` gives on one rank; ``--micro 4``
accumulates 8 micro-batches on both sides). One process, one rank, one thread:

  xstilts  the model as ``trainer.training.loop.train`` builds it (``prepare_model``) and the
           loop's own step, ``trainer.training.loop.train_step``, on the engine of
           ``trainer.engine.build.build_engine``; the batch is copied to the device each step
  hf       ``transformers.Trainer(deepspeed=...)`` training ``XLMRobertaForSequenceClassification``
           on a dataset holding the same 32 rows (sequential sampler, ``default_data_collator``)

Rounds alternate in the one process: HF's training loop runs ``--steps`` steps, then a callback
at its step end runs ``--steps`` xstilts steps, and so on; HF's clock restarts when the callback
returns. A side's step time is the wall time from one step end to the next (HF's includes its
data loading and bookkeeping); its split is the wall time inside ``DeepSpeedEngine.forward``,
``backward`` and ``step`` ("other" is the rest). On a GPU the clock synchronises at each step
end, so a step is max(host, device), and the device's share is small at this width. Reported:
medians over rounds of each round's mean step, the ratio xstilts / HF per round and its
median, and, from one extra step per side, the parameter tensors DeepSpeed hooks and the scalar
reads of tensors (``item``, ``bool``, ``float``: each one a host synchronisation on a GPU).

``--ref KEY=VALUE`` (or ``--ref-ds-json``) adds a third side in the same rounds: xstilts with
those settings on top, so that what one change buys is measured against the same load
(``ratio_vs_ref``: xstilts / ref, median of rounds). ``--ref-mask`` makes that side also pass
the attention mask of unpadded batches, as the step did before it dropped them; with ``--ref
model.flat_params=false --ref model.direct_layers=false`` the third side is the code before the
host-cost changes ("before" in benchmarks/RESULTS.md).

The last line printed is one JSON object: ``xstilts_ms_per_step``, ``hf_ms_per_step``,
``ratio_vs_hf`` and the split of each side.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

ROWS = 32
SEQ = 16
PROXY = {**common.XLMR_LARGE_SHAPE, "vocab_size": 1000, "hidden_size": 16,
         "num_attention_heads": 4, "intermediate_size": 64}
PHASES = ("forward", "backward", "step")
SIDES = ("xstilts", "hf", "ref")  # ref: xstilts with --ref settings (before / after a change)
SCALAR_READS = ("item", "__bool__", "__float__", "__int__", "tolist")


class Clock:
    """Per-side step times and the wall time inside each engine's forward, backward and step
    (``DeepSpeedEngine`` wrapped at class level, so HF's engine is timed the same way)."""

    def __init__(self):
        self.engine_side: dict[int, str] = {}
        self.phase = {s: dict.fromkeys(PHASES, 0.0) for s in SIDES}
        self.steps: dict[str, list[list[float]]] = {s: [] for s in SIDES}  # rounds of step ms
        self.split: dict[str, list[dict]] = {s: [] for s in SIDES}  # rounds of mean phase ms

    def wrap_engine(self) -> None:
        from deepspeed.runtime.engine import DeepSpeedEngine

        for name in PHASES:
            method = getattr(DeepSpeedEngine, name)

            def timed(engine, *args, _method=method, _name=name, **kwargs):
                t0 = time.perf_counter()
                try:
                    return _method(engine, *args, **kwargs)
                finally:
                    side = self.engine_side.get(id(engine), "hf")
                    self.phase[side][_name] += time.perf_counter() - t0

            setattr(DeepSpeedEngine, name, timed)

    def reset(self, side: str) -> None:
        self.phase[side] = dict.fromkeys(PHASES, 0.0)

    def close_round(self, side: str, times: list[float]) -> None:
        self.steps[side].append(times)
        self.split[side].append({p: 1000 * v / len(times) for p, v in self.phase[side].items()})
        self.reset(side)


class ScalarReads:
    """Counts the reads of a tensor's value into Python while active (``torch.Tensor`` methods
    patched, so parameters and every tensor subclass are covered)."""

    def __enter__(self) -> "ScalarReads":
        import torch

        self.count, self._saved = 0, {}
        for name in SCALAR_READS:
            method = getattr(torch.Tensor, name)
            self._saved[name] = method

            def counted(t, *args, _method=method, **kwargs):
                self.count += 1
                return _method(t, *args, **kwargs)

            setattr(torch.Tensor, name, counted)
        return self

    def __exit__(self, *exc) -> None:
        import torch

        for name, method in self._saved.items():
            setattr(torch.Tensor, name, method)


def _precision() -> str:
    return "bf16" if common.gpu_available() else "fp32"


def xstilts_config(a, ref: bool = False):
    """The run config of the xstilts side: ``--set key=value`` overrides as on the command line,
    then ``--ref`` ones for the reference side."""
    from trainer.config import apply_override, from_dict

    ds_json = (a.ref_ds_json if ref else "") or a.ds_json or common.DS_JSON
    raw = {"run": {"name": "host", "out": os.path.join(common.default_work(), "host"), "seed": common.SEED},
           "model": {"name": "", "init_config": dict(PROXY, pad_token_id=1), "attn_implementation": "sdpa"},
           "deepspeed": {"config": ds_json, "precision": a.precision,
                         "micro_batch": a.micro, "global_batch": ROWS},
           "optim": {"lr": common.LR}, "tracking": {"tensorboard": False},
           "phases": [{"name": "host", "tasks": ["cls"], "max_steps": 1000}]}
    for item in a.set + (a.ref if ref else []):
        key, _, value = item.partition("=")
        apply_override(raw, key, value)
    return from_dict(raw)


def filled_ds(cfg, total_steps: int) -> dict:
    from trainer.engine.build import fill_ds_config, load_ds_json
    from trainer.runtime import dist

    return fill_ds_config(load_ds_json(cfg.deepspeed.config), cfg, lr=cfg.optim.lr, global_batch=ROWS,
                          world_size=1, total_steps=total_steps, device=dist.device_type(), path=cfg.deepspeed.config)


def rows(vocab: int, seq: int = SEQ) -> list[dict]:
    """The batch both sides train on every step: 32 rows of ``seq`` tokens, 3-way labels."""
    import torch

    gen = torch.Generator().manual_seed(common.SEED)
    ids = torch.randint(5, vocab, (ROWS, seq), generator=gen)
    labels = torch.randint(0, 3, (ROWS,), generator=gen)
    return [{"input_ids": ids[i], "attention_mask": torch.ones(seq, dtype=torch.long), "labels": labels[i]}
            for i in range(ROWS)]


class XstiltsSide:
    def __init__(self, a, clock: Clock, side: str = "xstilts"):
        import torch

        from trainer.data.feeder import Micro, pin
        from trainer.engine.build import build_engine, decays
        from trainer.model.build import build_model, prepare_model
        from trainer.model.multitask import HeadSpec
        from trainer.training.loop import Meter

        cfg = xstilts_config(a, ref=side == "ref")
        model = build_model(cfg.model, {"cls": HeadSpec("classification", 3)}, {"cls": "cls"}, "pretrained",
                            seed=common.SEED)
        prepare_model(model, cfg.model, decays)
        self.engine = build_engine(model, filled_ds(cfg, a.total))
        self.engine.train()
        clock.engine_side[id(self.engine)] = side
        self.tensors = sum(1 for p in model.parameters() if p.requires_grad)
        data = rows(PROXY["vocab_size"], a.seq)
        cuda = self.engine.device.type == "cuda"
        self.micros = []
        for i in range(0, ROWS, a.micro):
            batch = {k: torch.stack([r[k] for r in data[i:i + a.micro]]) for k in data[0]}
            self.micros.append(Micro(pin(batch) if cuda else batch, a.micro * a.seq, a.micro))
        self.meter, self.done = Meter(), 0
        self.keep_mask = side == "ref" and a.ref_mask

    def step(self) -> None:
        from trainer.training import loop

        self.done += 1
        if not self.keep_mask:
            loop.train_step(self.engine, "cls", self.micros, self.meter, self.done, 0)
            return
        unmasked = loop.unmasked
        loop.unmasked = lambda micro: micro.batch  # the step as it was before unmasked()
        try:
            loop.train_step(self.engine, "cls", self.micros, self.meter, self.done, 0)
        finally:
            loop.unmasked = unmasked

    def round(self, steps: int) -> list[float]:
        times = []
        for _ in range(steps):
            t = time.perf_counter()
            self.step()
            common.sync()
            times.append((time.perf_counter() - t) * 1000)
        return times


def hf_trainer(a, callback):
    """HF Trainer + DeepSpeed on the proxy encoder, the same JSON and rows; ``callback`` runs at
    each step end."""
    import torch
    import transformers as tf

    cfg = xstilts_config(a)
    o = cfg.optim
    data = rows(PROXY["vocab_size"], a.seq)

    class Rows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return ROWS * a.total

        def __getitem__(self, i: int) -> dict:
            return data[i % ROWS]

    args = tf.TrainingArguments(
        output_dir=os.path.join(common.default_work(), "host", "hf"), per_device_train_batch_size=a.micro,
        gradient_accumulation_steps=ROWS // a.micro, max_steps=a.total, learning_rate=o.lr,
        weight_decay=o.weight_decay, adam_beta1=o.betas[0], adam_beta2=o.betas[1], adam_epsilon=o.eps,
        max_grad_norm=o.clip, warmup_steps=int(round(o.warmup_ratio * a.total)), bf16=a.precision == "bf16",
        deepspeed=filled_ds(cfg, a.total), train_sampling_strategy="sequential", logging_steps=10 ** 9,
        save_strategy="no", report_to=[], disable_tqdm=True, seed=common.SEED, dataloader_num_workers=0,
        use_cpu=not common.gpu_available())
    torch.manual_seed(common.SEED)
    config = tf.XLMRobertaConfig(pad_token_id=1, num_labels=3, **PROXY)
    config._attn_implementation = "sdpa"
    model = tf.XLMRobertaForSequenceClassification(config)
    trainer = tf.Trainer(model=model, args=args, train_dataset=Rows(), data_collator=tf.default_data_collator,
                         callbacks=[callback])
    return trainer, sum(1 for p in model.parameters() if p.requires_grad)


def run(a) -> dict:
    import torch
    import transformers as tf

    from trainer.runtime import dist

    torch.set_num_threads(1)
    info = dist.discover()
    dist.init(info, "", 600, False)
    load0 = os.getloadavg()[0]
    print(f"# host_overhead: {common.machine()}; {a.precision}; XLM-R Large layout at hidden "
          f"{PROXY['hidden_size']}, global batch {ROWS} rows of {a.seq} tokens in micro-batches of {a.micro}; "
          f"{a.rounds} alternated rounds of {a.steps} steps; load average {load0:.2f}", flush=True)
    clock = Clock()
    clock.wrap_engine()
    ours = {side: XstiltsSide(a, clock, side) for side in a.sides if side != "hf"}
    for side, xs in ours.items():
        for _ in range(a.warmup):
            xs.step()
        clock.reset(side)
    state = {"mark": 0.0, "times": [], "reads": {}}

    class Alternate(tf.TrainerCallback):
        def on_step_begin(self, args, st, control, **kwargs):
            if st.global_step == a.warmup + a.rounds * a.steps:  # the extra step: count reads
                state["counter"] = ScalarReads().__enter__()

        def on_step_end(self, args, st, control, **kwargs):
            common.sync()
            now = time.perf_counter()
            if "counter" in state:
                counter = state.pop("counter")
                counter.__exit__()
                state["reads"]["hf"] = counter.count
                return
            if st.global_step <= a.warmup:
                clock.reset("hf")
            else:
                state["times"].append((now - state["mark"]) * 1000)
            if len(state["times"]) == a.steps:
                clock.close_round("hf", state["times"])
                for side, xs in ours.items():
                    clock.close_round(side, xs.round(a.steps))
                print(f"  round {len(clock.steps['hf'])}: " + ", ".join(
                    f"{side} {sum(clock.steps[side][-1]) / a.steps:.1f}" for side in a.sides)
                    + f" ms/step (load {os.getloadavg()[0]:.2f})", flush=True)
                state["times"] = []
            state["mark"] = time.perf_counter()

    trainer, hf_tensors = hf_trainer(a, Alternate())
    trainer.train()
    for side, xs in ours.items():
        with ScalarReads() as reads:
            xs.step()
            common.sync()
        state["reads"][side] = reads.count
    tensors = {"hf": hf_tensors, **{side: xs.tensors for side, xs in ours.items()}}
    out = summarize(clock, a, tensors, state["reads"], load0)
    dist.shutdown()
    if a.json:
        common.write_json(a.json, out)
    print(json.dumps(headline(out)))
    return out


def summarize(clock: Clock, a, tensors: dict, reads: dict, load0: float) -> dict:
    sides = {}
    for s in a.sides:
        # per round: the mean step (its total time over its steps) and the mean time per step in
        # each engine phase, so that forward + backward + step + other adds up to the step
        per_round = [sum(t) / len(t) for t in clock.steps[s]]
        others = [m - sum(r.values()) for m, r in zip(per_round, clock.split[s])]
        split = {f"{p}_ms": common.median([r[p] for r in clock.split[s]]) for p in PHASES}
        split["other_ms"] = common.median(others)
        sides[s] = {"ms_per_step": common.median(per_round), "rounds_ms": per_round, **split,
                    "param_tensors": tensors[s], "scalar_reads_per_step": reads.get(s)}
    ratios = [x / h for x, h in zip(sides["xstilts"]["rounds_ms"], sides["hf"]["rounds_ms"])]
    out = {"machine": common.machine(), "precision": a.precision, "micro": a.micro, "rows": ROWS, "seq": a.seq,
           "shape": PROXY, "rounds": a.rounds, "steps": a.steps, "set": a.set, "ds_json": a.ds_json or common.DS_JSON,
           "ref_set": a.ref, "ref_ds_json": a.ref_ds_json, "ref_mask": a.ref_mask,
           "load1_before": load0, "load1_after": os.getloadavg()[0],
           "ratio_rounds": ratios, "ratio_vs_hf": common.median(ratios), **sides}
    if "ref" in sides:
        out["ratio_vs_ref_rounds"] = [x / r for x, r in zip(sides["xstilts"]["rounds_ms"], sides["ref"]["rounds_ms"])]
        out["ratio_vs_ref"] = common.median(out["ratio_vs_ref_rounds"])
    for s in a.sides:
        r = sides[s]
        print(f"  {s:<8} {r['ms_per_step']:7.1f} ms/step: forward {r['forward_ms']:.1f}, backward "
              f"{r['backward_ms']:.1f}, step {r['step_ms']:.1f}, other {r['other_ms']:.1f}; "
              f"{r['param_tensors']} parameter tensors, {r['scalar_reads_per_step']} scalar reads per step; "
              f"rounds " + " ".join(f"{x:.1f}" for x in r["rounds_ms"]), flush=True)
    print(f"# xstilts / HF: {out['ratio_vs_hf']:.3f} (median of rounds: "
          + " ".join(f"{x:.3f}" for x in ratios) + f"); load average {load0:.2f} -> {out['load1_after']:.2f}")
    if "ref" in sides:
        what = " ".join(a.ref + ([a.ref_ds_json] if a.ref_ds_json else []) + (["--ref-mask"] if a.ref_mask else []))
        print(f"# xstilts / ref ({what}): {out['ratio_vs_ref']:.3f} (median of rounds: "
              + " ".join(f"{x:.3f}" for x in out["ratio_vs_ref_rounds"]) + ")")
    return out


def headline(out: dict) -> dict:
    line = {"xstilts_ms_per_step": round(out["xstilts"]["ms_per_step"], 2),
            "hf_ms_per_step": round(out["hf"]["ms_per_step"], 2), "ratio_vs_hf": round(out["ratio_vs_hf"], 4)}
    for s in SIDES:
        if s in out:
            line[s] = {k: round(out[s][k], 2) for k in ("forward_ms", "backward_ms", "step_ms", "other_ms")}
    if "ratio_vs_ref" in out:
        line["ratio_vs_ref"] = round(out["ratio_vs_ref"], 4)
    line["precision"], line["device"] = out["precision"], out["machine"]
    return line


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--steps", type=int, default=5, help="timed steps per side per round")
    p.add_argument("--warmup", type=int, default=3, help="untimed first steps per side")
    p.add_argument("--micro", type=int, default=ROWS, help=f"rows per micro-batch (a divisor of {ROWS})")
    p.add_argument("--seq", type=int, default=SEQ, help="tokens per row (4: a quarter of the arithmetic of the "
                   "matrix products, a sixteenth of the attention's, the same operations)")
    p.add_argument("--precision", default="", choices=["", "fp32", "bf16"],
                   help="default: bf16 on GPU, fp32 on CPU (bf16 is emulated on CPUs without AVX-512 BF16)")
    p.add_argument("--ds-json", default="", help="DeepSpeed JSON for both sides (default ds_configs/zero2_bf16.json)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="xstilts config override, e.g. model.flat_params=false")
    p.add_argument("--ref", action="append", default=[], metavar="KEY=VALUE",
                   help="a third side: xstilts with these overrides too (what a change buys, in the same rounds)")
    p.add_argument("--ref-ds-json", default="", help="DeepSpeed JSON of the reference side")
    p.add_argument("--ref-mask", action="store_true",
                   help="the reference side passes the attention mask of unpadded batches too (as the step did "
                   "before it dropped them); with --ref model.flat_params=false --ref model.direct_layers=false: "
                   "the code before the host-cost changes")
    p.add_argument("--json", default="")
    p.add_argument("--local_rank", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if ROWS % a.micro:
        p.error(f"--micro {a.micro} does not divide the global batch of {ROWS}")
    a.precision = a.precision or _precision()
    a.sides = ["hf", "xstilts"] + (["ref"] if a.ref or a.ref_ds_json or a.ref_mask else [])
    a.total = a.warmup + a.rounds * a.steps + 1  # steps per side; the last one counts scalar reads
    return a


def main(argv: list[str] | None = None) -> dict:
    return run(parse(argv))


if __name__ == "__main__":
    main()
