"""The distributed evaluator on 1 and on 2 CPU ranks: speed-up, balance, identical scores; and
the memory of BUCC-sized retrieval mining.

The plan: PAN-X-style tagging in 10 languages of very different sizes (50 to 2,000 sentences,
and shorter or longer sentences per language), XNLI-style pairs in 5 languages (150 to 1,200)
and Tatoeba-style retrieval in 9 languages (100 to 500 pairs), scored by ``xstilts evaluate`` with an export of an
XLM-R-shaped encoder (4 layers, hidden 256, 4 heads, FFN 1024; random weights: speed does not
depend on them). The same plan runs as one plain process and as 2 ranks under the deepspeed
launcher, each rank with one thread (``OMP_NUM_THREADS=1``), after one warm-up run that fills
the tokenized-data cache. Figures come from each run's ``eval_stats.json``:

  evaluation  seconds of ``evaluate_export`` on rank 0: load, prepare, run, gather, score
  inference   the parallel section: the ranks' items, the wait for the slowest, the gather
  balance     the slowest rank's busy time / the mean busy time (1.0 = perfect)

``--one-item-per-set`` adds a 2-rank run with ``--chunk-tokens 0`` (a whole language per
item), to show what chunking by tokens buys. The mining part embeds nothing: it mines 50,000 x
50,000 random unit vectors of dimension 64 in a fresh process and reports the peak RSS growth
against the 9.3 GiB a full similarity matrix would take.

  python benchmarks/bench_eval.py [--work DIR] [--repeats 3] [--chunk-tokens N] [--one-item-per-set]
                                 [--skip-scaling] [--skip-mining]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ENCODER = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
           "intermediate_size": 1024, "max_position_embeddings": 514}
# --languages is one list for every task, so each task's languages are the PAN-X ones it has
PANX = dict(zip("ms jv he id ta ar bg de el es".split(),
                [50, 80, 130, 200, 320, 500, 750, 1000, 1400, 2000]))
PANX_WORDS = dict(zip(PANX, [(4, 30), (3, 10), (6, 20), (4, 14), (8, 36), (3, 12), (5, 18),
                             (4, 10), (6, 24), (3, 16)]))
XNLI = {"ar": 150, "bg": 300, "de": 600, "el": 900, "es": 1200}
TATOEBA = dict(zip("jv he id ta ar bg de el es".split(), [100, 150, 200, 250, 300, 350, 400, 450, 500]))
TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


def lexicon(n: int = 3000, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
            for _ in range(n)]


def write_data(root: str, words: list[str]) -> list[str]:
    """The plan's evaluation files under ``root``; returns sample texts for the tokenizer."""
    from trainer.tasks.formats import to_iso3

    rng = random.Random(1)
    texts = []

    def sent(lo: int, hi: int) -> list[str]:
        return [rng.choice(words) for _ in range(rng.randint(lo, hi))]

    def put(path: str, text: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    for lang, n in PANX.items():
        blocks = ["\n".join(f"{w}\t{rng.choice(TAGS)}" for w in sent(*PANX_WORDS[lang])) for _ in range(n)]
        put(os.path.join(root, "panx", f"dev-{lang}.tsv"), "\n\n".join(blocks) + "\n")
    for lang, n in XNLI.items():
        rows = [(" ".join(sent(8, 30)), " ".join(sent(4, 14))) for _ in range(n)]
        texts += [a for a, _ in rows[:200]]
        put(os.path.join(root, "xnli", f"dev-{lang}.tsv"),
            "".join(f"{a}\t{b}\t{('entailment', 'neutral', 'contradiction')[i % 3]}\n"
                    for i, (a, b) in enumerate(rows)))
    for lang, n in TATOEBA.items():
        src = [" ".join(sent(4, 16)) for _ in range(n)]
        base = os.path.join(root, "tatoeba", "v1", f"tatoeba.{to_iso3(lang)}-eng")
        put(f"{base}.{to_iso3(lang)}", "\n".join(src) + "\n")
        put(f"{base}.eng", "\n".join(" ".join(s.split()[::-1]) for s in src) + "\n")
    return texts


def build_export(work: str) -> str:
    """Data, tokenizer and export of the plan under ``work`` (reused when present)."""
    from trainer.config import from_dict, to_dict
    from trainer.model.build import build_model
    from trainer.model.export import save_export
    from trainer.model.multitask import HeadSpec
    from trainer.synth.toy_tokenizer import build_tokenizer

    export = os.path.join(work, "export")
    if os.path.isfile(os.path.join(export, "xstilts.json")):
        return export
    data, tok_dir = os.path.join(work, "data"), os.path.join(work, "tok")
    texts = write_data(data, lexicon())
    tok = build_tokenizer(texts, vocab_size=4000, out_dir=tok_dir)
    langs = sorted(PANX)
    cfg = from_dict({
        "run": {"name": "bench-eval", "out": os.path.join(work, "run")},
        "model": {"name": "", "tokenizer": tok_dir, "retrieval_layer": 2,
                  "init_config": {**ENCODER, "vocab_size": len(tok), "pad_token_id": tok.pad_token_id}},
        "data": {"root": data, "max_length": 128},
        "tracking": {"tensorboard": False},
        "eval": {"split": "dev", "languages": langs, "batch_size": 32},
        "phases": [{"name": "target", "tasks": ["panx"], "evaluate": True}]})
    heads = {"panx": HeadSpec("tagging", 7, ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]),
             "nli": HeadSpec("classification", 3, ["entailment", "neutral", "contradiction"])}
    model = build_model(cfg.model, heads, {"panx": "panx", "xnli": "nli"})
    save_export(model.float(), export, tok, phase="target", step=1, config=to_dict(cfg))
    return export


def evaluate(export: str, out: str, ranks: int, chunk_tokens: int | None, log: str) -> dict:
    """One ``xstilts evaluate`` run; its stats plus the command's wall time and foreign load."""
    from benchmarks.common import ForeignLoad
    from trainer.runtime.dist import free_port

    args = ["evaluate", export, "--out", out, "--tasks", "panx", "xnli", "tatoeba"]
    if chunk_tokens is not None:
        args += ["--chunk-tokens", str(chunk_tokens)]
    cmd = ([os.path.join(os.path.dirname(sys.executable), "deepspeed"), "--num_gpus", str(ranks),
            "--master_port", str(free_port()), "--module", "trainer.cli"] if ranks > 1
           else [sys.executable, "-m", "trainer.cli"]) + args
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", PYTHONPATH=ROOT)
    t0 = time.perf_counter()
    with open(log, "w") as sink, ForeignLoad() as load:
        rc = subprocess.call(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
    if rc:
        raise RuntimeError(f"{' '.join(cmd)} failed ({rc}); log: {log}")
    with open(os.path.join(out, "eval_stats.json")) as f:
        stats = next(iter(json.load(f).values()))
    return {**stats, "command_s": time.perf_counter() - t0, "foreign_cores": load.cores}


def same_scores(a: str, b: str) -> bool:
    """Identical results (every score) and byte-identical prediction files."""
    def files(root: str) -> dict:
        out = {}
        for base, _, names in os.walk(os.path.join(root, "predictions")):
            for n in names:
                with open(os.path.join(base, n), "rb") as f:
                    out[os.path.relpath(os.path.join(base, n), root)] = f.read()
        return out

    with open(os.path.join(a, "results.json")) as fa, open(os.path.join(b, "results.json")) as fb:
        return json.load(fa)["tasks"] == json.load(fb)["tasks"] and files(a) == files(b)


def scaling(work: str, repeats: int, chunk_tokens: int | None, one_item: bool) -> dict:
    export = build_export(work)
    log = os.path.join(work, "logs")
    os.makedirs(log, exist_ok=True)
    evaluate(export, os.path.join(work, "warmup"), 1, chunk_tokens, os.path.join(log, "warmup.log"))
    runs: dict[str, list[dict]] = {"1 rank": [], "2 ranks": []}
    for r in range(repeats):  # interleaved, so that a change in machine load hits both alike
        for name, ranks in (("1 rank", 1), ("2 ranks", 2)):
            out = os.path.join(work, f"out-{ranks}-{r}")
            runs[name].append(evaluate(export, out, ranks, chunk_tokens, os.path.join(log, f"{ranks}-{r}.log")))
    identical = all(same_scores(os.path.join(work, "out-1-0"), os.path.join(work, f"out-{k}-{r}"))
                    for k in (1, 2) for r in range(repeats))
    if one_item:
        out = os.path.join(work, "out-2-whole")
        runs["2 ranks, one item per set"] = [evaluate(export, out, 2, 0, os.path.join(log, "whole.log"))]
    return {"runs": runs, "identical": identical}


def mining(n: int = 50_000, dim: int = 64) -> dict:
    """Peak RSS growth and time of margin mining n x n in a fresh process."""
    code = f"""
import time
import numpy as np
from eval import retrieval_metrics as rm
rng = np.random.default_rng(0)
def unit():
    x = rng.standard_normal(({n}, {dim})).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)
src, trg = unit(), unit()
def peak_kib():  # VmHWM: peak RSS of this process image (ru_maxrss would carry the parent's over exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
before = peak_kib()
t0 = time.perf_counter()
cands = rm.bucc_candidates(src, trg, list(range({n})), list(range({n})))
print(len(cands), time.perf_counter() - t0, (peak_kib() - before) / 1024)
"""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    return {"n": n, "dim": dim, "candidates": int(out[0]), "seconds": float(out[1]),
            "rss_growth_mib": float(out[2]), "full_matrix_gib": n * n * 4 / 2 ** 30}


def planned_balance(work: str, chunk_tokens: int | None, worlds=(2, 4, 8, 16, 32)) -> dict:
    """Planned balance (largest rank load / mean load, in tokens) of this plan on more ranks than
    the machine has: items of ``chunk_tokens`` against one item per (task, language) set."""
    from eval.evaluator import assign
    from trainer.config import from_dict
    from trainer.data.tokenizer import load_tokenizer_from
    from trainer.evaluation.predict import Predictor, plan_items
    from trainer.model.export import load_export, read_export_meta
    from trainer.tasks import get_task

    export = build_export(work)
    cfg = from_dict(read_export_meta(export)["config"])
    cfg.data.cache_dir = os.path.join(work, "warmup", "cache")
    tasks = [get_task(t) for t in ("panx", "xnli", "tatoeba")]
    pred = Predictor(load_export(export), load_tokenizer_from(export), cfg, {t.name: t for t in tasks}, "dev")
    out = {}
    for name, budget in (("chunked", cfg.eval.chunk_tokens if chunk_tokens is None else chunk_tokens),
                         ("one item per set", 0)):
        _, items = plan_items(pred, tasks, cfg.eval.languages, budget)
        loads = {w: [sum(i.cost for i in part) for part in assign(items, w)] for w in worlds}
        out[name] = {"items": len(items), **{w: max(l) * w / sum(l) for w, l in loads.items()}}
    return out


def med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def table(result: dict) -> str:
    runs = result["runs"]
    lines = ["| setting | evaluation (s) | inference (s) | command (s) | balance | items per rank | "
             "foreign load (cores) |", "|---|---:|---:|---:|---:|---|---:|"]
    for name, rows in runs.items():
        lines.append(f"| {name} | {med(rows, 'wall_s'):.1f} | {med(rows, 'run_s'):.1f} | "
                     f"{med(rows, 'command_s'):.1f} | {med(rows, 'balance'):.3f} | "
                     f"{' / '.join(map(str, rows[0]['items']))} | {med(rows, 'foreign_cores'):.2f} |")
    one, two = runs["1 rank"], runs["2 ranks"]
    balances = ", ".join(f"{r['balance']:.3f}" for r in two)
    lines += ["", f"Speed-up, 2 ranks over 1 (medians): evaluation {med(one, 'wall_s') / med(two, 'wall_s'):.2f}x, "
              f"inference {med(one, 'run_s') / med(two, 'run_s'):.2f}x, command "
              f"{med(one, 'command_s') / med(two, 'command_s'):.2f}x. Balance of every 2-rank run: "
              f"{balances}. Scores and prediction files of all runs identical: "
              f"{'yes' if result['identical'] else 'NO'}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "xstilts-bench-eval"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk-tokens", type=int, default=None, help="default: eval.chunk_tokens")
    ap.add_argument("--one-item-per-set", action="store_true")
    ap.add_argument("--skip-mining", action="store_true")
    ap.add_argument("--skip-scaling", action="store_true")
    args = ap.parse_args(argv)
    from benchmarks.common import machine

    print(f"machine: {machine()}", flush=True)
    result: dict = {"identical": True}
    if not args.skip_scaling:
        result = scaling(args.work, args.repeats, args.chunk_tokens, args.one_item_per_set)
        print(table(result), flush=True)
    if not args.skip_scaling:
        result["planned"] = planned = planned_balance(args.work, args.chunk_tokens)
        print("\nplanned balance (largest load / mean, tokens) on more ranks:")
        for name, row in planned.items():
            print(f"  {name} ({row['items']} items): " + ", ".join(
                f"{w} ranks {v:.3f}" for w, v in row.items() if w != "items"))
    if not args.skip_mining:
        result["mining"] = m = mining()
        print(f"\nmining {m['n']:,} x {m['n']:,} (dim {m['dim']}): {m['seconds']:.1f} s, peak RSS "
              f"+{m['rss_growth_mib']:.0f} MiB (a full similarity matrix: {m['full_matrix_gib']:.1f} GiB)")
    os.makedirs(args.work, exist_ok=True)
    with open(os.path.join(args.work, "bench_eval.json"), "w") as f:
        json.dump(result, f, indent=1)
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
