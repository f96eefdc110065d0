"""The paper-style table of an experiment grid: rows are intermediate settings, columns target
tasks, each cell the mean ± std over seeds of the task's average score (its main metric over
all languages), with the difference to the baseline row; a last row names the best
intermediate setting of each target.

Input is one aggregate per setting, as :func:`eval.results.aggregate_runs` builds it (the
numbers are ``{"mean", "std", "n"}``). Output, written as grid.json, grid.csv and grid.md::

    {"settings": [NAME, ...], "columns": [TASK, ...], "metrics": {TASK: METRIC},
     "baseline": NAME | null, "expected_runs": N,
     "cells": {NAME: {TASK: {"mean", "std", "n", "delta"}}},   # delta: null for the baseline
     "average": {NAME: {"mean", "delta"}},                     # over the columns, where complete
     "best": {TASK: {"setting", "mean", "delta"}}}              # among the non-baseline rows
"""
from __future__ import annotations

import csv
import io
import json
import os
from typing import Mapping, Sequence

AVERAGE = "avg"


def build_grid(aggregates: Mapping[str, Mapping], baseline: str | None = None,
               order: Sequence[str] | None = None, expected_runs: int = 0) -> dict:
    """The table from ``{setting: aggregate}``; ``order`` fixes the rows (settings without
    results are kept as empty rows)."""
    settings = list(order or aggregates)
    columns: list[str] = []
    metrics: dict[str, str] = {}
    for name in settings:
        for task, entry in aggregates.get(name, {}).get("tasks", {}).items():
            if task not in metrics:
                columns.append(task)
                metrics[task] = entry["metric"]
    cells = {name: {task: dict(entry["avg_metric"])
                    for task, entry in aggregates.get(name, {}).get("tasks", {}).items()}
             for name in settings}
    base = cells.get(baseline, {}) if baseline else {}
    for name, row in cells.items():
        for task, cell in row.items():
            ref = base.get(task)
            cell["delta"] = None if name == baseline or ref is None else cell["mean"] - ref["mean"]
    average = {}
    for name, row in cells.items():
        if columns and all(t in row for t in columns):
            mean = sum(row[t]["mean"] for t in columns) / len(columns)
            average[name] = {"mean": mean, "delta": None}
    if baseline in average:
        for name, avg in average.items():
            avg["delta"] = None if name == baseline else avg["mean"] - average[baseline]["mean"]
    best = {}
    for task in columns:
        have = [(cells[n][task]["mean"], n) for n in settings if n != baseline and task in cells[n]]
        if have:
            mean, name = max(have, key=lambda x: x[0])  # the first of equal scores wins
            best[task] = {"setting": name, "mean": mean, "delta": cells[name][task]["delta"]}
    return {"settings": settings, "columns": columns, "metrics": metrics, "baseline": baseline,
            "expected_runs": expected_runs, "cells": cells, "average": average, "best": best}


def _cell(cell: Mapping | None, runs: int) -> str:
    if not cell:
        return "-"
    text = f"{cell['mean']:.1f} ± {cell['std']:.1f}"
    if cell.get("delta") is not None:
        text += f" ({cell['delta']:+.1f})"
    if runs and cell.get("n", runs) < runs:
        text += f" [n={cell['n']}]"  # not every seed has finished
    return text


def to_markdown(grid: Mapping) -> str:
    cols = grid["columns"]
    runs = grid.get("expected_runs", 0)
    head = [f"{t} ({grid['metrics'][t]})" for t in cols] + [AVERAGE]
    out = ["| intermediate | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for name in grid["settings"]:
        row = [_cell(grid["cells"][name].get(t), runs) for t in cols]
        avg = grid["average"].get(name)
        row.append("-" if avg is None else f"{avg['mean']:.1f}"
                   + ("" if avg["delta"] is None else f" ({avg['delta']:+.1f})"))
        label = f"**{name}** (baseline)" if name == grid.get("baseline") else name
        out.append(f"| {label} | " + " | ".join(row) + " |")
    best = [grid["best"][t]["setting"] if t in grid["best"] else "-" for t in cols]
    out.append("| best intermediate | " + " | ".join(best) + " | |")
    note = "mean ± std over seeds of each task's average over its languages"
    if grid.get("baseline"):
        note += f"; (±x): difference to {grid['baseline']}"
    return "\n".join(out + ["", f"_{note}_", ""])


def to_csv(grid: Mapping) -> str:
    """A row per setting and target: mean, std, runs, delta."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["setting", "task", "metric", "mean", "std", "n", "delta", "best"])
    for name in grid["settings"]:
        for task in grid["columns"]:
            c = grid["cells"][name].get(task)
            if c is None:
                continue
            is_best = grid["best"].get(task, {}).get("setting") == name
            w.writerow([name, task, grid["metrics"][task], f"{c['mean']:.4f}", f"{c['std']:.4f}",
                        c.get("n", ""), "" if c["delta"] is None else f"{c['delta']:.4f}", int(is_best)])
    return buf.getvalue()


def write_grid(grid: Mapping, out_dir: str) -> dict[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = {ext: os.path.join(out_dir, f"grid.{ext}") for ext in ("json", "csv", "md")}
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump(grid, f, indent=2)
    with open(paths["csv"], "w", encoding="utf-8", newline="") as f:
        f.write(to_csv(grid))
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write("# Grid\n\n" + to_markdown(grid))
    return paths
