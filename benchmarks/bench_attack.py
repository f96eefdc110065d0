"""Model-aware attacks on the demo's synthetic PAWS-X: does the search beat blind edits, do 1 and 2
ranks give the same adversarial set, and how evenly do 2 ranks share the attack work?

Runs ``xstilts evaluate EXPORT --tasks synth_pawsx --attack ...`` on the demo's PAWS-X export
(``xstilts demo`` writes it to RUN/target/synth_pawsx/export) as one plain process and as 2 ranks
under the deepspeed launcher (one thread per rank), with every kind at one budget and the
demo's concept lexicon as the code-mix dictionary. Reports, per language, the accuracy drop of
each setting; whether each greedy attack drops accuracy more than its matched blind baseline
(char_greedy vs random_char, codemix_greedy vs random_codemix) in every language; whether the
two runs' robustness.json attacks and adversarial files are identical; and the attack pass's
balance on 2 ranks (slowest rank's busy time / mean, from robustness.json) with wall times.

  python benchmarks/bench_attack.py RUN_DIR [--budget 0.2] [--queries 200] [--work DIR] [--json OUT]

The last line printed is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
KINDS = ["char_greedy", "codemix_greedy", "random_char", "random_codemix", "random"]
PAIRS = {"char_greedy": "random_char", "codemix_greedy": "random_codemix"}


def run(cmd: list[str], log: str) -> float:
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    t0 = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.call(cmd, env=env, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if rc:
        sys.exit(f"{' '.join(cmd)} failed (rc {rc}); see {log}")
    return time.perf_counter() - t0


def files(folder: str) -> dict[str, bytes]:
    out = {}
    for base, _, names in os.walk(os.path.join(folder, "adversarial")):
        for name in names:
            with open(os.path.join(base, name), "rb") as f:
                out[os.path.relpath(os.path.join(base, name), folder)] = f.read()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", help="a finished `xstilts demo` run folder")
    ap.add_argument("--budget", type=float, default=0.2)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--work", default=None)
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()
    export = os.path.join(args.run, "target", "synth_pawsx", "export")
    with open(os.path.join(args.run, "config.json")) as f:
        lexicon = os.path.join(json.load(f)["data"]["root"], "synth", "lexicon.tsv")
    work = args.work or tempfile.mkdtemp(prefix="bench_attack_")
    os.makedirs(work, exist_ok=True)
    common = [export, "--tasks", "synth_pawsx", "--attack", *KINDS, "--attack-budget", str(args.budget),
              "--attack-queries", str(args.queries), "--lexicon", lexicon]
    outs, wall = {}, {}
    for name, launch in (("1 rank", [sys.executable, "-m", "trainer.cli", "evaluate"]),
                         ("2 ranks", [os.path.join(BIN, "deepspeed"), "--num_gpus", "2", "--module", "trainer.cli",
                                      "evaluate"])):
        outs[name] = os.path.join(work, name.replace(" ", "_"))
        wall[name] = run([*launch, *common, "--out", outs[name]], outs[name] + ".log")
    reports = {}
    for name, folder in outs.items():
        with open(os.path.join(folder, "robustness.json")) as f:
            reports[name] = json.load(f)
    one = reports["1 rank"]
    drops = {s: {lang: round(r["drop"], 2) for lang, r in t["synth_pawsx"].items()} for s, t in one["attacks"].items()}
    clean = {lang: r["clean"] for lang, r in next(iter(one["attacks"].values()))["synth_pawsx"].items()}
    tag = lambda kind: f"{kind}@{args.budget:g}"  # noqa: E731
    beats = {g: all(drops[tag(g)][lang] > drops[tag(r)][lang] for lang in clean) for g, r in PAIRS.items()}
    beats_random = {g: all(drops[tag(g)][lang] > drops[tag("random")][lang] for lang in clean) for g in PAIRS}
    passes = reports["2 ranks"]["attack_config"]["passes"]
    summary = {
        "budget": args.budget, "max_queries": args.queries, "clean": clean, "drop": drops,
        "success_rate": {s: round(t["synth_pawsx"]["avg"]["success_rate"], 1) if "avg" in t["synth_pawsx"] else
                         round(reports["1 rank"]["attack_averages"][s]["synth_pawsx"]["success_rate"], 1)
                         for s, t in one["attacks"].items()},
        "queries": {s: round(one["attack_averages"][s]["synth_pawsx"]["queries"], 1) for s in one["attacks"]},
        "greedy_beats_matched_random_everywhere": beats, "greedy_beats_mixed_random_everywhere": beats_random,
        "identical_1_vs_2_ranks": one["attacks"] == reports["2 ranks"]["attacks"] and
        files(outs["1 rank"]) == files(outs["2 ranks"]),
        "balance_2_ranks": [round(p["balance"], 3) for p in passes],
        "busy_s_2_ranks": [[round(b, 1) for b in p["busy_s"]] for p in passes],
        "wall_s": {k: round(v, 1) for k, v in wall.items()},
    }
    for s, langs in drops.items():
        print(f"{s:22s} " + "  ".join(f"{lang} {d:6.2f}" for lang, d in langs.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
