"""Training throughput, side by side: xstilts against HF Trainer + DeepSpeed.

Both train the same XLM-R-shaped encoder (``common.MODEL_SHAPE``, random weights, SDPA
attention) on the same data, expanded from the real samples and tokenized once by
``trainer.data``: ``--mix pairs`` (default) XNLI + ANLI+ + PAWS-X English pairs, HF with one
sequence-classification head; ``--mix choice`` HellaSwag + Cosmos QA (four choices each), HF
with ``XLMRobertaForMultipleChoice`` and ``DataCollatorForMultipleChoice``. The same DeepSpeed
ZeRO-2 JSON (``ds_configs/zero2_bf16.json``, its "auto" keys filled by
``trainer.engine.build.fill_ds_config``), max length 128, micro batch 16 rows per rank (4 rows = 16
sequences on the choice mix), 2 CPU ranks (no accumulation), one thread per rank. Precision:
fp32 on CPU (this CPU has no AVX-512 BF16: a bf16 step is about 13x slower than fp32), bf16 on
GPU. On a GPU: one rank per GPU, ``--shape large`` for XLM-R Large, and ``--global-batch`` a
multiple of micro x ranks for accumulation on both sides (benchmarks/RESULTS.md: micro 32,
global 128, ``--pad-multiple 8``); the clock synchronises the GPU at every step end on both
sides, and the engine phase times are host times. Variants:

  xstilts              ``trainer.training.loop.train`` itself: TaskStream length-grouped global batches,
                       ``trainer.data.collate``, the DeepSpeed engine loop (checkpoint and export at
                       the end are switched off: only the step loop is timed)
  xstilts_full_last_layer   the same with ``model.first_token_shortcut = false``: the last
                       layer computed for every token, as HF does (what the shortcut buys)
  xstilts_compiled     the same as xstilts with ``model.compile = "inductor"`` (for GPUs; its
                       compilations, at the first batch and the first new length, normally fall
                       in the untimed warm-up steps)
  hf_max_length        ``transformers.Trainer(deepspeed=...)`` on rows padded to 128 at
                       tokenization, as the XTREME scripts do
  hf_dynamic           the same with ``DataCollatorWithPadding`` (pad to the batch's longest)
  hf_group_by_length   dynamic padding + ``train_sampling_strategy="group_by_length"`` (what
                       ``group_by_length=True`` was called before transformers 5); on pairs it
                       reads the ``length`` column, on multiple choice HF measures the rows itself
                       (``len(input_ids)``: the number of choices), as in its multiple-choice
                       example, which has no length column
  hf_group_by_length_column   multiple choice only: the same with a ``length`` column
                       (choices x longest choice, what xstilts groups by) that reaches HF's
                       sampler: ``remove_unused_columns=False`` (the Trainer otherwise drops the
                       column before building the sampler) and a collator that drops it

Launches alternate (xstilts, hf_max_length, hf_dynamic, hf_group_by_length, xstilts, ...);
each reports, after ``--warmup`` steps, real (non-pad) tokens/s and samples/s summed over ranks,
the median step time, the time inside the engine's forward / backward / step, the peak RSS of
the largest rank (and its peak GPU memory), and the load on the machine (1-minute load average before and after, and the
cores other processes kept busy). The table shows medians over the launches of each variant;
the ratio to each HF variant is the median over rounds of xstilts' tokens/s over that variant's
in the same round (neighbouring launches see about the same foreign load), with the ratio of
the medians beside it.

  python benchmarks/throughput.py [--quick] [--repeats 5] [--steps 100] [--warmup 10]
  python benchmarks/throughput.py --shape large --micro 32 --global-batch 128 --pad-multiple 8
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

# name -> (trainer, batching); both trainers use SDPA attention.
VARIANTS = {
    "xstilts": ("xstilts", "task_stream"),
    "xstilts_full_last_layer": ("xstilts", "task_stream"),
    "xstilts_compiled": ("xstilts", "task_stream"),
    "hf_max_length": ("hf", "max_length"),
    "hf_dynamic": ("hf", "dynamic"),
    "hf_group_by_length": ("hf", "group_by_length"),
    "hf_group_by_length_column": ("hf", "group_by_length"),
}
QUICK = ("xstilts", "hf_max_length", "hf_group_by_length")
PAIR_SIZES = {"xnli": 3000, "anli_plus": 6000, "pawsx": 1500}
CHOICE_SIZES = {"hellaswag": 3000, "cosmosqa": 3000}
MIX_VARIANTS = {"pairs": ("xstilts", "hf_max_length", "hf_dynamic", "hf_group_by_length",
                          "xstilts_full_last_layer", "xstilts_compiled"),
                "choice": ("xstilts", "hf_dynamic", "hf_group_by_length", "hf_group_by_length_column",
                           "xstilts_full_last_layer", "xstilts_compiled")}
DEFAULT_VARIANTS = {m: v[:4] for m, v in MIX_VARIANTS.items()}


def mix_sizes(mix: str) -> dict[str, int]:
    return PAIR_SIZES if mix == "pairs" else CHOICE_SIZES


def mix_sources(mix: str):
    from benchmarks import mixdata

    return mixdata.PAIR_MIX if mix == "pairs" else mixdata.CHOICE_MIX


MICRO, CHOICE_MICRO, RANKS, MAX_LEN = 16, 4, 2, 128
PHASES = ("forward", "backward", "step")
PHASE_KEYS = ("fwd_ms", "bwd_ms", "opt_ms")  # engine forward, backward, optimizer step
# collective -> position of the argument holding the full (unsharded) buffer
COLLECTIVES = {"all_reduce": 0, "all_reduce_coalesced": 0, "reduce": 0, "reduce_scatter": 1,
               "reduce_scatter_tensor": 1, "broadcast": 0, "all_gather": 0,
               "all_gather_into_tensor": 0, "all_gather_base": 0, "all_gather_coalesced": 0}


class StepClock:
    """Per-step wall times, token counts and time inside the DeepSpeed engine's forward,
    backward and step, of one rank. A wrapper where each trainer takes its batches feeds the
    counts; ``wrap_engine`` times the engine (the same wrappers for both trainers); the
    trainer's step-end hook ticks."""

    def __init__(self):
        self.times: list[float] = []
        self.counts: dict[str, list[int]] = {"real": [], "padded": [], "samples": []}
        self.phases: dict[str, list[float]] = {p: [] for p in PHASES}
        self._acc = {"real": 0, "padded": 0, "samples": 0}
        self._phase = dict.fromkeys(PHASES, 0.0)
        self.start = time.perf_counter()

    def count(self, mask) -> None:
        self._acc["real"] += int(mask.sum())
        self._acc["padded"] += mask.numel()
        self._acc["samples"] += mask.shape[0]

    def tick(self) -> None:
        common.sync()  # on GPU: the step's queued work is done before the clock reads it
        self.times.append(time.perf_counter() - self.start)
        for key, value in self._acc.items():
            self.counts[key].append(value)
        for key, value in self._phase.items():
            self.phases[key].append(value)
        if hasattr(self, "comm"):
            self.comm.append(self._comm)
            self._comm = {}
        self._acc = dict.fromkeys(self._acc, 0)
        self._phase = dict.fromkeys(PHASES, 0.0)

    def wrap_engine(self) -> None:
        """Time ``DeepSpeedEngine.forward/backward/step`` (class-level, so an engine built inside
        the trainer is covered)."""
        from deepspeed.runtime.engine import DeepSpeedEngine

        for name in PHASES:
            method = getattr(DeepSpeedEngine, name)

            def timed(*args, _method=method, _name=name, **kwargs):
                t0 = time.perf_counter()
                try:
                    return _method(*args, **kwargs)
                finally:
                    self._phase[_name] += time.perf_counter() - t0

            setattr(DeepSpeedEngine, name, timed)

    def wrap_comm(self) -> None:
        """Count the collectives DeepSpeed issues (``deepspeed.comm`` backend, class-level):
        per step, per collective, calls, bytes of the full (unsharded) buffer, seconds in the
        call."""
        from deepspeed.comm.torch import TorchBackend

        self.comm: list[dict] = []
        self._comm: dict[str, list[float]] = {}
        for name, arg in COLLECTIVES.items():
            method = getattr(TorchBackend, name, None)
            if method is None:
                continue

            def counted(backend, *args, _method=method, _name=name, _arg=arg, **kwargs):
                t0 = time.perf_counter()
                try:
                    return _method(backend, *args, **kwargs)
                finally:
                    tensor = args[_arg] if len(args) > _arg else next(iter(kwargs.values()))
                    tensors = tensor if isinstance(tensor, (list, tuple)) else [tensor]
                    size = sum(t.numel() * t.element_size() for t in tensors)
                    entry = self._comm.setdefault(_name, [0, 0, 0.0])
                    entry[0] += 1
                    entry[1] += size
                    entry[2] += time.perf_counter() - t0

            setattr(TorchBackend, name, counted)

    def dump(self, path: str, rank: int, extra: dict) -> None:
        common.write_json(path, {"rank": rank, "times": self.times, **self.counts,
                                 "phases": self.phases, "comm": getattr(self, "comm", []),
                                 "rss_mb": common.peak_rss_mb(), "gpu_gib": common.peak_gpu_gib(),
                                 **extra})


def _config(ws: dict, a, out: str):
    cfg = common.xstilts_config(ws, list(mix_sizes(a.mix)), out=out, micro=a.micro,
                                global_batch=a.global_batch, steps=a.steps,
                                precision=a.precision, ds_json=a.ds_json or common.DS_JSON,
                                shape=a.shape, pad_multiple=a.pad_multiple)
    cfg.run.seed = a.seed
    cfg.model.first_token_shortcut = a.variant != "xstilts_full_last_layer"
    cfg.model.compile = "inductor" if a.variant == "xstilts_compiled" else ""
    return cfg


def workspace(work: str, write: bool, mix: str = "pairs") -> dict:
    from benchmarks import mixdata

    if write:
        return common.build_workspace(work, mix_sources(mix), mix_sizes(mix), mix)
    return {"tokenizer": os.path.join(work, "tokenizer"), "root": os.path.join(work, f"data-{mix}"),
            "cache": os.path.join(work, f"cache-{mix}"),
            "tasks": {s.role: mixdata.source_task(s) for s in mix_sources(mix)}}


# ---------------------------------------------------------------- workers (one per rank)


class _Tracker:
    def scalars(self, values: dict, step: int) -> None:
        pass

    def close(self) -> None:
        pass


def worker_xstilts(a) -> None:
    """One rank of ``trainer.training.loop.train`` with a clock on the watchdog beat (once per step)."""
    import torch

    from trainer.data import streams as batches
    from trainer.data.tokenizer import load_tokenizer
    from trainer.runtime import dist
    from trainer.training import loop

    ws = workspace(a.work, write=False, mix=a.mix)
    out = os.path.join(a.work, "runs", a.tag)
    os.makedirs(out, exist_ok=True)  # the loop writes its progress file there (a command makes it)
    cfg = _config(ws, a, out)
    info = dist.discover()
    dist.init(info, "", 300, False)
    tok = load_tokenizer(cfg, info)
    clock = StepClock()
    to_device = batches.to_device

    def counting_to_device(batch, device):  # where the step takes the batch (the feeder may
        clock.count(batch["attention_mask"])  # collate it a step ahead, on GPU)
        return to_device(batch, device)

    class ClockedWatchdog(loop.Watchdog):
        def beat(self, *args, **kwargs) -> None:
            clock.tick()
            super().beat(*args, **kwargs)

    loop.to_device = counting_to_device  # the name the loop's step calls
    loop.Watchdog = ClockedWatchdog
    clock.wrap_engine()
    if a.count_comm:
        clock.wrap_comm()
    loop.save = loop.export = lambda *args, **kwargs: None  # time the step loop only
    run = loop.PhaseRun("bench", cfg.phases[0], [ws["tasks"][t] for t in mix_sizes(a.mix)], "pretrained", out)
    loop.train(cfg, run, info, _Tracker(), tok)
    clock.dump(os.path.join(a.result, f"rank{info.rank}.json"), info.rank,
               {"threads": torch.get_num_threads()})
    dist.shutdown()


def hf_features(ws: dict, cfg, tok, padded: bool, mix: str = "pairs"):
    """The mix's features (the very rows xstilts trains on) as one dataset for HF Trainer:
    input_ids, attention_mask, labels, length (xstilts' grouping length: the row's tokens, or
    choices x longest choice); optionally padded to ``MAX_LEN``."""
    import datasets

    from trainer.data.load import featurize_dataset, load_examples

    parts = []
    for role in mix_sizes(mix):
        task = ws["tasks"][role]
        ex = load_examples(task, "train", "en", cfg)
        parts.append(featurize_dataset(task, ex, tok, cfg, is_train=True)
                     .select_columns(["input_ids", "labels", "length"]))
    data = datasets.concatenate_datasets(parts)

    def pad_row(r: list[int]) -> tuple[list[int], list[int]]:
        width = MAX_LEN if padded else len(r)
        return r + [tok.pad_token_id] * (width - len(r)), [1] * len(r) + [0] * (width - len(r))

    def add_mask(batch: dict) -> dict:
        if mix == "pairs":
            ids, mask = zip(*(pad_row(r) for r in batch["input_ids"]))
        else:  # one list per choice
            rows = [[pad_row(c) for c in row] for row in batch["input_ids"]]
            ids = [[c[0] for c in row] for row in rows]
            mask = [[c[1] for c in row] for row in rows]
        return {"input_ids": list(ids), "attention_mask": list(mask)}

    return data.map(add_mask, batched=True, desc="hf rows")


def worker_hf(a) -> None:
    """One rank of ``transformers.Trainer`` with DeepSpeed, a clock in ``on_step_end``."""
    import datasets
    import torch
    import transformers as tf

    ws = workspace(a.work, write=False, mix=a.mix)
    cfg = _config(ws, a, os.path.join(a.work, "runs", a.tag))
    tok = tf.AutoTokenizer.from_pretrained(ws["tokenizer"])
    import deepspeed

    # the shared-memory all-reduce op serves inference only; skip its JIT build (xstilts does too)
    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    _, batching = VARIANTS[a.variant]
    padded = batching == "max_length"
    data = datasets.load_from_disk(os.path.join(a.work, "hf", a.mix, "padded" if padded else "dynamic"))
    choice = a.mix == "choice"
    if choice and a.variant != "hf_group_by_length_column":
        data = data.remove_columns("length")  # HF then measures len(input_ids) itself
    clock = StepClock()
    if padded:
        base = tf.default_data_collator
    else:
        base = (tf.DataCollatorForMultipleChoice if choice else tf.DataCollatorWithPadding)(
            tok, pad_to_multiple_of=a.pad_multiple or None)

    keep_length = a.variant == "hf_group_by_length_column"

    def collator(rows: list[dict]) -> dict:
        if keep_length:  # the sampler has read it; the model must not see it
            rows = [{k: v for k, v in r.items() if k != "length"} for r in rows]
        batch = base(rows)
        clock.count(batch["attention_mask"])
        return batch

    class Tick(tf.TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            clock.tick()

    o = cfg.optim
    gpu = torch.cuda.is_available()
    args = tf.TrainingArguments(
        output_dir=os.path.join(a.work, "runs", a.tag), per_device_train_batch_size=a.micro,
        gradient_accumulation_steps=a.global_batch // (a.micro * a.ranks), max_steps=a.steps,
        learning_rate=o.lr,
        weight_decay=o.weight_decay, adam_beta1=o.betas[0], adam_beta2=o.betas[1],
        adam_epsilon=o.eps, max_grad_norm=o.clip, warmup_steps=int(round(o.warmup_ratio * a.steps)),
        bf16=a.precision == "bf16", deepspeed=common.filled_ds_config(cfg, a.ranks, a.steps),
        train_sampling_strategy="group_by_length" if batching == "group_by_length" else "random",
        length_column_name="length", logging_steps=cfg.run.log_every, save_strategy="no",
        # Trainer drops the columns forward() does not take before it builds the sampler, so a
        # length column reaches group_by_length only when nothing is dropped
        remove_unused_columns=not keep_length,
        report_to=[], disable_tqdm=True, seed=a.seed, dataloader_num_workers=0,
        use_cpu=not gpu)
    torch.manual_seed(a.seed)
    shape = {"vocab_size": len(tok), **common.SHAPES[a.shape]}
    config = tf.XLMRobertaConfig(pad_token_id=tok.pad_token_id, num_labels=3, **shape)
    config._attn_implementation = "sdpa"
    model = (tf.XLMRobertaForMultipleChoice if choice else tf.XLMRobertaForSequenceClassification)(config)
    clock.wrap_engine()
    trainer = tf.Trainer(model=model, args=args, train_dataset=data, data_collator=collator,
                         callbacks=[Tick()])
    trainer.train()
    rank = int(os.environ.get("RANK", "0"))
    clock.dump(os.path.join(a.result, f"rank{rank}.json"), rank,
               {"params": sum(p.numel() for p in model.parameters()),
                "threads": torch.get_num_threads()})
    # leave the process group before the interpreter exits: torn down at exit, gloo's threads
    # can abort the process after the work is done
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


# ---------------------------------------------------------------- driver


def prepare(a) -> None:
    """Write the mix, tokenize it once (the xstilts cache), save the HF datasets to disk; a
    workspace prepared before (``prepared.json`` naming the same sizes) is reused as it is, so
    a prepared folder can be copied to a machine without the real samples."""
    from trainer.data.tokenizer import load_tokenizer_from

    marker = os.path.join(a.work, "hf", a.mix, "prepared.json")
    if os.path.isfile(marker) and common.read_json(marker) == mix_sizes(a.mix):
        print(f"# reusing the prepared workspace {os.path.dirname(marker)}", flush=True)
        return
    ws = workspace(a.work, write=True, mix=a.mix)
    cfg = _config(ws, a, os.path.join(a.work, "runs", "prepare"))
    tok = load_tokenizer_from(ws["tokenizer"])
    for padded in (False, True) if a.mix == "pairs" else (False,):
        hf_features(ws, cfg, tok, padded, a.mix).save_to_disk(
            os.path.join(a.work, "hf", a.mix, "padded" if padded else "dynamic"))
    common.write_json(marker, mix_sizes(a.mix))


def summarize(result_dir: str, warmup: int) -> dict:
    """Figures of one launch from its ranks' clocks (steps after ``warmup``)."""
    ranks = [common.read_json(p) for p in sorted(glob.glob(os.path.join(result_dir, "rank*.json")))]
    if not ranks:
        raise RuntimeError(f"no rank results in {result_dir}")
    w = warmup
    elapsed = max(r["times"][-1] - r["times"][w - 1] for r in ranks)
    steps = len(ranks[0]["times"]) - w
    real = sum(sum(r["real"][w:]) for r in ranks)
    padded = sum(sum(r["padded"][w:]) for r in ranks)
    samples = sum(sum(r["samples"][w:]) for r in ranks)
    t = ranks[0]["times"][w - 1:]
    step_ms = common.median([(b - a) * 1000 for a, b in zip(t, t[1:])])
    row = {"tokens_per_s": real / elapsed, "samples_per_s": samples / elapsed,
           "step_ms": step_ms, "mean_step_ms": elapsed / steps * 1000,
           "padding_efficiency": real / padded, "rss_mb": max(r["rss_mb"] for r in ranks),
           "gpu_gib": max((r.get("gpu_gib") or 0.0) for r in ranks),
           "real_tokens_per_sample": real / samples, "steps": steps}
    for phase, key in zip(PHASES, PHASE_KEYS):  # mean ms per step inside the engine (rank 0)
        row[key] = sum(ranks[0]["phases"][phase][w:]) / steps * 1000
    row["other_ms"] = row["mean_step_ms"] - sum(row[k] for k in PHASE_KEYS)
    return row


def one_launch(a, variant: str, rep: int) -> dict:
    tag = f"{variant}-{rep}"
    result = os.path.join(a.work, "results", tag)
    for old in glob.glob(os.path.join(result, "rank*.json")):
        os.remove(old)
    args = ["--worker", "--variant", variant, "--work", a.work, "--result", result, "--tag", tag,
            "--steps", str(a.steps), "--micro", str(a.micro), "--ranks", str(a.ranks),
            "--global-batch", str(a.global_batch), "--mix", a.mix, "--shape", a.shape,
            "--pad-multiple", str(a.pad_multiple)]
    args += ["--count-comm"] if a.count_comm else []
    if a.ds_json:
        args += ["--ds-json", a.ds_json]
    # round i of every variant uses seed SEED + i: the same batches within a round, other
    # batches in the next, so the timed windows of a variant are not all the same data
    args += ["--precision", a.precision, "--seed", str(common.SEED + rep)]
    t0 = time.perf_counter()
    load = common.launch(os.path.abspath(__file__), args, a.ranks,
                         log=os.path.join(a.work, "logs", f"{tag}.log"))
    row = summarize(result, a.warmup)
    row["launch_s"] = time.perf_counter() - t0
    row.update(load)
    return row


def table(runs: dict[str, list[dict]]) -> dict[str, dict]:
    """Median of every figure over the launches of each variant."""
    return {v: {k: common.median([r[k] for r in rows]) for k in rows[0]} for v, rows in runs.items()}


def report(med: dict[str, dict], runs: dict[str, list[dict]]) -> dict:
    print(f"{'variant':<20}{'real tok/s':>11}{'samples/s':>10}{'step ms':>8}{'fwd':>6}{'bwd':>6}"
          f"{'opt':>6}{'other':>6}{'pad eff':>8}{'RSS MiB':>8}{'GPU GiB':>8}{'foreign':>8}  launches: tok/s "
          f"(load1 before-after)")
    for v, m in med.items():
        each = " ".join(f"{r['tokens_per_s']:.0f} ({r['load1_before']:.1f}-{r['load1_after']:.1f})"
                        for r in runs[v])
        print(f"{v:<20}{m['tokens_per_s']:>11.0f}{m['samples_per_s']:>10.1f}{m['mean_step_ms']:>8.1f}"
              f"{m['fwd_ms']:>6.1f}{m['bwd_ms']:>6.1f}{m['opt_ms']:>6.1f}"
              f"{m['other_ms']:>6.1f}{m['padding_efficiency']:>8.3f}{m['rss_mb']:>8.0f}{m['gpu_gib']:>8.1f}"
              f"{m['foreign_cores']:>8.2f}  {each}")
    ratios, paired = {}, {}
    for v in med:
        if v == "xstilts" or "xstilts" not in med:
            continue
        ratios[v] = med["xstilts"]["tokens_per_s"] / med[v]["tokens_per_s"]
        # launch i of xstilts against launch i of v: neighbours in time, so under about the same
        # foreign load; the median of these is the headline (robust to the load drifting)
        paired[v] = common.median([x["tokens_per_s"] / h["tokens_per_s"]
                                   for x, h in zip(runs["xstilts"], runs[v])])
        print(f"  real tokens/s xstilts / {v}: {paired[v]:.2f}x (median of paired launches; "
              f"ratio of medians {ratios[v]:.2f}x)")
    return {"ratio_vs_hf_trainer": paired.get("hf_max_length"),
            "ratio_vs_hf_trainer_best": paired.get("hf_group_by_length"),
            "paired_ratios": paired, "ratios_of_medians": ratios, "median": med, "launches": runs}


def run(a) -> dict:
    """Prepare once, then alternate launches of every variant ``repeats`` times."""
    print(f"# throughput: {a.repeats} x {len(a.variants)} launches, {a.steps} steps "
          f"({a.warmup} warm-up), micro {a.micro} x {a.ranks} ranks, {a.precision}; "
          f"{common.machine()}")
    prepare(a)
    runs: dict[str, list[dict]] = {v: [] for v in a.variants}
    for rep in range(a.repeats):
        for v in a.variants:
            if a.quick and rep and v == "hf_max_length":
                continue  # the weakest baseline, far behind: one launch is enough for --quick
            runs[v].append(one_launch(a, v, rep))
            r = runs[v][-1]
            print(f"  {v} #{rep}: {r['tokens_per_s']:.0f} real tok/s, {r['step_ms']:.1f} ms/step "
                  f"(median), load1 {r['load1_before']:.2f} -> {r['load1_after']:.2f}", flush=True)
    return report(table(runs), runs)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 launches of xstilts and "
                   "hf_group_by_length, 1 of hf_max_length, 12 steps")
    p.add_argument("--repeats", type=int, default=0, help="launches per variant (default 5; 2 quick)")
    p.add_argument("--steps", type=int, default=0, help="steps per launch (default 100; 12 quick)")
    p.add_argument("--warmup", type=int, default=0, help="untimed first steps (default 10; 3 quick)")
    p.add_argument("--variants", nargs="+", default=None, choices=list(VARIANTS),
                   help="default: all four; --quick: the three the headline ratios need")
    p.add_argument("--precision", default="", choices=["", "fp32", "bf16"],
                   help="default fp32 on CPU (bf16 matmuls are emulated without AVX-512 BF16), "
                   "bf16 on GPU")
    p.add_argument("--ds-json", default="", help="DeepSpeed JSON for both trainers "
                   "(default ds_configs/zero2_bf16.json)")
    p.add_argument("--work", default=os.path.join(common.default_work(), "throughput"))
    p.add_argument("--mix", default="pairs", choices=list(MIX_VARIANTS),
                   help="pairs: XNLI + ANLI+ + PAWS-X; choice: HellaSwag + Cosmos QA")
    p.add_argument("--micro", type=int, default=0, help=f"rows per rank (default {MICRO}; "
                   f"{CHOICE_MICRO} for the choice mix, {CHOICE_MICRO * 4} sequences)")
    p.add_argument("--ranks", type=int, default=0, help=f"default {RANKS} on CPU, one per GPU")
    p.add_argument("--global-batch", type=int, default=0, help="default micro x ranks (no "
                   "accumulation); a multiple of it accumulates micro-batches on both trainers")
    p.add_argument("--pad-multiple", type=int, default=0, help="both trainers round each "
                   "batch's length up to a multiple of this (0: the longest row); on GPU 8 keeps "
                   "the number of distinct shapes small")
    p.add_argument("--shape", default="small", choices=list(common.SHAPES),
                   help="small: the 5.4M-parameter CPU encoder; large: XLM-R Large (GPU)")
    p.add_argument("--count-comm", action="store_true", help="count DeepSpeed's collectives")
    p.add_argument("--json", default="", help="also write the figures to this file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--variant", default="xstilts", help=argparse.SUPPRESS)
    p.add_argument("--result", default="", help=argparse.SUPPRESS)
    p.add_argument("--tag", default="", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=common.SEED, help=argparse.SUPPRESS)
    p.add_argument("--local_rank", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.repeats = a.repeats or (2 if a.quick else 5)
    a.steps = a.steps or (12 if a.quick else 100)
    a.warmup = a.warmup or (3 if a.quick else 10)
    a.micro = a.micro or (MICRO if a.mix == "pairs" else CHOICE_MICRO)
    if not a.ranks:
        import torch

        a.ranks = torch.cuda.device_count() or RANKS
    a.global_batch = a.global_batch or a.micro * a.ranks
    if a.global_batch % (a.micro * a.ranks):
        p.error(f"--global-batch {a.global_batch} is not a multiple of micro x ranks = {a.micro * a.ranks}")
    a.variants = a.variants or list(QUICK if a.quick and a.mix == "pairs" else DEFAULT_VARIANTS[a.mix])
    wrong = [v for v in a.variants if v not in MIX_VARIANTS[a.mix]]
    if wrong:
        p.error(f"variants {wrong} do not apply to the {a.mix} mix (its variants: {MIX_VARIANTS[a.mix]})")
    if not a.precision:
        import torch

        a.precision = "bf16" if torch.cuda.is_available() else "fp32"
    return a


def main(argv: list[str] | None = None) -> dict | None:
    a = parse(argv)
    if a.worker:
        (worker_xstilts if VARIANTS[a.variant][0] == "xstilts" else worker_hf)(a)
        return None
    out = run(a)
    if a.json:
        common.write_json(a.json, out)
    return out


if __name__ == "__main__":
    main()
