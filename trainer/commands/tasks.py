"""`xstilts tasks`: every registered task with its kind, head, metric, languages and size, and,
for targets, the fine-tuning settings it carries (epochs, global batch, the tasks trained first)."""
from __future__ import annotations

from trainer.tasks import TASKS


def run(args, _overrides) -> int:
    rows = [("task", "kind", "head", "metric", "langs", "train size", "train group", "as a target")]
    for name, t in TASKS.items():
        size = f"{t.train_size:,}" if t.train_size else "-"
        rows.append((name, t.kind, t.head, t.metric, str(len(t.languages)), size, t.train_group, target(t)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def target(t) -> str:
    """``10 epochs, batch 16, after siqa (5 epochs)``: what a per-task phase trains by default
    (a dual encoder's learning rate and in-batch groups too)."""
    parts = [f"{t.target_epochs:g} epochs"] if t.target_epochs is not None else []
    if t.target_batch is not None:
        parts.append(f"batch {t.target_batch}")
    if t.target_lr is not None:
        parts.append(f"lr {t.target_lr:g}")
    if getattr(t, "negatives_group", 0):
        parts.append(f"negatives in groups of {t.negatives_group}")
    parts += [f"after {name} ({epochs:g} epochs)" for name, epochs in t.target_before]
    return ", ".join(parts) or "-"
