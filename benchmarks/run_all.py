"""Run every benchmark and print the headline figures.

  python benchmarks/run_all.py [--quick] [--work DIR]

Runs, in turn: padding efficiency (``padding.py``, no training), preprocessing (``preprocess.py``:
cold, warm, 2 ranks), and training throughput side by side with HF Trainer + DeepSpeed
(``throughput.py``), and without ``--quick`` also the same side by side on the multiple-choice
mix (``throughput.py --mix choice``). ``--quick`` runs each at a size that fits in about 5
minutes on 2 CPU cores; without it, the full sizes. The full figures go to
``DIR/run_all.json``; the last line printed is one JSON object with the headline figures:

  ratio_vs_hf_trainer       real tokens/s of xstilts / HF Trainer + DeepSpeed, max_length padding
  ratio_vs_hf_trainer_best  the same against HF's best setup (group_by_length)
  ratio_vs_hf_trainer_choice         multiple-choice mix, against HF's group_by_length as it
                                     ships (full run only; null with --quick)
  ratio_vs_hf_trainer_choice_column  the same against HF given a length column (full run only)
  padding_efficiency        real / computed tokens on the 9-task intermediate mix (micro 4)
  preprocess_rerun_share    a re-run over the tokenized cache, as a share of the first run
  mfu                       model FLOPs utilization of XLM-R Large at 128 tokens (``mfu.py``),
                            on GPU only; null on CPU

On a GPU the side by side trains XLM-R Large (``--shape large``, global batch 128 in one
micro-batch of 128 rows on both sides, as ``deepspeed.micro_batch = 0`` does on one GPU: at
micro 32 the H200 runs were bound by the host; lengths rounded up to a multiple of 8 on both
sides, one rank) and ``mfu.py`` runs too (all three lengths; 128 only with ``--quick``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common, mfu, padding, preprocess, throughput  # noqa: E402

GPU_THROUGHPUT = ["--shape", "large", "--micro", "128", "--global-batch", "128", "--ranks", "1",
                  "--pad-multiple", "8"]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="every benchmark at its quick size")
    p.add_argument("--work", default=common.default_work(), help="scratch folder")
    a = p.parse_args(argv)
    quick = ["--quick"] if a.quick else []
    t0 = time.perf_counter()
    print(f"# run_all{' --quick' if a.quick else ''}: {common.machine()}; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    figures = {}
    gpu = common.gpu_available()
    for name, module in (("padding", padding), ("preprocess", preprocess), ("throughput", throughput)):
        t = time.perf_counter()
        extra = GPU_THROUGHPUT if gpu and module is throughput else []
        figures[name] = module.main(quick + extra + ["--work", os.path.join(a.work, name)])
        figures[name]["seconds"] = time.perf_counter() - t
        print(f"# {name}: {figures[name]['seconds']:.0f} s", flush=True)
    if gpu:
        t = time.perf_counter()
        figures["mfu"] = mfu.main(["--seqs", "128", "--steps", "4", "--warmup", "2"] if a.quick else [])
        figures["mfu"]["seconds"] = time.perf_counter() - t
        print(f"# mfu: {figures['mfu']['seconds']:.0f} s", flush=True)
    choice = {}
    if not a.quick:
        t = time.perf_counter()
        choice = figures["throughput_choice"] = throughput.main(
            (GPU_THROUGHPUT[:2] + ["--ranks", "1", "--pad-multiple", "8"] if gpu else [])
            + ["--mix", "choice", "--repeats", "3", "--steps", "40", "--warmup", "5",
             "--work", os.path.join(a.work, "throughput")])
        choice["seconds"] = time.perf_counter() - t
        print(f"# throughput, multiple-choice mix: {choice['seconds']:.0f} s", flush=True)
    common.write_json(os.path.join(a.work, "run_all.json"), figures)
    headline = {
        "ratio_vs_hf_trainer": _round(figures["throughput"]["ratio_vs_hf_trainer"]),
        "ratio_vs_hf_trainer_best": _round(figures["throughput"]["ratio_vs_hf_trainer_best"]),
        "ratio_vs_hf_trainer_choice": _round(choice.get("ratio_vs_hf_trainer_best")),
        "ratio_vs_hf_trainer_choice_column": _round(
            choice.get("paired_ratios", {}).get("hf_group_by_length_column")),
        "padding_efficiency": _round(figures["padding"]["padding_efficiency"]),
        "preprocess_rerun_share": _round(figures["preprocess"]["preprocess_rerun_share"]),
        "mfu": _round(figures["mfu"]["mfu"].get("cls@128")) if gpu else None,
    }
    print(f"# all benchmarks: {time.perf_counter() - t0:.0f} s, load average "
          f"{os.getloadavg()[0]:.2f}; details in {os.path.join(a.work, 'run_all.json')}")
    print(json.dumps(headline))
    return headline


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


if __name__ == "__main__":
    main()
