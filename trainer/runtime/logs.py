"""Logging set-up of a process: INFO on rank 0, warnings elsewhere; the libraries' own chatter
and per-load progress bars quieted."""
from __future__ import annotations

import logging


def setup_logging(rank: int) -> None:
    level = logging.INFO if rank == 0 else logging.WARNING
    logging.basicConfig(level=level, format=f"%(asctime)s [rank {rank}] %(name)s: %(message)s",
                        datefmt="%H:%M:%S", force=True)
    for noisy in ("datasets", "transformers", "DeepSpeed", "torch.distributed"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:  # progress bars: rank 0's evaluator bar only; no per-load bars from the libraries
        import datasets
        import transformers

        transformers.utils.logging.disable_progress_bar()
        if rank != 0:
            datasets.disable_progress_bars()
    except ImportError:
        pass
