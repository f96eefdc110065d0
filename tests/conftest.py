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
