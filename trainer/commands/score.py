"""`xstilts score`: a prediction folder in the XTREME submission layout against a label folder
(eval/scorer.py does the work)."""
from __future__ import annotations

from eval.scorer import main


def run(args, _overrides) -> int:
    argv = ["--predictions", args.predictions, "--labels", args.labels, "--out", args.out]
    if args.tasks:
        argv += ["--tasks", *args.tasks]
    if args.languages:
        argv += ["--languages", *args.languages]
    if args.allow_missing:
        argv.append("--allow-missing")
    return main(argv)
