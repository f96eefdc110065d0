"""The project's one results format, ``results.json``, and its renderings.

Owns building results from per-task, per-language scores, writing ``results.json``,
``results.csv``, ``results.md`` and ``heatmap.png``, reading results back, console tables, and
aggregating several runs (seeds) into mean and standard deviation.

Format (scores in percent)::

    {"tasks": {TASK: {"metric": MAIN_METRIC, "chance": CHANCE,
                      "languages": {LANG: {METRIC: VALUE, ...}},
                      "averages": {METRIC: VALUE, ...}, "avg_metric": VALUE}},
     "category_scores": {CATEGORY: VALUE}, "xtreme_score": VALUE | null,
     "xtreme_score_note": TEXT, ...extra keys}

``avg_metric`` is the mean over languages of the main metric; for QA tasks the main metric is
``em_f1`` = (exact_match + f1) / 2, added to every language. ``xtreme_score`` is null unless
all nine XTREME tasks are present with all their languages; ``xtreme_score_note`` says why.
When a task only XTREME-R has (xcopa, udpos_r, panx_r, mewslix, lareqa) is scored, the same
three keys appear for XTREME-R: ``xtreme_r_score``, ``xtreme_r_category_scores`` and
``xtreme_r_score_note`` (the ten tasks of eval.xtreme.XTREME_R_CATEGORIES).

Aggregated format (:func:`aggregate_runs`): the same layout with ``"runs": N`` and
``"aggregate": true``; every number (metric values, averages, avg_metric, category scores,
xtreme_score) becomes ``{"mean": M, "std": S, "n": K}`` over the K runs that have it, S the
sample standard deviation (0 for one run).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from typing import Any, Mapping

from eval.metrics import category_scores, xtreme_r_category_scores, xtreme_r_score, xtreme_score
from eval.xtreme import EM_F1, LANGUAGES, TARGETS, XTREME_R_TASKS, XTREME_TASKS

log = logging.getLogger("xstilts.eval")
RESERVED = ("tasks", "category_scores", "xtreme_score", "xtreme_score_note", "runs", "aggregate",
            "xtreme_r_score", "xtreme_r_category_scores", "xtreme_r_score_note")


def main_metric(task: str, metrics: Mapping[str, Any]) -> str:
    """The main metric of ``task``: from the target table, else inferred as the official scorer
    does (QA: em_f1, else f1, else accuracy)."""
    if task in TARGETS:
        return TARGETS[task].metric
    for name in (EM_F1, "f1", "accuracy", "perplexity"):
        if name in metrics or (name == EM_F1 and {"exact_match", "f1"} <= set(metrics)):
            return name
    return sorted(metrics)[0]


def with_em_f1(metrics: Mapping[str, float]) -> dict[str, float]:
    """The metrics as floats, with QA's main metric (EM + F1) / 2 added where both are there."""
    out = {k: float(v) for k, v in metrics.items()}
    if "exact_match" in out and "f1" in out:
        out[EM_F1] = (out["exact_match"] + out["f1"]) / 2
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def build_task(task: str, per_lang: Mapping[str, Mapping[str, float]],
               info: Mapping[str, Any] | None = None) -> dict:
    """One task's entry: per-language metrics, per-metric averages and ``avg_metric``.

    ``info`` may give the task's ``metric`` and ``chance`` for tasks outside the XTREME table."""
    langs = {lang: with_em_f1(m) for lang, m in per_lang.items()}
    if not langs:
        raise ValueError(f"task {task}: no language scored")
    info = info or {}
    metric = (TARGETS[task].metric if task in TARGETS else info.get("metric")) \
        or main_metric(task, next(iter(langs.values())))
    names = sorted({n for m in langs.values() for n in m})
    averages = {n: _mean([m[n] for m in langs.values() if n in m]) for n in names}
    missing = [lang for lang, m in langs.items() if metric not in m]
    if missing:
        raise ValueError(f"task {task}: main metric {metric!r} missing for {', '.join(missing)}")
    chance = TARGETS[task].chance if task in TARGETS else info.get("chance")
    entry = {"metric": metric, "chance": chance,
             "languages": langs, "averages": averages, "avg_metric": averages[metric]}
    # which split the scores come from (and why when not the one asked for); how a retrieval
    # task's sentences were embedded
    for key in ("split", "split_note", "embedding"):
        if info.get(key):
            entry[key] = info[key]
    return entry


def _score_and_note(tasks: Mapping[str, dict]) -> tuple[float | None, dict[str, float], str]:
    complete = {t: e for t, e in tasks.items()
                if t in XTREME_TASKS and set(LANGUAGES[t]) <= set(e["languages"])}
    cats = category_scores(complete)
    missing = [t for t in XTREME_TASKS if t not in tasks]
    partial = [t for t in XTREME_TASKS if t in tasks and t not in complete]
    if not missing and not partial:
        return xtreme_score(complete), cats, "mean of the nine XTREME task scores (QA: (EM+F1)/2)"
    why = []
    if missing:
        why.append(f"tasks not scored: {', '.join(missing)}")
    if partial:
        why.append(f"tasks missing some XTREME languages: {', '.join(partial)}")
    return None, cats, "XTREME score not computed: " + "; ".join(why)


def _xtreme_r(tasks: Mapping[str, dict]) -> dict[str, Any]:
    """The XTREME-R keys of a results file (empty unless a task only XTREME-R has is scored)."""
    if not any(t in tasks for t in XTREME_R_TASKS if t not in XTREME_TASKS):
        return {}
    complete = {t: e for t, e in tasks.items()
                if t in XTREME_R_TASKS and set(LANGUAGES[t]) <= set(e["languages"])}
    missing = [t for t in XTREME_R_TASKS if t not in tasks]
    partial = [t for t in XTREME_R_TASKS if t in tasks and t not in complete]
    out: dict[str, Any] = {"xtreme_r_category_scores": xtreme_r_category_scores(complete)}
    if not missing and not partial:
        out["xtreme_r_score"] = xtreme_r_score(complete)
        out["xtreme_r_score_note"] = "mean of the ten XTREME-R task scores (QA: (EM+F1)/2)"
        return out
    why = ([f"tasks not scored: {', '.join(missing)}"] if missing else []) + \
        ([f"tasks missing some XTREME-R languages: {', '.join(partial)}"] if partial else [])
    out["xtreme_r_score"] = None
    out["xtreme_r_score_note"] = "XTREME-R score not computed: " + "; ".join(why)
    return out


def build_results(per_task_lang: Mapping[str, Mapping[str, Mapping[str, float]]],
                  extra: Mapping[str, Any] | None = None,
                  task_info: Mapping[str, Mapping[str, Any]] | None = None) -> dict:
    """Results from ``{task: {lang: {metric: value}}}``; ``extra`` keys are added at top level;
    ``task_info`` gives ``{task: {"metric": ..., "chance": ...}}`` for tasks the XTREME table
    does not know."""
    tasks = {task: build_task(task, per_lang, (task_info or {}).get(task))
             for task, per_lang in per_task_lang.items() if per_lang}
    score, cats, note = _score_and_note(tasks)
    results: dict[str, Any] = {"tasks": tasks, "category_scores": cats,
                               "xtreme_score": score, "xtreme_score_note": note, **_xtreme_r(tasks)}
    for key, value in (extra or {}).items():
        if key in RESERVED:
            raise ValueError(f"build_results: extra key {key!r} is reserved")
        results[key] = value
    return results


def load_results(path: str) -> dict:
    """Read ``results.json`` (a file, or a directory holding one)."""
    if os.path.isdir(path):
        path = os.path.join(path, "results.json")
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    if not isinstance(results, dict) or "tasks" not in results:
        raise ValueError(f"{path}: not a results file (no 'tasks')")
    return results


# ---------------------------------------------------------------- aggregation over runs


def _stat(values: list[float]) -> dict[str, float]:
    n = len(values)
    mean = _mean(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n}


def _collect(runs: list[dict], getter) -> list[float]:
    out = []
    for r in runs:
        try:
            value = getter(r)
        except (KeyError, TypeError):
            continue
        if value is not None:
            out.append(float(value))
    return out


def aggregate_runs(runs: list[dict]) -> dict:
    """Mean and sample standard deviation of every number over several runs (see module doc)."""
    if not runs:
        raise ValueError("aggregate_runs: no runs")
    tasks: dict[str, dict] = {}
    for task in dict.fromkeys(t for r in runs for t in r["tasks"]):
        have = [r for r in runs if task in r["tasks"]]
        first = have[0]["tasks"][task]
        entry = {"metric": first["metric"], "chance": first.get("chance"), "languages": {}, "averages": {}}
        for key in ("split", "split_note", "embedding"):
            if first.get(key):
                entry[key] = first[key]
        for lang in dict.fromkeys(lg for r in have for lg in r["tasks"][task]["languages"]):
            names = dict.fromkeys(n for r in have for n in r["tasks"][task]["languages"].get(lang, {}))
            entry["languages"][lang] = {
                n: _stat(_collect(have, lambda r: r["tasks"][task]["languages"][lang][n])) for n in names}
        for n in dict.fromkeys(n for r in have for n in r["tasks"][task].get("averages", {})):
            entry["averages"][n] = _stat(_collect(have, lambda r: r["tasks"][task]["averages"][n]))
        entry["avg_metric"] = _stat(_collect(have, lambda r: r["tasks"][task]["avg_metric"]))
        tasks[task] = entry
    cats = {c: _stat(_collect(runs, lambda r: r["category_scores"][c]))
            for c in dict.fromkeys(c for r in runs for c in r.get("category_scores", {}))}
    scores = _collect(runs, lambda r: r["xtreme_score"])
    note = (f"over the {len(scores)} of {len(runs)} runs with an XTREME score" if scores
            else "XTREME score not computed in any run")
    return {"tasks": tasks, "category_scores": cats, "runs": len(runs), "aggregate": True,
            "xtreme_score": _stat(scores) if scores else None, "xtreme_score_note": note}


# ---------------------------------------------------------------- rendering


def value_of(v: Any) -> float | None:
    """The number to plot or sort by: the value itself, or the mean of an aggregate."""
    if isinstance(v, Mapping):
        return v.get("mean")
    return None if v is None else float(v)


def fmt(v: Any) -> str:
    """A score for display: ``71.23`` or ``71.23 ± 0.41``; ``-`` when absent."""
    if v is None:
        return "-"
    if isinstance(v, Mapping):
        return f"{v['mean']:.2f} ± {v['std']:.2f}"
    return f"{float(v):.2f}"


def format_table(results: Mapping) -> str:
    """A plain-text summary for the console: per task its languages, average and chance."""
    lines = []
    for task, e in results["tasks"].items():
        chance = "" if e.get("chance") is None else f", chance {e['chance']:.1f}"
        note = f" [{e['split_note']}]" if e.get("split_note") else ""
        lines.append(f"{task} ({e['metric']}): avg {fmt(e['avg_metric'])}{chance}{note}")
        cells = [f"{lang} {fmt(m.get(e['metric']))}" for lang, m in e["languages"].items()]
        for i in range(0, len(cells), 8):
            lines.append("    " + "  ".join(cells[i:i + 8]))
    for skip in results.get("skipped", []):
        lines.append(f"{skip.get('task') or skip.get('path')}: not scored ({skip['reason']})")
    for cat, v in results.get("category_scores", {}).items():
        lines.append(f"[{cat}] {fmt(v)}")
    score = results.get("xtreme_score")
    lines.append(f"XTREME score: {fmt(score)}" if score is not None
                 else f"XTREME score: n/a ({results.get('xtreme_score_note', '')})")
    if "xtreme_r_score_note" in results:
        r = results.get("xtreme_r_score")
        lines.append(f"XTREME-R score: {fmt(r)}" if r is not None
                     else f"XTREME-R score: n/a ({results['xtreme_r_score_note']})")
    return "\n".join(lines)


def write_results(results: Mapping, out_dir: str) -> dict[str, str]:
    """Write results.json, results.csv, results.md and heatmap.png into ``out_dir``.
    Returns the paths written (the heatmap is skipped, with a log line, without matplotlib)."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {"json": os.path.join(out_dir, "results.json"),
             "csv": os.path.join(out_dir, "results.csv"),
             "md": os.path.join(out_dir, "results.md")}
    save_json(results, paths["json"])
    with open(paths["csv"], "w", encoding="utf-8", newline="") as f:
        f.write(to_csv(results))
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write(to_markdown(results))
    png = os.path.join(out_dir, "heatmap.png")
    if heatmap(results, png):
        paths["heatmap"] = png
    return paths


def save_json(results: Mapping, path: str) -> None:
    """Write ``results`` as JSON to ``path`` (atomically: a reader never sees half a file)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, ensure_ascii=False, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def _metric_names(results: Mapping) -> list[str]:
    preferred = ["accuracy", "f1", "precision", "recall", "exact_match", EM_F1]
    seen = {n for e in results["tasks"].values() for m in e["languages"].values() for n in m}
    return [n for n in preferred if n in seen] + sorted(seen - set(preferred))


def to_csv(results: Mapping) -> str:
    """A row per task and language, an ``avg`` row per task, and a final XTREME-score row.
    Aggregated results get a ``<metric>_std`` column beside every metric."""
    agg = bool(results.get("aggregate"))
    names = _metric_names(results)
    cols = [c for n in ["score", *names] for c in ((n, n + "_std") if agg else (n,))]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["task", "language", "main_metric", *cols])

    def cells(metrics: Mapping, main: str) -> list:
        row = []
        for n in ["score", *names]:
            v = metrics.get(main if n == "score" else n)
            row.append("" if v is None else f"{value_of(v):.4f}")
            if agg:
                row.append("" if v is None else f"{v['std']:.4f}")
        return row

    for task, e in results["tasks"].items():
        for lang, m in e["languages"].items():
            w.writerow([task, lang, e["metric"], *cells(m, e["metric"])])
        w.writerow([task, "avg", e["metric"], *cells({**e.get("averages", {}),
                                                        e["metric"]: e["avg_metric"]}, e["metric"])])
    score = results.get("xtreme_score")
    w.writerow(["xtreme_score", "", "", *cells({"score": score} if score is not None else {}, "score")])
    return buf.getvalue()


def to_markdown(results: Mapping) -> str:
    """Markdown: a row per task and language (main metric first, then every metric), the task
    averages, the category scores and the XTREME score."""
    out = ["# Results", "", "| task | language | main metric | score | all metrics |", "|---|---|---|---:|---|"]
    for task, e in results["tasks"].items():
        for lang, m in e["languages"].items():
            others = ", ".join(f"{n} {fmt(v)}" for n, v in m.items())
            out.append(f"| {task} | {lang} | {e['metric']} | {fmt(m.get(e['metric']))} | {others} |")
    out += ["", "## Task averages", "", "| task | main metric | split | languages | average | chance |",
            "|---|---|---|---:|---:|---:|"]
    for task, e in results["tasks"].items():
        split = e.get("split", "")
        if e.get("split_note"):
            split += f" ({e['split_note']})"
        out.append(f"| {task} | {e['metric']} | {split} | {len(e['languages'])} | **{fmt(e['avg_metric'])}** "
                   f"| {fmt(e.get('chance'))} |")
    if results.get("skipped"):
        out += ["", "## Not scored", ""] + [f"- {s.get('task') or s.get('path')}: {s['reason']}"
                                            for s in results["skipped"]]
    if results.get("category_scores"):
        out += ["", "| category | score |", "|---|---:|"]
        out += [f"| {c} | {fmt(v)} |" for c, v in results["category_scores"].items()]
    score = results.get("xtreme_score")
    out += ["", f"**XTREME score: {fmt(score)}**" if score is not None else "**XTREME score: n/a**",
            "", f"_{results.get('xtreme_score_note', '')}_", ""]
    if "xtreme_r_score_note" in results:
        r = results.get("xtreme_r_score")
        out += [f"**XTREME-R score: {fmt(r)}**" if r is not None else "**XTREME-R score: n/a**", ""]
        cats = results.get("xtreme_r_category_scores") or {}
        if cats:
            out += ["| XTREME-R category | score |", "|---|---:|"] + [f"| {c} | {fmt(v)} |" for c, v in cats.items()]
        out += ["", f"_{results['xtreme_r_score_note']}_", ""]
    return "\n".join(out)


def heatmap(results: Mapping, path: str) -> bool:
    """Tasks x languages heat map of the main metric; False (and a log line) when skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except Exception as exc:  # matplotlib is optional for scoring
        log.warning("heatmap skipped: matplotlib unavailable (%s)", exc)
        return False
    tasks = list(results["tasks"])
    langs = sorted({lg for e in results["tasks"].values() for lg in e["languages"]})
    if not tasks or not langs:
        log.warning("heatmap skipped: no scores")
        return False
    grid = np.full((len(tasks), len(langs)), np.nan)
    for i, task in enumerate(tasks):
        e = results["tasks"][task]
        for j, lang in enumerate(langs):
            v = value_of(e["languages"].get(lang, {}).get(e["metric"]))
            grid[i, j] = np.nan if v is None else v
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(langs) + 2), max(2.5, 0.5 * len(tasks) + 1.5)))
    im = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap="viridis", vmin=0, vmax=100)
    ax.set_xticks(range(len(langs)), langs, rotation=90, fontsize=7)
    ax.set_yticks(range(len(tasks)), [f"{t} ({results['tasks'][t]['metric']})" for t in tasks], fontsize=8)
    if grid.size <= 400:  # numbers stay legible only on small grids
        for (i, j), v in np.ndenumerate(grid):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=6, color="w")
    fig.colorbar(im, ax=ax, label="main metric (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
