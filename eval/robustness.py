"""The robustness report: clean score, perturbed score and drop, per task and language.

Input: the clean scores and, per perturbation setting (``kind@rate``, eval.perturb), the
scores of the same sets under that noise, all ``{task: {lang: {metric: value}}}`` in percent.
Each task is reported on its main metric (QA: (EM + F1) / 2), as results.json does. The drop
is clean minus perturbed (positive = the noise hurt). Written as ``robustness.json`` and
``robustness.md`` beside results.json.

Format::

    {"settings": ["char_swap@0.1", ...], "seed": S,
     "tasks": {TASK: {"metric": M,
                      "languages": {LANG: {"clean": C, "perturbed": {SETTING: P}, "drop": {SETTING: C - P}}},
                      "average": {"clean": C, "perturbed": {SETTING: P}, "drop": {SETTING: D}}}}}
"""
from __future__ import annotations

import os
from typing import Mapping

from eval.results import main_metric, save_json
from eval.xtreme import EM_F1

Scores = Mapping[str, Mapping[str, Mapping[str, float]]]


def _main(metrics: Mapping[str, float], metric: str) -> float:
    if metric == EM_F1 and EM_F1 not in metrics:
        return (metrics["exact_match"] + metrics["f1"]) / 2
    return float(metrics[metric])


def build_report(clean: Scores, perturbed: Mapping[str, Scores], seed: int = 0,
                 metrics: Mapping[str, str] | None = None) -> dict:
    """The report of every task and language scored clean (sets missing under a setting are
    left out of that setting); ``metrics`` names each task's main metric, as its results
    file does (inferred as the scorer does when not given)."""
    tasks: dict[str, dict] = {}
    for task, langs in clean.items():
        if not langs:
            continue
        metric = (metrics or {}).get(task) or main_metric(task, next(iter(langs.values())))
        rows = {}
        for lang, metrics in langs.items():
            c = _main(metrics, metric)
            p = {s: _main(sc[task][lang], metric) for s, sc in perturbed.items()
                 if lang in sc.get(task, {})}
            rows[lang] = {"clean": c, "perturbed": p, "drop": {s: c - v for s, v in p.items()}}
        n = len(rows)
        avg_p = {s: sum(r["perturbed"][s] for r in rows.values()) / n for s in perturbed
                 if all(s in r["perturbed"] for r in rows.values())}
        avg_c = sum(r["clean"] for r in rows.values()) / n
        tasks[task] = {"metric": metric, "languages": rows,
                       "average": {"clean": avg_c, "perturbed": avg_p,
                                   "drop": {s: avg_c - v for s, v in avg_p.items()}}}
    return {"settings": list(perturbed), "seed": seed, "tasks": tasks}


def to_markdown(report: Mapping) -> str:
    settings = report["settings"]
    head = "| task | language | metric | clean | " + " | ".join(f"{s} (drop)" for s in settings) + " |"
    out = ["# Robustness under noise", "", f"Seed {report.get('seed', 0)}; drop = clean - perturbed.",
           "", head, "|---|---|---|---:|" + "---:|" * len(settings)]
    for task, e in report["tasks"].items():
        for lang, r in [*e["languages"].items(), ("avg", e["average"])]:
            cells = [f"{r['perturbed'][s]:.2f} ({r['drop'][s]:+.2f})" if s in r["perturbed"] else "-"
                     for s in settings]
            name = f"**{lang}**" if lang == "avg" else lang
            out.append(f"| {task} | {name} | {e['metric']} | {r['clean']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def write_report(report: Mapping, out_dir: str) -> dict[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = {"json": os.path.join(out_dir, "robustness.json"), "md": os.path.join(out_dir, "robustness.md")}
    save_json(report, paths["json"])
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write(to_markdown(report))
    return paths
