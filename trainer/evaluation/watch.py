"""`xstilts evaluate --watch RUN_DIR`: score each export of a run as training writes it.

An export is complete once its ``xstilts.json`` exists (it is written last, in ``<export>.tmp``,
and the folder is renamed), so folders ending in ``.tmp`` are never looked into. Watched are the
folders of the runs the recipe scores (its phases with ``evaluate`` or ``retrieval``): their
final ``export`` and any other complete export below them (same tasks).

Rank 0 decides what comes next (score an export, keep waiting, stop) and broadcasts it, so
every rank loads the same export at the same time. The ledger ``<out>/scored.jsonl`` holds one
line per scored export (path, step, digest of its ``xstilts.json``, scores); an export already
in it is skipped, so a restarted watch picks up where it left off. Each export's results go to
``<out>/<export path inside the run>/``; ``<out>/results.json`` holds, per task, the scores of
the newest export that scored it. The watch ends once every final export is scored, or after
``--max-idle`` seconds without a new export (0: never).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass

from eval import evaluator
from eval.results import build_results, write_results
from trainer.evaluation.driver import score_export, skipped, task_info
from trainer.evaluation.plan import plan_from_run
from trainer.model.export import EXPORT_META
from trainer.runtime import dist

log = logging.getLogger("xstilts.watch")
LEDGER = "scored.jsonl"
KEEPALIVE_S = 600.0  # rank 0 reports "still waiting" at least this often: the others' wait is bounded
MAX_DEPTH = 4  # folders below a run folder searched for exports


@dataclass(frozen=True)
class Export:
    path: str  # absolute
    step: int
    digest: str  # sha1 of its xstilts.json: a rewritten export is a new one
    tasks: tuple[str, ...]
    final: bool  # the run's final export (named by the plan), not an intermediate one

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.path, self.step, self.digest)


def describe(path: str, tasks: tuple[str, ...], final: bool) -> Export | None:
    """The export at ``path``, or None if it is not complete (or vanished meanwhile)."""
    try:
        with open(os.path.join(path, EXPORT_META), "rb") as f:
            raw = f.read()
        step = int(json.loads(raw).get("step", 0))
    except (OSError, ValueError):
        return None
    return Export(os.path.abspath(path), step, hashlib.sha1(raw).hexdigest(), tasks, final)


def complete_exports(root: str) -> list[str]:
    """Folders below ``root`` holding a complete export (never inside a ``.tmp`` folder)."""
    found = []
    base = root.rstrip(os.sep).count(os.sep)
    for folder, dirs, files in os.walk(root):
        if EXPORT_META in files:
            found.append(folder)
            dirs[:] = []  # an export holds no other export
            continue
        too_deep = folder.count(os.sep) - base >= MAX_DEPTH
        dirs[:] = [] if too_deep else sorted(d for d in dirs if not d.endswith(".tmp"))
    return found


def find_exports(plan: dict[str, tuple[str, ...]]) -> list[Export]:
    """Complete exports of the planned runs, oldest first (by the time their metadata landed)."""
    out: dict[str, Export] = {}
    for final, tasks in plan.items():
        final = os.path.abspath(final)
        for path in complete_exports(os.path.dirname(final)):
            export = describe(path, tasks, os.path.abspath(path) == final)
            if export is not None:
                out.setdefault(export.path, export)

    def landed(e: Export) -> tuple[float, str]:
        try:
            return os.path.getmtime(os.path.join(e.path, EXPORT_META)), e.path
        except OSError:
            return float("inf"), e.path

    return sorted(out.values(), key=landed)


# ---------------------------------------------------------------- the ledger


class Ledger:
    """``scored.jsonl``: one JSON line per scored export, appended once its results are written."""

    def __init__(self, path: str):
        self.path = path
        self.entries: list[dict] = []
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    try:
                        self.entries.append(json.loads(line))
                    except ValueError:  # a line cut short by a crash: that export is rescored
                        log.warning("%s:%d: unreadable ledger line skipped", path, n)
        self.keys = {(e["export"], e["step"], e["digest"]) for e in self.entries}

    def __contains__(self, export: Export) -> bool:
        return export.key in self.keys

    def add(self, entry: dict) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False, allow_nan=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.entries.append(entry)
        self.keys.add((entry["export"], entry["step"], entry["digest"]))

    def latest_scores(self) -> tuple[dict, dict, dict]:
        """Per task, the scores of the newest entry that has it, where they came from and the
        split they were scored on (ledgers written before splits were recorded have none)."""
        scores, provenance, splits = {}, {}, {}
        for e in self.entries:
            for task, langs in e["scores"].items():
                scores[task] = langs
                provenance[task] = {"export": e["export"], "step": e["step"]}
                if task in e.get("splits", {}):
                    splits[task] = e["splits"][task]
        return scores, provenance, splits


# ---------------------------------------------------------------- rank 0 decides


def planned(run_dir: str, args) -> dict[str, tuple[str, ...]]:
    """Final export folder -> tasks scored with it (a phase may appear twice: merged)."""
    _, plan = plan_from_run(run_dir)
    merged: dict[str, tuple[str, ...]] = {}
    for export, tasks in plan:
        names = [t for t in tasks if not args.tasks or t in args.tasks]
        merged[export] = tuple(dict.fromkeys(merged.get(export, ()) + tuple(names)))
    return {e: ts for e, ts in merged.items() if ts}


def finals_done(plan: dict[str, tuple[str, ...]], ledger: Ledger) -> bool:
    for final, tasks in plan.items():
        export = describe(final, tasks, True)
        if export is None or export not in ledger:
            return False
    return True


def decide(plan: dict, ledger: Ledger, idle_since: float, args) -> dict:
    """Rank 0: the next export to score, or stop, or (after KEEPALIVE_S) "still waiting"."""
    deadline = time.monotonic() + KEEPALIVE_S
    while True:
        pending = [e for e in find_exports(plan) if e not in ledger]
        if pending:
            return {"action": "score", "export": asdict(pending[0])}
        if finals_done(plan, ledger):
            return {"action": "stop", "why": "every final export of the run is scored"}
        idle = time.monotonic() - idle_since
        if args.max_idle > 0 and idle >= args.max_idle:
            return {"action": "stop", "why": f"no new export for {idle:.0f} s (--max-idle)"}
        if time.monotonic() >= deadline:
            return {"action": "wait"}
        time.sleep(max(0.05, args.poll))


def agree(decision: dict | None, info: dist.DistInfo) -> dict:
    """Rank 0's decision on every rank. The others wait for it on the slow group: rank 0 may
    look for exports for minutes (a dead rank 0 still ends the wait at once)."""
    if info.world_size == 1:
        return decision
    dist.slow_barrier()
    return evaluator.broadcast(decision)


# ---------------------------------------------------------------- the loop


def score_one(cfg, export: Export, run_dir: str, out: str, info, tracker, ledger: Ledger | None) -> None:
    """Score ``export`` on every rank; rank 0 writes its results, the ledger line and the
    run's combined results."""
    rel = os.path.relpath(export.path, os.path.abspath(run_dir))
    sub = os.path.join(out, rel)
    t0 = time.perf_counter()
    scores, stats = score_export(cfg, export.path, list(export.tasks), sub, info, tracker)
    if not info.is_main:
        return
    splits = stats["splits"]
    write_results(build_results(scores, {"export": export.path, "step": export.step, "skipped": skipped(splits)},
                                task_info(scores, splits)), sub)
    with open(os.path.join(sub, "eval_stats.json"), "w") as f:
        json.dump(stats, f, indent=2)
    ledger.add({"export": export.path, "rel": rel, "step": export.step, "digest": export.digest,
                "final": export.final, "tasks": list(export.tasks), "scores": scores, "splits": splits,
                "wall_s": round(time.perf_counter() - t0, 3), "scored_at": time.time()})
    latest, provenance, splits = ledger.latest_scores()
    if latest:
        write_results(build_results(latest, {"provenance": provenance, "watch": run_dir}, task_info(latest, splits)),
                      out)
    log.info("scored %s (step %d): %s", rel, export.step,
             ", ".join(f"{t} {len(ls)} languages" for t, ls in scores.items()) or "no labelled set")


def watch(cfg, args, out: str, info: dist.DistInfo, tracker) -> int:
    """Score the run's exports as they appear; returns how many were scored."""
    run_dir = args.target
    plan = planned(run_dir, args) if info.is_main else {}
    ledger = Ledger(os.path.join(out, LEDGER)) if info.is_main else None
    if info.is_main:
        done = [e for e in find_exports(plan) if e in ledger]
        log.info("%d planned export(s) in %s; %d already scored (ledger %s); polling every "
                 "%g s, idle limit %s", len(plan), run_dir, len(done), ledger.path, args.poll,
                 f"{args.max_idle:g} s" if args.max_idle > 0 else "none")
    scored, idle_since = 0, time.monotonic()
    while True:
        if info.is_main and not plan:
            decision = {"action": "stop", "why": "the recipe scores no phase (no evaluate/retrieval)"}
        else:
            decision = decide(plan, ledger, idle_since, args) if info.is_main else None
        decision = agree(decision, info)
        if decision["action"] == "stop":
            if info.is_main:
                log.info("stopping after %d export(s): %s", scored, decision["why"])
            return scored
        if decision["action"] == "score":
            export = decision["export"]
            export = Export(**{**export, "tasks": tuple(export["tasks"])})
            score_one(cfg, export, run_dir, out, info, tracker, ledger)
            scored += 1
            idle_since = time.monotonic()  # scoring time is not idle time
