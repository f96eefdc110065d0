"""`xstilts report RUN...`: mean and standard deviation over several runs (seeds) of the same
recipe, per task and language, written as results.json, results.csv, results.md and heatmap.png
in the aggregated format of :mod:`eval.results`.

A RUN is a ``results.json`` file or a folder holding one (directly, or in ``eval/`` as
``xstilts evaluate`` writes it by default). Robustness drops (robustness.json) and alignment
(align/*/align.json) beside it are aggregated the same way, under ``extra``. Scores that some runs lack are averaged over the
runs that have them (``n`` says how many) and listed on the console.
"""
from __future__ import annotations

import os
import sys
from typing import Sequence

from eval.grid_extra import report_extra
from eval.results import aggregate_runs, format_table, load_results, write_results

CANDIDATES = ("results.json", os.path.join("eval", "results.json"))


def find_results(run: str) -> str:
    """The results file of ``run`` (a file, or a folder holding one)."""
    if os.path.isfile(run):
        return os.path.abspath(run)
    for name in CANDIDATES:
        path = os.path.join(run, name)
        if os.path.isfile(path):
            return os.path.abspath(path)
    raise FileNotFoundError(f"{run}: no results.json (looked for {', '.join(CANDIDATES)})")


def default_out(paths: Sequence[str]) -> str:
    """``report/`` beside the runs: in their common parent folder."""
    runs = [os.path.dirname(p) for p in paths]
    if os.path.basename(runs[0]) == "eval":
        runs = [os.path.dirname(r) for r in runs]
    common = os.path.commonpath(runs)
    return os.path.join(os.path.dirname(common) if len(set(runs)) == 1 else common, "report")


def incomplete(agg: dict) -> list[str]:
    """``task/lang (n of N)`` for every score that not all runs have."""
    n = agg["runs"]
    out = []
    for task, entry in agg["tasks"].items():
        for lang, metrics in entry["languages"].items():
            have = max((m["n"] for m in metrics.values()), default=0)
            if have < n:
                out.append(f"{task}/{lang} ({have} of {n})")
    return out


def main(runs: list[str], out: str | None) -> int:
    """Aggregate ``runs`` and write the result to ``out`` (default: ``report/`` beside them)."""
    try:
        paths = [find_results(r) for r in runs]
        if len(set(paths)) != len(paths):
            raise ValueError("the same results file was given twice: "
                             + ", ".join(sorted({p for p in paths if paths.count(p) > 1})))
        loaded = [load_results(p) for p in paths]
        for path, res in zip(paths, loaded):
            if res.get("aggregate"):
                raise ValueError(f"{path} is already an aggregate of {res.get('runs')} runs")
        agg = aggregate_runs(loaded)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"xstilts report: {exc}", file=sys.stderr)
        return 2
    agg["sources"] = paths
    extra = report_extra([os.path.dirname(p) for p in paths])
    if extra:  # robustness drops and alignment, aggregated the same way (eval/grid_extra.py)
        agg["extra"] = extra
    missing = incomplete(agg)
    if missing:
        print(f"xstilts report: not in every run, averaged over the runs that have them: "
              f"{', '.join(missing)}", file=sys.stderr)
    print(format_table(agg))
    for kind, table in agg.get("extra", {}).items():
        print(f"{kind}: " + "; ".join(f"{task} {e['avg_metric']['mean']:.2f} ± {e['avg_metric']['std']:.2f}"
                                      f" (n={e['avg_metric']['n']})" for task, e in table["tasks"].items()))
    out = out or default_out(paths)
    written = write_results(agg, out)
    print(f"mean ± std over {len(paths)} runs: {', '.join(sorted(written.values()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], None))
