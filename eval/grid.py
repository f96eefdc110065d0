"""The paper-style table of an experiment grid: rows are intermediate settings, columns target
tasks, each cell the mean ± std over seeds of the task's average score (its main metric over
all languages), with the difference to the baseline row, its 95% interval and the p-value of a
paired bootstrap over seeds (eval/stats.py); a last row names, per target, the best setting
among those that beat the baseline by more than their interval, or says that none does.

Input is one aggregate per setting, as :func:`eval.results.aggregate_runs` builds it (the
numbers are ``{"mean", "std", "n"}``), and each setting's results per seed for the tests.
Output, written as grid.json, grid.csv and grid.md::

    {"settings": [NAME, ...], "columns": [TASK, ...], "metrics": {TASK: METRIC},
     "baseline": NAME | null, "expected_runs": N,
     "cells": {NAME: {TASK: {"mean", "std", "n", "seeds", "delta", "ci_low", "ci_high",
                             "p_value"}}},          # the test fields: null for the baseline
     "languages": {NAME: {TASK: {LANG: {same fields}}}},   # only when asked for
     "contrasts": {NAME: {TASK: {"plus", "minus", "delta", "ci_low", "ci_high", "p_value"}}},
     "average": {NAME: {"mean", "delta"}},                     # over the columns, where complete
     "best": {TASK: {"setting", "mean", "delta"} | {"setting": null, "why"}},
     "higher_is_better": true,
     "extra": {KIND: grid of the same form}}   # robustness drops and alignment (eval/grid_extra.py)
"""
from __future__ import annotations

import csv
import io
import json
import os
from typing import Mapping, Sequence

from eval.items import item_test
from eval.stats import beats, paired_seed_test

AVERAGE = "avg"
NO_BEST = "no setting beats the baseline by more than its 95% interval"
TESTS = ("ci_low", "ci_high", "p_value")
# metrics on a 0-1 scale (alignment's cosine gap and CKA; scores and drops are in points): shown
# with 3 decimals, where one would print 0.1 ± 0.0 for every setting
FRACTIONS = ("cos_gap", "cka")


def _digits(metric: str | None) -> int:
    return 3 if metric in FRACTIONS else 1


def build_grid(aggregates: Mapping[str, Mapping], baseline: str | None = None,
               order: Sequence[str] | None = None, expected_runs: int = 0,
               per_seed: Mapping[str, Mapping[int, Mapping]] | None = None, by_language: bool = False,
               contrasts: Sequence[Mapping] = (), higher_is_better: bool = True,
               items: Mapping[str, Mapping[str, tuple]] | None = None) -> dict:
    """The table from ``{setting: aggregate}``; ``order`` fixes the rows (settings without
    results are kept as empty rows). ``per_seed`` (``{setting: {seed: results}}``) adds the
    seeds behind each cell and the paired test against the baseline; ``by_language`` the same
    per language; ``contrasts`` (``{"name", "plus": [settings], "minus": [settings]}``) the
    difference between the means of two groups of settings, tested the same way.
    ``higher_is_better`` false (drops): the best is the lowest mean whose interval is below 0.
    ``items`` (``{setting: {task: (form, {lang: per-item scores})}}``, seeds pooled: eval/items.py)
    replaces the test over seeds by the paired bootstrap over test items where both sides have
    them (``"test": "items"`` in the cell; otherwise ``"seeds"``)."""
    settings = list(order or aggregates)
    per_seed = per_seed or {}
    columns: list[str] = []
    metrics: dict[str, str] = {}
    splits: dict[str, str] = {}
    for name in settings:
        for task, entry in aggregates.get(name, {}).get("tasks", {}).items():
            if task not in metrics:
                columns.append(task)
                metrics[task] = entry["metric"]
            if entry.get("split"):
                splits.setdefault(task, entry["split"])
    cells = {name: {task: dict(entry["avg_metric"])
                    for task, entry in aggregates.get(name, {}).get("tasks", {}).items()}
             for name in settings}
    items = items or {}
    for name, row in cells.items():
        for task, cell in row.items():
            cell.update(_against(seed_scores(per_seed.get(name, {}), task),
                                 seed_scores(per_seed.get(baseline, {}), task), cell["mean"],
                                 cells.get(baseline, {}).get(task), name == baseline))
            _item_test(cell, items.get(baseline, {}).get(task), items.get(name, {}).get(task), None)
    grid = {"settings": settings, "columns": columns, "metrics": metrics, "splits": splits, "baseline": baseline,
            "expected_runs": expected_runs, "cells": cells, "average": _averages(cells, columns, baseline),
            "best": _best(cells, settings, columns, baseline, bool(per_seed), higher_is_better),
            "higher_is_better": higher_is_better}
    if by_language:
        grid["languages"] = {name: {task: _languages(per_seed, name, baseline, task) for task in row}
                             for name, row in cells.items()}
        for name, by_task in grid["languages"].items():
            for task, langs in by_task.items():
                for lang, cell in langs.items():
                    _item_test(cell, items.get(baseline, {}).get(task), items.get(name, {}).get(task), lang)
    if contrasts:
        grid["contrasts"] = {c["name"]: {task: _contrast(per_seed, c, task) for task in columns}
                             for c in contrasts}
    return grid


def _item_test(cell: dict, base: tuple | None, mine: tuple | None, lang: str | None) -> None:
    """The paired bootstrap over test items in place of the one over seeds, where both sides
    have the items (of ``lang`` only, when given)."""
    if cell.get("delta") is None or not base or not mine or base[0] != mine[0]:
        if cell.get("delta") is not None:
            cell["test"] = "seeds"
        return
    a, b = base[1], mine[1]
    if lang is not None:
        a, b = ({lang: a[lang]} if lang in a else {}), ({lang: b[lang]} if lang in b else {})
    test = item_test(a, b, base[0])
    if test is None:
        cell["test"] = "seeds"
        return
    cell.update({k: test[k] for k in TESTS}, test="items", items=test["items"])


def seed_scores(runs: Mapping[int, Mapping], task: str, lang: str | None = None) -> dict[int, float]:
    """Seed -> the task's average score (or its main metric in ``lang``) in that seed's run."""
    out = {}
    for seed, results in runs.items():
        entry = results.get("tasks", {}).get(task)
        if entry is None:
            continue
        if lang is None:
            out[seed] = entry["avg_metric"]
        elif lang in entry["languages"] and entry["metric"] in entry["languages"][lang]:
            out[seed] = entry["languages"][lang][entry["metric"]]
    return out


def _against(mine: Mapping[int, float], base: Mapping[int, float], mean: float, ref: Mapping | None,
             is_baseline: bool) -> dict:
    out = {"seeds": sorted(mine), "delta": None, **{k: None for k in TESTS}}
    if is_baseline or ref is None:
        return out
    out["delta"] = mean - ref["mean"]
    test = paired_seed_test(base, mine)
    if test is not None:
        out.update({k: test[k] for k in TESTS})
    return out


def _stat(values: Sequence[float]) -> dict:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return {"mean": mean, "std": var ** 0.5, "n": len(values)}


def _languages(per_seed: Mapping, name: str, baseline: str | None, task: str) -> dict:
    runs = per_seed.get(name, {})
    langs = dict.fromkeys(lg for r in runs.values() for lg in r.get("tasks", {}).get(task, {}).get("languages", {}))
    out = {}
    for lang in langs:
        mine = seed_scores(runs, task, lang)
        if not mine:
            continue
        base = seed_scores(per_seed.get(baseline, {}), task, lang) if baseline else {}
        cell = _stat(list(mine.values()))
        ref = _stat(list(base.values())) if base else None
        cell.update(_against(mine, base, cell["mean"], ref, name == baseline))
        out[lang] = cell
    return out


def _contrast(per_seed: Mapping, contrast: Mapping, task: str) -> dict:
    """Mean of the ``plus`` settings minus mean of the ``minus`` settings, per seed, tested."""
    def group(names: Sequence[str]) -> dict[int, float]:
        by = [seed_scores(per_seed.get(n, {}), task) for n in names]
        seeds = set.intersection(*(set(b) for b in by)) if by else set()
        return {s: sum(b[s] for b in by) / len(by) for s in seeds}

    plus, minus = group(contrast["plus"]), group(contrast["minus"])
    test = paired_seed_test(minus, plus)
    out = {"plus": list(contrast["plus"]), "minus": list(contrast["minus"]), "delta": None,
           **{k: None for k in TESTS}}
    if test is not None:
        out.update({"delta": test["delta"], **{k: test[k] for k in TESTS}, "seeds": test["seeds"]})
    return out


def _averages(cells: Mapping, columns: Sequence[str], baseline: str | None) -> dict:
    average = {}
    for name, row in cells.items():
        if columns and all(t in row for t in columns):
            mean = sum(row[t]["mean"] for t in columns) / len(columns)
            average[name] = {"mean": mean, "delta": None}
    if baseline in average:
        for name, avg in average.items():
            avg["delta"] = None if name == baseline else avg["mean"] - average[baseline]["mean"]
    return average


def _best(cells: Mapping, settings: Sequence[str], columns: Sequence[str], baseline: str | None,
          tested: bool, higher_is_better: bool = True) -> dict:
    """Per target, the highest mean among the settings that beat the baseline by more than their
    interval (with a baseline and seeds to test); without a baseline, the highest mean. For a
    lower-is-better figure, the lowest mean among those whose interval is wholly below 0."""
    sign = 1.0 if higher_is_better else -1.0
    best = {}
    for task in columns:
        have = [(sign * cells[n][task]["mean"], n) for n in settings if n != baseline and task in cells[n]]
        if baseline and tested:
            have = [(m, n) for m, n in have if (beats(cells[n][task]) if higher_is_better else
                                                cells[n][task].get("ci_high") is not None and
                                                cells[n][task]["ci_high"] < 0)]
            if not have:
                best[task] = {"setting": None, "why": NO_BEST}
                continue
        if have:
            _, name = max(have, key=lambda x: x[0])  # the first of equal scores wins
            mean = cells[name][task]["mean"]
            best[task] = {"setting": name, "mean": mean, "delta": cells[name][task]["delta"]}
    return best


def _delta(cell: Mapping, d: int = 1) -> str:
    """(+1.2 [-0.3, +2.6] p=.14): the difference to the baseline, its 95% interval, the p-value
    (``d`` decimals)."""
    text = f"{cell['delta']:+.{d}f}"
    if cell.get("ci_low") is not None:
        text += f" [{cell['ci_low']:+.{d}f}, {cell['ci_high']:+.{d}f}] p={cell['p_value']:.2f}"
    return f" ({text})"


def _cell(cell: Mapping | None, runs: int, d: int = 1) -> str:
    if not cell:
        return "-"
    text = f"{cell['mean']:.{d}f} ± {cell['std']:.{d}f}"
    if cell.get("delta") is not None:
        text += _delta(cell, d)
    if runs and cell.get("n", runs) < runs:
        text += f" [n={cell['n']}]"  # not every seed has finished
    return text


def to_markdown(grid: Mapping) -> str:
    cols = grid["columns"]
    runs = grid.get("expected_runs", 0)
    splits = grid.get("splits", {})
    head = [f"{t} ({grid['metrics'][t]}{', ' + splits[t] if t in splits else ''})" for t in cols] + [AVERAGE]
    out = ["| intermediate | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    digits = {t: _digits(grid["metrics"].get(t)) for t in cols}
    d_avg = max(digits.values(), default=1)
    for name in grid["settings"]:
        row = [_cell(grid["cells"][name].get(t), runs, digits[t]) for t in cols]
        avg = grid["average"].get(name)
        row.append("-" if avg is None else f"{avg['mean']:.{d_avg}f}"
                   + ("" if avg["delta"] is None else f" ({avg['delta']:+.{d_avg}f})"))
        label = f"**{name}** (baseline)" if name == grid.get("baseline") else name
        out.append(f"| {label} | " + " | ".join(row) + " |")
    best = [_best_text(grid["best"].get(t)) for t in cols]
    out.append(f"| {'best' if grid.get('higher_is_better', True) else 'most robust'} intermediate | "
               + " | ".join(best) + " | |")
    note = "mean ± std over seeds of each task's average over its languages"
    if grid.get("baseline"):
        note += (f"; (±x [low, high] p=): difference to {grid['baseline']}, its 95% interval and "
                 f"p-value (paired bootstrap over test items with the seeds pooled, where the runs saved "
                 f"their items, else over seeds); best: the highest mean among the settings "
                 f"whose whole interval is above 0, \"none\" when no setting's is")
    out += ["", f"_{note}_", ""]
    for name, by_task in grid.get("contrasts", {}).items():
        out.append(f"Contrast {name}: " + "; ".join(
            f"{task} {_delta(c, digits.get(task, 1))[2:-1]}" if c.get("delta") is not None else f"{task} -"
            for task, c in by_task.items()) + "\n")
    for name, by_task in grid.get("languages", {}).items():
        for task, langs in by_task.items():
            cells = " | ".join(f"{lang} {_cell(c, runs, digits.get(task, 1))}" for lang, c in langs.items())
            out.append(f"- {name} / {task}: {cells}")
    for kind, sub in grid.get("extra", {}).items():  # robustness drops, alignment (eval/grid_extra.py)
        what = "higher is better" if sub.get("higher_is_better", True) else "drop = clean - scored; lower is more robust"
        out += ["", f"## {kind} ({what})", "", to_markdown(sub).rstrip("\n")]
    return "\n".join(out).rstrip("\n") + "\n"


def _best_text(best: Mapping | None) -> str:
    if not best:
        return "-"
    return best["setting"] or "none"


def to_csv(grid: Mapping) -> str:
    """A row per setting and target: mean, std, runs, delta, its interval and p-value."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["setting", "task", "metric", "mean", "std", "n", "delta", "ci_low", "ci_high", "p_value", "best"])

    def num(v) -> str:
        return "" if v is None else f"{v:.4f}"

    for name in grid["settings"]:
        for task in grid["columns"]:
            c = grid["cells"][name].get(task)
            if c is None:
                continue
            is_best = grid["best"].get(task, {}).get("setting") == name
            w.writerow([name, task, grid["metrics"][task], num(c["mean"]), num(c["std"]), c.get("n", ""),
                        num(c.get("delta")), num(c.get("ci_low")), num(c.get("ci_high")),
                        num(c.get("p_value")), int(is_best)])
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
