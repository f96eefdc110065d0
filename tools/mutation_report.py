"""Kill rate per package and file from mutmut's results in mutants/, and the surviving mutants
that tools/mutation_equivalent.txt does not list as equivalent.

    python tools/mutation_report.py [PATH...]      PATH: a package or file, e.g. eval trainer/data
    python tools/mutation_report.py --open [PATH...]   names of the mutants not checked yet or
                                                       not killed (what `tools/mutation.sh --again` runs)
    python tools/mutation_report.py --sample N [PATH...]   N mutants of each file drawn at random
                                                       (the same N for the same file every time),
                                                       those not checked yet (`tools/mutation.sh --sample`)

Killed counts a mutant some test failed on. A timeout (or -9: a test that hung asleep, out of
reach of mutmut's CPU-time limit, ended by hand) is listed apart and counts against the rate:
on busy cores a slow test can pass the limit without the mutant making it hang, so
`tools/mutation.sh --again` re-runs it. The rate is killed / (mutants - equivalent);
survivors, timeouts and mutants no fast test reaches all count against it. Exits 1 when some package is under 90% or a mutant is not checked yet.
"""
from __future__ import annotations

import glob
import json
import os
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EQUIVALENT = os.path.join(ROOT, "tools", "mutation_equivalent.txt")
GOAL = 0.90
KILLED = {1, 3, 37}  # a failing test, a pytest error, the type check
TIMEOUT = {36, 24, -24, 152, 255, -9}
SURVIVED = {0}
NO_TESTS = {5, 33}


def read_equivalent(path: str = EQUIVALENT) -> dict[str, str]:
    """``{mutant name: reason}`` from lines ``NAME  reason``; ``#`` starts a comment line."""
    out: dict[str, str] = {}
    if not os.path.isfile(path):
        return out
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        if not reason.strip():
            raise SystemExit(f"{path}:{n}: {name} has no reason")
        out[name] = reason.strip()
    return out


def read_results(root: str = ROOT) -> dict[str, dict[str, int | None]]:
    """``{source file: {mutant name: exit code}}`` from mutants/**/*.py.meta."""
    out = {}
    base = os.path.join(root, "mutants")
    for meta in sorted(glob.glob(os.path.join(base, "**", "*.py.meta"), recursive=True)):
        source = os.path.relpath(meta, base)[:-len(".meta")]
        out[source] = json.load(open(meta))["exit_code_by_key"]
    return out


def wanted(source: str, paths: list[str]) -> bool:
    return not paths or any(source == p or source.startswith(p.rstrip("/") + "/") for p in paths)


def tally(codes: dict[str, int | None], equivalent: dict[str, str]) -> dict:
    t = {"mutants": len(codes), "equivalent": 0, "killed": 0, "survived": [], "no_tests": [],
         "timeout": [], "other": [], "unchecked": 0}
    for name, code in sorted(codes.items()):
        if name in equivalent:
            t["equivalent"] += 1
        elif code in KILLED:
            t["killed"] += 1
        elif code is None:
            t["unchecked"] += 1
        elif code in SURVIVED:
            t["survived"].append(name)
        elif code in NO_TESTS:
            t["no_tests"].append(name)
        elif code in TIMEOUT:
            t["timeout"].append(name)
        else:
            t["other"].append(f"{name} (exit {code})")
    return t


def rate(t: dict) -> str:
    counted = t["mutants"] - t["equivalent"] - t["unchecked"]
    return f"{t['killed']}/{counted} = {100 * t['killed'] / counted:.1f}%" if counted else "-"


def merge(ts: list[dict]) -> dict:
    out = {"mutants": 0, "equivalent": 0, "killed": 0, "survived": [], "no_tests": [], "timeout": [],
           "other": [], "unchecked": 0}
    for t in ts:
        for k in out:
            out[k] += t[k]
    return out


def open_names(paths: list[str]) -> list[str]:
    """Mutants of ``paths`` still to run: never checked, or not killed and not equivalent."""
    equivalent = read_equivalent()
    return [name for source, codes in read_results().items() if wanted(source, paths)
            for name, code in codes.items() if code not in KILLED and name not in equivalent]


def sample_names(n: int, paths: list[str]) -> list[str]:
    """``n`` mutants of each file of ``paths`` drawn at random, seeded by the file's path (so a
    sample can be re-run and extended: a larger ``n`` keeps the smaller one's draws), less those
    already checked. The checked part of a sampled file estimates the file's kill rate."""
    import random

    out = []
    for source, codes in read_results().items():
        if wanted(source, paths):
            names = sorted(codes)
            random.Random(source).shuffle(names)
            out += [name for name in names[:n] if codes[name] is None]
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["--open"]:
        print("\n".join(open_names(argv[1:])))
        return 0
    if argv[:1] == ["--sample"]:
        if len(argv) < 2 or not argv[1].isdigit():
            raise SystemExit("--sample needs a number of mutants per file")
        print("\n".join(sample_names(int(argv[1]), argv[2:])))
        return 0
    results = {s: c for s, c in read_results().items() if wanted(s, argv)}
    if not results:
        print("no mutmut results in mutants/ (run tools/mutation.sh first)")
        return 1
    equivalent = read_equivalent()
    by_file = {s: tally(c, equivalent) for s, c in results.items()}
    packages = defaultdict(list)
    for source, t in by_file.items():
        packages[os.path.dirname(source)].append(source)
    row = "{:<40} {:>7} {:>6} {:>6} {:>8} {:>8} {:>7} {:>9}  {}"
    print(row.format("package / file", "mutants", "equiv", "killed", "survived", "no tests", "timeout",
                     "unchecked", "killed / non-equivalent"))
    ok = True
    for package in sorted(packages):
        files = sorted(packages[package])
        p = merge([by_file[f] for f in files])
        counted = p["mutants"] - p["equivalent"] - p["unchecked"]
        ok &= p["unchecked"] == 0 and counted > 0 and p["killed"] >= GOAL * counted
        for name, t in [(package + "/", p)] + [("  " + os.path.basename(f), by_file[f]) for f in files]:
            print(row.format(name, t["mutants"], t["equivalent"], t["killed"], len(t["survived"]),
                             len(t["no_tests"]), len(t["timeout"]), t["unchecked"], rate(t)))
    total = merge(list(by_file.values()))
    print(row.format("all", total["mutants"], total["equivalent"], total["killed"], len(total["survived"]),
                     len(total["no_tests"]), len(total["timeout"]), total["unchecked"], rate(total)))
    left = [(n, "survived") for n in total["survived"]] + [(n, "no fast test reaches it") for n in total["no_tests"]]
    left += [(n, "timeout") for n in total["timeout"]] + [(n, "other") for n in total["other"]]
    if left:
        print(f"\n{len(left)} mutants not killed and not listed in tools/mutation_equivalent.txt "
              f"(.venv/bin/mutmut show NAME):")
        for name, why in left:
            print(f"  {name}  [{why}]")
    stale = sorted(set(equivalent) - {n for c in read_results().values() for n in c})
    if stale and not argv:
        print(f"\n{len(stale)} names in tools/mutation_equivalent.txt match no mutant any more: " + ", ".join(stale))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
