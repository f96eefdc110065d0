"""`xstilts report RUN_DIR ...`: mean +- std over runs (seeds) (eval/report.py does the work)."""
from __future__ import annotations

from eval.report import main


def run(args, _overrides) -> int:
    return main(args.runs, args.out)
