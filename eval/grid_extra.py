"""Every other kind of result aggregated as scores are: robustness drops (each noise setting and
each attack of a run's robustness.json) and cross-lingual alignment (a run's align.json), per
setting and task, over seeds, with the delta to the baseline, its interval and p-value and a
"best" only where the interval clears zero (eval/grid.py does the statistics).

Each kind becomes a results-like table per run (``{"tasks": {TASK: {"metric", "languages",
"avg_metric"}}}``), so the same aggregation over seeds (eval.results.aggregate_runs) and the
same grid (eval.grid.build_grid) apply:

  ``noise SETTING``    metric ``drop``: clean - perturbed, per language and averaged
  ``attack SETTING``   metric ``drop``: clean - attacked (the attack's own clean score)
  ``alignment METRIC`` retrieval accuracy, cosine gap and CKA of translation pairs per layer
                       (``xstilts align``'s align.json under the run's align/ folder)

For drops lower is better: the best setting is the one with the lowest mean drop among those
whose whole interval is below the baseline's.
"""
from __future__ import annotations

import json
import os
from typing import Mapping, Sequence

from eval.grid import build_grid
from eval.results import aggregate_runs

DROP = "drop"
ALIGN_METRICS = ("accuracy", "cos_gap", "cka")


def _entry(metric: str, langs: Mapping[str, float], average: float | None) -> dict:
    if average is None:
        average = sum(langs.values()) / len(langs) if langs else None
    return {"metric": metric, "languages": {lang: {metric: v} for lang, v in langs.items()}, "avg_metric": average}


def robustness_tables(report: Mapping) -> dict[str, dict]:
    """``{"noise S" | "attack S": results-like}`` of one run's robustness.json."""
    out: dict[str, dict] = {}
    for task, entry in (report.get("tasks") or {}).items():
        for s in report.get("settings", []):
            langs = {lang: r["drop"][s] for lang, r in entry["languages"].items() if s in r["drop"]}
            if langs:
                avg = entry.get("average", {}).get("drop", {}).get(s)
                out.setdefault(f"noise {s}", {"tasks": {}})["tasks"][task] = _entry(DROP, langs, avg)
    averages = report.get("attack_averages") or {}
    for s, tasks in (report.get("attacks") or {}).items():
        for task, langs in tasks.items():
            if not langs:  # nothing attacked in any language: no figure to aggregate (as for noise)
                continue
            avg = averages.get(s, {}).get(task, {}).get("drop")
            out.setdefault(f"attack {s}", {"tasks": {}})["tasks"][task] = _entry(
                DROP, {lang: v["drop"] for lang, v in langs.items()}, avg)
    return out


def alignment_tables(report: Mapping, metrics: Sequence[str] = ALIGN_METRICS) -> dict[str, dict]:
    """``{"alignment METRIC": results-like}`` of one ``align.json`` (eval/alignment.py): one
    column per layer (``TASK L<i>``), the figure per language and its mean over languages."""
    out: dict[str, dict] = {}
    task = report.get("task", "align")
    for metric in metrics:
        by_layer: dict[int, dict[str, float]] = {}
        for lang, entry in (report.get("languages") or {}).items():
            for row in entry.get("per_layer", []):
                if row.get(metric) is not None:
                    by_layer.setdefault(int(row["layer"]), {})[lang] = float(row[metric])
        for layer in sorted(by_layer):
            table = out.setdefault(f"alignment {metric}", {"tasks": {}})
            table["tasks"][f"{task} L{layer}"] = _entry(metric, by_layer[layer], None)
    return out


def read_tables(run_dir: str) -> dict[str, dict]:
    """Every extra table of a finished run folder (robustness.json, align/*/align.json)."""
    tables: dict[str, dict] = {}
    path = os.path.join(run_dir, "robustness.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            tables.update(robustness_tables(json.load(f)))
    align = os.path.join(run_dir, "align")
    for name in sorted(os.listdir(align)) if os.path.isdir(align) else []:
        path = os.path.join(align, name, "align.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                for key, table in alignment_tables(json.load(f)).items():
                    tables.setdefault(key, {"tasks": {}})["tasks"].update(table["tasks"])
    return tables


def build_extra(per_seed: Mapping[str, Mapping[int, Mapping[str, dict]]], baseline: str | None,
                order: Sequence[str], expected_runs: int, by_language: bool = False) -> dict[str, dict]:
    """``{kind: grid}`` from ``{setting: {seed: {kind: results-like}}}``."""
    kinds = list(dict.fromkeys(k for runs in per_seed.values() for tables in runs.values() for k in tables))
    out = {}
    for kind in kinds:
        mine = {s: {seed: t[kind] for seed, t in runs.items() if kind in t} for s, runs in per_seed.items()}
        mine = {s: runs for s, runs in mine.items() if runs}
        aggregates = {s: aggregate_runs(list(runs.values())) for s, runs in mine.items()}
        out[kind] = build_grid(aggregates, baseline, order, expected_runs, mine, by_language,
                               higher_is_better=not kind.startswith(("noise", "attack")))
    return out


def report_extra(run_dirs: Sequence[str]) -> dict[str, dict]:
    """For `xstilts report`: each kind's tables aggregated over the runs (no baseline)."""
    tables = [read_tables(d) for d in run_dirs]
    kinds = list(dict.fromkeys(k for t in tables for k in t))
    return {k: aggregate_runs([t[k] for t in tables if k in t]) for k in kinds}
