"""Shared fixtures: the repo root, the real data samples beside the checkout, a tiny tokenizer;
the hypothesis profiles (``HYPOTHESIS_PROFILE=mutation`` for mutation runs: the same examples
every run, no example database)."""
from __future__ import annotations

import os
import sys

import pytest
from hypothesis import settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# XSTILTS_REAL_DATA: for a copy of the tests run elsewhere (tools/mutation.sh runs them in mutants/)
REAL = os.environ.get("XSTILTS_REAL_DATA") or os.path.join(os.path.dirname(ROOT), "shared", "data", "real")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

settings.register_profile("xstilts", deadline=None)
settings.register_profile("mutation", deadline=None, derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "xstilts"))


@pytest.fixture(scope="session")
def repo_root() -> str:
    return ROOT


@pytest.fixture(scope="session")
def real_data() -> str:
    if not os.path.isdir(REAL):
        pytest.skip(f"real data samples not found at {REAL} (../shared/data/real beside the checkout)")
    return REAL


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "slow: starts processes (launchers, ranks, the demo): "
                                       "left out of the fast tier, `pytest -m \"not slow\"`")


@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures the code under test closes, kept for inspection."""
    import matplotlib.pyplot as plt

    closed = []
    real = plt.close

    def close(fig=None):
        closed.append(fig)
        real(fig)

    monkeypatch.setattr(plt, "close", close)
    return closed


@pytest.fixture
def ascii_default_open(monkeypatch):
    """``open`` in text mode without an encoding reads and writes ASCII, as under an ASCII locale
    (so a test can tell a file opened as UTF-8 from one opened in the locale's encoding); the
    fixture's value is the real ``open``."""
    import builtins

    real_open = builtins.open

    def ascii_default(file, mode="r", buffering=-1, encoding=None, *args, **kw):
        if "b" not in mode:
            encoding = encoding or "ascii"
        return real_open(file, mode, buffering, encoding, *args, **kw)

    monkeypatch.setattr(builtins, "open", ascii_default)
    return real_open


def pytest_collection_modifyitems(config, items) -> None:
    """In a mutation run (tools/mutation.sh: mutmut runs the selected tests with -x in its
    mutants/ folder), the quickest files first, each file's tests together and quickest first, by
    the durations mutmut recorded: a mutant that a quick test kills does not wait for the slow
    tests that also reach it. Elsewhere the order stays as collected."""
    if not os.environ.get("MUTANT_UNDER_TEST") or not os.path.exists("mutmut-stats.json"):
        return
    import json

    with open("mutmut-stats.json", encoding="utf-8") as f:
        took = json.load(f).get("duration_by_test", {})
    per_file: dict[str, float] = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        per_file[path] = per_file.get(path, 0.0) + took.get(item.nodeid, 1.0)

    def order(item) -> tuple:
        path = item.nodeid.split("::")[0]
        return per_file[path], path, took.get(item.nodeid, 1.0)

    items.sort(key=order)
