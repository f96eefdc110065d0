"""`xstilts align EXPORT --task T`: how well an export's layers align languages on parallel
sentences (trainer/evaluation/align_export.py measures; this prints and writes)."""
from __future__ import annotations

import os

from trainer.errors import USER_ERRORS, UserError
from trainer.evaluation.align_export import align
from trainer.runtime.logs import setup_logging


def run(args, _overrides) -> int:
    try:
        return run_align(args)
    except USER_ERRORS as err:
        raise UserError(str(err)) from None


def run_align(args) -> int:
    setup_logging(0)
    out = args.out or os.path.join(args.export, "align", args.task)
    split = args.split or ("validation" if args.task == "bucc2018" else "test")  # BUCC gold: dev only
    report = align(args.export, args.task, args.languages, split, args.data_root, out,
                   args.max_sentences, args.batch_size)
    for lang, entry in report["languages"].items():
        best = entry["per_layer"][entry["best_layer"]]
        print(f"{lang}: {entry['pairs']} pairs; best layer {entry['best_layer']}: accuracy "
              f"{best['accuracy']:.1f}, cosine pairs {best['cos_pairs']:.3f} vs random "
              f"{best['cos_random']:.3f}, CKA {best['cka']:.3f}")
    print(f"wrote {os.path.join(out, 'align.json')} and align.png")
    return 0
