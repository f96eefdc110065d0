"""Reading a feature column at start-up: as a Python sequence (row by row) or from Arrow at once.

  python benchmarks/columns.py [--rows 400000]

Training reads every task's ``length`` column twice before the first step (the truncation
report and the length-grouped batch order); the evaluator reads ``length`` and
``example_idx`` of every set. ``datasets`` returns a column as a lazy sequence that converts one
row per access; ``trainer.data.load.int_column`` reads it through the numpy format in one go. The
rows here are the size of MNLI's training set (393k features).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=400_000)
    a = p.parse_args(argv)
    import datasets
    import numpy as np

    from trainer.data.load import int_column

    rng = np.random.default_rng(common.SEED)
    ds = datasets.Dataset.from_dict({"length": rng.integers(8, 128, a.rows).tolist(),
                                     "input_ids": [[5, 6, 7]] * a.rows})
    out = {"rows": a.rows}
    t = time.perf_counter()
    plain = np.asarray(ds["length"], dtype=np.int64)
    out["python_sequence_s"] = time.perf_counter() - t
    t = time.perf_counter()
    fast = int_column(ds)
    out["arrow_s"] = time.perf_counter() - t
    assert (plain == fast).all()
    print(f"# columns: {common.machine()}; {a.rows} rows: as a Python sequence "
          f"{out['python_sequence_s']:.2f} s, from Arrow {out['arrow_s']:.3f} s", flush=True)
    return out


if __name__ == "__main__":
    main()
