"""The attack part of the robustness report: per setting, task and language the clean score, the
score under attack, the drop, the attack success rate, the share of words changed and the mean
queries; averages per task; a table, CSV rows and a heat map of the drops.

Format (added to robustness.json beside the noise report of eval/robustness.py; percent but
``queries``; ``success_rate`` is null where no example was right before the attack)::

    {"attacks": {SETTING: {TASK: {LANG: {"examples", "clean", "attacked", "drop",
                                         "success_rate", "words_changed", "queries"}}}},
     "attack_averages": {SETTING: {TASK: {same keys: the mean over the task's languages}}},
     "attack_config": {"max_queries": Q, "seed": S, "max_examples": N, "lexicon": [...]},
     "not_attacked": [{"task": T, "reason": WHY}, ...]}

SETTING is ``kind@budget`` (``char_greedy@0.2``); ``random@budget`` places the same edits at
random at the same budget, so the difference between a greedy setting's drop and random's at
the same budget is what the search adds. Scores use each task's main metric on the attacked
examples, so ``clean`` is the score of those examples (the first ``max_examples`` of the split).
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

log = logging.getLogger("xstilts.eval")

FIGURES = ("examples", "clean", "attacked", "drop", "success_rate", "words_changed", "queries")


def averages(attacks: Mapping[str, Mapping[str, Mapping[str, Mapping]]]) -> dict:
    """``{setting: {task: mean of each figure over the task's languages}}`` (a figure that is
    null in some language averages over the others; null where it is null everywhere)."""
    out: dict[str, dict] = {}
    for setting, tasks in attacks.items():
        for task, langs in tasks.items():
            row = {}
            for key in FIGURES:
                values = [v[key] for v in langs.values() if v.get(key) is not None]
                row[key] = sum(values) / len(values) if values else None
            row["examples"] = sum(v["examples"] for v in langs.values())
            row["languages"] = len(langs)
            out.setdefault(setting, {})[task] = row
    return out


def _cell(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def to_markdown(report: Mapping) -> str:
    """The attack tables: one row per setting, task and language, then the task's average."""
    attacks = report.get("attacks") or {}
    if not attacks:
        return ""
    conf = report.get("attack_config", {})
    out = ["# Robustness under attack", "",
           f"Seed {conf.get('seed', 0)}, at most {conf.get('max_queries', '?')} queries per example; "
           "drop = clean - attacked; success = share of the examples right before the attack that it "
           "made wrong; words = mean share of the eligible words changed.", "",
           "| setting | task | language | clean | attacked | drop | success % | words % | queries |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    avg = report.get("attack_averages") or averages(attacks)
    for setting, tasks in attacks.items():
        for task, langs in tasks.items():
            for lang, r in [*langs.items(), ("**avg**", avg[setting][task])]:
                out.append(f"| {setting} | {task} | {lang} | {_cell(r['clean'])} | {_cell(r['attacked'])} | "
                           f"{_cell(r['drop'])} | {_cell(r['success_rate'], 1)} | {_cell(r['words_changed'], 1)} | "
                           f"{_cell(r['queries'], 1)} |")
    for skip in report.get("not_attacked", []):
        out.append(f"\n{skip['task']}: not attacked ({skip['reason']}).")
    return "\n".join(out) + "\n"


def csv_rows(report: Mapping) -> list[list]:
    """``kind, setting, task, language, clean, scored, drop, success_rate, words_changed,
    queries`` rows of the attacks (kind ``attack``)."""
    rows = []
    for setting, tasks in (report.get("attacks") or {}).items():
        for task, langs in tasks.items():
            for lang, r in langs.items():
                rows.append(["attack", setting, task, lang, r["clean"], r["attacked"], r["drop"],
                             r["success_rate"], r["words_changed"], r["queries"]])
    return rows


def drops(report: Mapping) -> dict[str, dict[str, float]]:
    """``{"setting task": {lang: drop}}`` of every noise setting and attack in the report."""
    out: dict[str, dict[str, float]] = {}
    for task, entry in (report.get("tasks") or {}).items():
        for lang, r in entry["languages"].items():
            for setting, d in r["drop"].items():
                out.setdefault(f"{setting} {task}", {})[lang] = d
    for setting, tasks in (report.get("attacks") or {}).items():
        for task, langs in tasks.items():
            for lang, r in langs.items():
                out.setdefault(f"{setting} {task}", {})[lang] = r["drop"]
    return out


def heatmap(report: Mapping, path: str) -> bool:
    """Settings x languages heat map of the drop (clean - scored, points); False when skipped."""
    rows = drops(report)
    if not rows:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except Exception as exc:
        log.warning("robustness heat map skipped: matplotlib unavailable (%s)", exc)
        return False
    names = list(rows)
    langs = sorted({lang for r in rows.values() for lang in r})
    grid = np.array([[rows[n].get(lang, np.nan) for lang in langs] for n in names], dtype=float)
    bound = max(1.0, float(np.nanmax(np.abs(grid)))) if np.isfinite(grid).any() else 1.0
    fig, ax = plt.subplots(figsize=(max(6.0, 0.4 * len(langs) + 3), max(2.5, 0.45 * len(names) + 1.5)))
    im = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound)
    ax.set_xticks(range(len(langs)), langs, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    if grid.size <= 400:
        for (i, j), v in np.ndenumerate(grid):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, label="drop (points)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
