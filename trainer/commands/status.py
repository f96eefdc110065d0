"""`xstilts status RUN_OR_SWEEP`: the state of every job `--launcher slurm` submitted for a run
or a sweep: pending (and why), running at step N of M, done, or failed with the path of its log.

The jobs are those recorded in ``slurm/jobs.json`` under the folder (a run, or a sweep's
settings and its collector). States come from ``scontrol show job`` (it knows a job until
``MinJobAge`` after its end), else from ``sacct`` where the cluster keeps accounting, else from
the run folder itself (a run with results is done).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass

from trainer.commands.slurm_jobs import SCRIPTS
from trainer.commands.submit import RECORD
from trainer.errors import UserError
from trainer.runtime.tracking import PROGRESS

PENDING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "RESIZING", "SUSPENDED",
           "SIGNALING", "STAGE_OUT"}
RUNNING = {"RUNNING", "COMPLETING"}


@dataclass
class JobState:
    job_id: str  # "12", or "12_3" for element 3 of array job 12
    index: int | None  # the array index, None outside an array
    state: str  # Slurm's word (RUNNING, ...); "" when Slurm no longer knows the job
    reason: str = ""
    exit_code: str = ""
    restarts: int = 0

    @property
    def final(self) -> bool:
        return self.state not in PENDING | RUNNING


def _indices(text: str) -> list[int]:
    """``0-2,5%2`` -> [0, 1, 2, 5] (the ``%`` limit is dropped)."""
    out: list[int] = []
    for part in text.split("%")[0].split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit():
            out += list(range(int(lo), int(hi or lo) + 1))
    return out


def parse_scontrol(text: str) -> list[JobState]:
    """One JobState per job (per array element) in ``scontrol show job -o`` output."""
    states = []
    for line in text.splitlines():
        f = dict(re.findall(r"(\w+)=(\S*)", line))
        if "JobId" not in f:
            continue
        restarts = int(f.get("Restarts", "0") or 0)
        task = f.get("ArrayTaskId", "")
        common = (f.get("JobState", ""), f.get("Reason", ""), f.get("ExitCode", ""), restarts)
        if not task:
            states.append(JobState(f["JobId"], None, *common))
        else:
            states += [JobState(f"{f['ArrayJobId']}_{i}", i, *common) for i in _indices(task)]
    return states


def query(job_id: str) -> list[JobState]:
    """The job's state(s) from Slurm; [] when it knows nothing of it any more."""
    try:
        out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True)
    except FileNotFoundError:
        raise UserError("scontrol not found: `xstilts status` needs Slurm's client commands") from None
    if out.returncode == 0:
        return parse_scontrol(out.stdout)
    try:  # purged from the controller; accounting, where the cluster keeps it, still knows
        acct = subprocess.run(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "JobID,State,ExitCode"],
                              capture_output=True, text=True)
    except FileNotFoundError:
        return []
    states = []
    for row in acct.stdout.splitlines() if acct.returncode == 0 else []:
        jid, state, code = (row.split("|") + ["", ""])[:3]
        index = int(jid.split("_")[1]) if "_" in jid and jid.split("_")[1].isdigit() else None
        states.append(JobState(jid, index, state.split()[0] if state else "", "", code))
    return states


def progress(run: str) -> str:
    path = os.path.join(run, PROGRESS)
    try:
        with open(path) as f:
            p = json.load(f)
        return f"at step {p['step']} of {p['steps']} ({p['run']})"
    except (OSError, ValueError, KeyError):
        return "(starting up)"


def describe(kind: str, st: JobState, run: str, log: str) -> str:
    """One job in words: pending / running at step N of M / done / failed with its log."""
    if st.state in PENDING:
        again = f", requeued {st.restarts} time(s)" if st.restarts else ""
        return f"pending ({st.reason or st.state}{again})"
    if st.state in RUNNING:
        return f"running {progress(run)}" if kind == "train" else "running"
    if st.state == "COMPLETED":
        return "done"
    if not st.state:  # Slurm no longer knows it: the run folder tells
        scored = any(os.path.isfile(os.path.join(run, f)) for f in ("results.json", "grid.json"))
        return "done" if scored else f"unknown (Slurm no longer lists it), log: {log}"
    code = f", exit {st.exit_code}" if st.exit_code else ""
    return f"failed ({st.state.lower()}{code}), log: {log}"


def job_lines(entry: dict) -> list[tuple[str, JobState, str, str]]:
    """(kind, state, run folder, log) of each job (array element) of one recorded submission."""
    states = query(entry["id"])
    runs = entry.get("runs") or [""]
    if entry.get("array"):
        known = {s.index: s for s in states}
        out = []
        for i in _indices(entry["array"]):
            st = known.get(i, JobState(f"{entry['id']}_{i}", i, ""))
            log = entry["log"].replace("%A", entry["id"]).replace("%a", str(i))
            out.append((entry["kind"], st, runs[i] if i < len(runs) else "", log))
        return out
    st = states[0] if states else JobState(entry["id"], None, "")
    return [(entry["kind"], st, runs[0], entry["log"].replace("%j", entry["id"]))]


def records(folder: str, depth: int = 3) -> list[str]:
    """Every ``slurm/jobs.json`` in ``folder`` and its sub-folders (a sweep's settings)."""
    found = []
    for here, dirs, files in os.walk(folder):
        if os.path.basename(here) == SCRIPTS and RECORD in files:
            found.append(os.path.join(here, RECORD))
        if here[len(folder):].count(os.sep) >= depth:
            dirs[:] = []
        dirs.sort()
    return found


def status_lines(folder: str) -> list[str]:
    folder = os.path.abspath(folder)
    paths = records(folder)
    if not paths:
        raise UserError(f"{folder}: no Slurm jobs recorded here ({SCRIPTS}/{RECORD}); was it submitted "
                        f"with --launcher slurm?")
    lines = []
    for path in paths:
        with open(path) as f:
            entries = json.load(f)
        for entry in entries:
            for kind, st, run, log in job_lines(entry):
                where = os.path.relpath(run, folder) if run else "."
                lines.append(f"{st.job_id:<10} {kind:<9} {where:<28} {describe(kind, st, run, log)}")
    return lines


def wait(entries: list[dict], poll: float = 3.0, quiet_s: float = 30.0) -> bool:
    """Wait until every job has ended, printing each change of state (progress at most every
    ``quiet_s``); True when every one completed."""
    shown: dict[str, tuple[str, str, float]] = {}
    while True:
        lines = [line for entry in entries for line in job_lines(entry)]
        for kind, st, run, log in lines:
            text, word = describe(kind, st, run, log), st.state or "GONE"
            before = shown.get(st.job_id)
            if before is None or (before[0] != word) or (text != before[1] and time.time() - before[2] > quiet_s):
                print(f"xstilts: job {st.job_id} ({kind}): {text}", flush=True)
                shown[st.job_id] = (word, text, time.time())
        if all(st.final for _, st, _, _ in lines):
            return all(st.state == "COMPLETED" for _, st, _, _ in lines)
        time.sleep(poll)


def run(args, _overrides) -> int:
    print("\n".join(status_lines(args.target)))
    return 0
