"""The robustness report: clean score, perturbed score and drop, per task and language.

Input: the clean scores and, per perturbation setting (``kind@rate``, eval.perturb), the
scores of the same sets under that noise, all ``{task: {lang: {metric: value}}}`` in percent.
Each task is reported on its main metric (QA: (EM + F1) / 2), as results.json does. The drop
is clean minus perturbed (positive = the noise hurt). Written as ``robustness.json``,
``robustness.md``, ``robustness.csv`` and ``robustness.png`` (a heat map of the drops) beside
results.json; model-aware attacks (eval/attack_report.py) add their keys to the same files.

A setting that changed no example of a set (keyboard noise on a script without ASCII letters,
code-switching where the lexicon knows no word, word shuffling on tagging) is not a
measurement: that language is marked n/a under it, not given a drop of zero. A task's average
under a setting is then taken over the languages it changed (``average.over`` lists them).

Format::

    {"settings": ["char_swap@0.1", ...], "seed": S,
     "tasks": {TASK: {"metric": M,
                      "languages": {LANG: {"clean": C, "perturbed": {SETTING: P}, "drop": {SETTING: C - P},
                                           "n/a": [SETTING, ...]}},
                      "average": {"clean": C, "perturbed": {SETTING: P}, "drop": {SETTING: D},
                                  "over": {SETTING: [LANG, ...]}}}}}

``n/a`` is present where a setting changed nothing; ``over`` where an average leaves languages
out.
"""
from __future__ import annotations

import csv
import io
import os
from typing import Mapping

from eval import attack_report
from eval.results import main_metric, save_json, with_em_f1

Scores = Mapping[str, Mapping[str, Mapping[str, float]]]


def _main(metrics: Mapping[str, float], metric: str) -> float:
    return with_em_f1(metrics)[metric]


def build_report(clean: Scores, perturbed: Mapping[str, Scores], seed: int = 0,
                 metrics: Mapping[str, str] | None = None,
                 changed: Mapping[str, Mapping[str, Mapping[str, int]]] | None = None) -> dict:
    """The report of every task and language scored clean (sets missing under a setting are
    left out of that setting); ``metrics`` names each task's main metric, as its results
    file does (inferred as the scorer does when not given); ``changed`` counts, per setting,
    task and language, the examples the noise changed (0: marked n/a)."""
    tasks: dict[str, dict] = {}
    for task, langs in clean.items():
        if not langs:
            continue
        metric = (metrics or {}).get(task) or main_metric(task, next(iter(langs.values())))
        rows = {}
        for lang, metrics in langs.items():
            c = _main(metrics, metric)
            unchanged = [s for s in perturbed if (changed or {}).get(s, {}).get(task, {}).get(lang) == 0]
            p = {s: _main(sc[task][lang], metric) for s, sc in perturbed.items()
                 if lang in sc.get(task, {}) and s not in unchanged}
            rows[lang] = {"clean": c, "perturbed": p, "drop": {s: c - v for s, v in p.items()}}
            if unchanged:
                rows[lang]["n/a"] = unchanged
        avg_c = sum(r["clean"] for r in rows.values()) / len(rows)
        average: dict = {"clean": avg_c, "perturbed": {}, "drop": {}}
        for s in perturbed:
            with_s = [lang for lang, r in rows.items() if s in r["perturbed"]]
            missing = [lang for lang, r in rows.items() if s not in r["perturbed"] and s not in r.get("n/a", [])]
            if not with_s or missing:  # a set not scored under s: no average
                continue
            average["perturbed"][s] = sum(rows[lang]["perturbed"][s] for lang in with_s) / len(with_s)
            average["drop"][s] = sum(rows[lang]["drop"][s] for lang in with_s) / len(with_s)
            if len(with_s) < len(rows):
                average.setdefault("over", {})[s] = with_s
        tasks[task] = {"metric": metric, "languages": rows, "average": average}
    return {"settings": list(perturbed), "seed": seed, "tasks": tasks}


def to_markdown(report: Mapping) -> str:
    """The noise table (when the report has noise settings), then the attack tables."""
    parts = [noise_markdown(report)] if report.get("settings") else []
    if report.get("attacks"):
        parts.append(attack_report.to_markdown(report))
    return "\n".join(parts)


def noise_markdown(report: Mapping) -> str:
    settings = report["settings"]
    head = "| task | language | metric | clean | " + " | ".join(f"{s} (drop)" for s in settings) + " |"
    out = ["# Robustness under noise", "", f"Seed {report.get('seed', 0)}; drop = clean - perturbed.",
           "", head, "|---|---|---|---:|" + "---:|" * len(settings)]
    partial = False
    for task, e in report["tasks"].items():
        for lang, r in [*e["languages"].items(), ("avg", e["average"])]:
            cells = []
            for s in settings:
                if s in r["perturbed"]:
                    mark = "*" if s in r.get("over", {}) else ""
                    partial = partial or bool(mark)
                    cells.append(f"{r['perturbed'][s]:.2f} ({r['drop'][s]:+.2f}){mark}")
                else:
                    cells.append("n/a" if s in r.get("n/a", []) else "-")
            name = f"**{lang}**" if lang == "avg" else lang
            out.append(f"| {task} | {name} | {e['metric']} | {r['clean']:.2f} | " + " | ".join(cells) + " |")
    out += ["", "n/a: the setting changed no example of that set (not a measurement)."]
    if partial:
        out.append("\\*: averaged over the languages the setting changed (`average.over` in robustness.json).")
    return "\n".join(out) + "\n"


def to_csv(report: Mapping) -> str:
    """One row per setting, task and language: noise rows (kind ``noise``) and attack rows."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["kind", "setting", "task", "language", "clean", "scored", "drop", "success_rate",
                "words_changed", "queries"])
    for task, entry in (report.get("tasks") or {}).items():
        for lang, r in entry["languages"].items():
            for setting, value in r["perturbed"].items():
                w.writerow(["noise", setting, task, lang, r["clean"], value, r["drop"][setting], "", "", ""])
    for row in attack_report.csv_rows(report):
        w.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def write_report(report: Mapping, out_dir: str) -> dict[str, str]:
    """robustness.json, .md, .csv and (matplotlib permitting) .png under ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {ext: os.path.join(out_dir, f"robustness.{ext}") for ext in ("json", "md", "csv")}
    save_json(report, paths["json"])
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write(to_markdown(report))
    with open(paths["csv"], "w", encoding="utf-8") as f:
        f.write(to_csv(report))
    if attack_report.heatmap(report, os.path.join(out_dir, "robustness.png")):
        paths["heatmap"] = os.path.join(out_dir, "robustness.png")
    return paths
