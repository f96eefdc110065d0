"""`xstilts tasks`: every registered task with its kind, head, metric, languages and size."""
from __future__ import annotations

from trainer.tasks import TASKS


def run(args, _overrides) -> int:
    rows = [("task", "kind", "head", "metric", "langs", "train size", "train group")]
    for name, t in TASKS.items():
        size = f"{t.train_size:,}" if t.train_size else "-"
        rows.append((name, t.kind, t.head, t.metric, str(len(t.languages)), size, t.train_group))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0
