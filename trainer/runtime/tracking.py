"""Trackers: a no-op by default, TensorBoard on rank 0. Call sites never test the rank.

Tag scheme: train/loss/<task>, train/lr, train/task_prob/<task>, train/grad_norm,
train/loss_scale, perf/tokens_per_sec, perf/samples_per_sec, eval/<task>/<lang>/<metric>.
"""
from __future__ import annotations

import json
import os
import time

PROGRESS = "progress.json"


class NullTracker:
    def scalars(self, values: dict[str, float], step: int) -> None:
        pass

    def text(self, tag: str, text: str, step: int = 0) -> None:
        pass

    def hparams(self, hparams: dict, metrics: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


class TensorBoardTracker(NullTracker):
    def __init__(self, logdir: str):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(logdir)

    def scalars(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def text(self, tag: str, text: str, step: int = 0) -> None:
        # Markdown code block keeps TOML/JSON readable in TensorBoard's text tab.
        self.writer.add_text(tag, "```\n" + text + "\n```", step)

    def hparams(self, hparams: dict, metrics: dict[str, float]) -> None:
        flat = {k: (v if isinstance(v, (int, float, str, bool)) else json.dumps(v))
                for k, v in hparams.items()}
        self.writer.add_hparams(flat, metrics, run_name=".")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class JsonlTracker(NullTracker):
    """Scalars as JSON lines (``{"step": s, "tag": value, ...}``): easy to diff and test."""

    def __init__(self, path: str):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.file = open(path, "a")

    def scalars(self, values: dict[str, float], step: int) -> None:
        self.file.write(json.dumps({"step": step, **values}) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class MultiTracker(NullTracker):
    def __init__(self, trackers: list[NullTracker]):
        self.trackers = trackers

    def scalars(self, values, step):
        for t in self.trackers:
            t.scalars(values, step)

    def text(self, tag, text, step=0):
        for t in self.trackers:
            t.text(tag, text, step)

    def hparams(self, hparams, metrics):
        for t in self.trackers:
            t.hparams(hparams, metrics)

    def close(self):
        for t in self.trackers:
            t.close()


def build_tracker(enabled: bool, logdir: str, is_main: bool, jsonl: str | None = None) -> NullTracker:
    """TensorBoard under ``logdir`` (if enabled) plus JSON lines at ``jsonl``, main rank only."""
    if not is_main:
        return NullTracker()
    trackers: list[NullTracker] = [JsonlTracker(jsonl)] if jsonl else []
    if enabled:
        os.makedirs(logdir, exist_ok=True)
        trackers.append(TensorBoardTracker(logdir))
    return MultiTracker(trackers)


def flatten(tree: dict, prefix: str = "") -> dict:
    """Nested config -> {"optim.lr": 1e-5, ...} for hparams."""
    out = {}
    for k, v in tree.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def record_progress(run_dir: str, phase_run: str, step: int, steps: int, is_main: bool) -> None:
    """``<run_dir>/progress.json``: the phase run and step training is at (rank 0, at log steps),
    for `xstilts status`; replaced atomically."""
    if not is_main:
        return
    path = os.path.join(run_dir, PROGRESS)
    with open(path + ".tmp", "w") as f:
        json.dump({"run": phase_run, "step": step, "steps": steps, "time": time.time()}, f)
    os.replace(path + ".tmp", path)
