"""Data: read a task split (local released files or the hub) into a cached ``datasets.Dataset``,
tokenize it once with ``map`` (cached by fingerprint; main process first, the others reuse the
cache), and cut it into length-grouped, dynamically padded batches.

Batching is defined on *global* batches so that data positions survive a change of world size:
an epoch is a seeded permutation of the task's features, sorted by length inside chunks of
``GROUP_CHUNK`` global batches, cut into global batches of ``global_batch`` rows, and the
global batches shuffled. Global batch b is split into micro-batches of ``micro_batch`` rows;
rank r takes micro-batches r, r + world, r + 2 world, ... (its accumulation steps). The position
of a task is (epoch, global batches consumed), the same whatever the world size.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import weakref
from dataclasses import dataclass

import numpy as np

from trainer.config import given_hub, max_length_for, pair_lengths
from trainer.data import features
from trainer.data.features import featurize
from trainer.tasks import get_task
from trainer.tasks.base import HubSource, SkipCounter, Task

log = logging.getLogger("xstilts.data")
GROUP_CHUNK = 64  # global batches per length-sorting chunk: long enough to group, short enough to mix


def example_schema(kind: str):
    import datasets as ds

    s = ds.Value("string")
    schemas = {
        "classification": {"id": s, "text_a": s, "text_b": s, "label": ds.Value("int64")},
        "multiple_choice": {"id": s, "context": s, "question": s, "choices": ds.Sequence(s),
                            "label": ds.Value("int64")},
        "span": {"id": s, "context": s, "question": s,
                 "answers": {"text": ds.Sequence(s), "answer_start": ds.Sequence(ds.Value("int64"))}},
        "tagging": {"id": s, "tokens": ds.Sequence(s), "tags": ds.Sequence(s)},
        "mlm": {"id": s, "text": s},
        "retrieval": {"id": s, "query": s, "candidate": s},
    }
    return ds.Features(schemas[kind])


def _generate(task_name: str, source: str, path: str, split: str, lang: str, skip: bool,
              limit: int, stamp: str, report: str, hub: tuple | None = None):
    """datasets generator: canonical examples of one split (runs once; the result is cached).
    ``hub`` (path, config, split) replaces the task's own hub source (data.train_files)."""
    import dataclasses

    task = get_task(task_name)
    if hub is not None:
        task = dataclasses.replace(task, hub={split: HubSource(*hub)})
    skips = SkipCounter(skip)
    rows = task.read_local(path, split, lang, skips) if source == "local" else task.from_hub(split, lang)
    for i, row in enumerate(rows):
        if limit and i >= limit:
            break
        yield row
    write_report(report, {"skipped": skips.count, "examples": skips.examples, "path": path})


def write_report(path: str, data: dict) -> None:
    """A cache report, whole or not at all: runs that share a cache may read it while another
    writes it."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def cache_root(cfg) -> str:
    return cfg.data.cache_dir or os.path.join(cfg.run.out, "cache")


def load_examples(task: Task, split: str, lang: str, cfg, limit: int = 0):
    """Canonical examples of ``task``/``split``/``lang`` as a cached ``datasets.Dataset``."""
    import datasets as ds

    task.check_language(lang)
    source, path, hub = data_source(task, split, lang, cfg)
    if source == "local":
        if not os.path.isfile(path):
            raise FileNotFoundError(f"task {task.name}: {split} data for {lang} not found: {path}")
        st = os.stat(path)
        stamp = f"{st.st_size}-{st.st_mtime_ns}"
    else:
        stamp = "hub"
    key = hashlib.sha1(f"{task.name}|{source}|{path}|{split}|{lang}|{stamp}|{limit}|"
                       f"{cfg.data.skip_bad_rows}".encode()).hexdigest()[:16]
    report = os.path.join(cache_root(cfg), "reports", f"{task.name}-{split}-{lang}-{key}.json")
    data = ds.Dataset.from_generator(
        _generate, features=example_schema(task.kind), cache_dir=os.path.join(cache_root(cfg), "raw"),
        gen_kwargs=dict(task_name=task.name, source=source, path=path, split=split, lang=lang,
                        skip=cfg.data.skip_bad_rows, limit=limit, stamp=stamp, report=report, hub=hub))
    if os.path.isfile(report):
        with open(report) as f:
            rep = json.load(f)
        if rep["skipped"]:
            log.warning("%s: skipped %d bad rows (data.skip_bad_rows = true), e.g. %s",
                        rep["path"], rep["skipped"], rep["examples"][:2])
    if len(data) == 0:
        raise ValueError(f"task {task.name}: {path} holds no examples")
    return data


def data_source(task: Task, split: str, lang: str, cfg) -> tuple[str, str, tuple | None]:
    """(``local`` or ``hub``, file path or hub description, hub source given by the recipe) of
    one split. ``data.train_files`` decides for the training split of the tasks it names."""
    given = cfg.data.train_files.get(task.name) if split == task.train_split else None
    if given and given.startswith("hub:"):
        hub = given_hub(given, lang)
        return "hub", f"hub:{hub}", hub
    if given:
        return "local", os.path.join(cfg.data.root, given.format(lang=lang)), None
    if cfg.data.source == "local":
        return "local", task.local_path(cfg.data.root, split, lang), None
    return "hub", f"hub:{task.hub.get(split)}", None


def featurize_dataset(task: Task, examples, tokenizer, cfg, is_train: bool):
    """Tokenize with ``datasets.map`` (cached by fingerprint: a re-run reads the cache).

    Counters from featurization (QA answers that cannot be located, empty MLM texts) are kept
    beside the cache, so a cached run reports them as the first one did."""
    d = cfg.data
    max_len, max_query = max_length_for(cfg, task.name, task.kind), d.max_query_length
    if task.kind == "retrieval":  # a dual encoder's training pairs: each side has its limit
        max_query, max_len = pair_lengths(cfg, task)
    kwargs = dict(kind=task.kind, tokenizer=tokenizer, max_length=max_len, doc_stride=d.doc_stride,
                  max_query_length=max_query, labels=tuple(task.labels), is_train=is_train)
    stats: dict = {}
    features = examples.map(_featurize_rows, batched=True, with_indices=True,
                            fn_kwargs={"kw": kwargs, "stats": stats},
                            remove_columns=examples.column_names,
                            desc=f"tokenizing {task.name}", load_from_cache_file=True,
                            new_fingerprint=features_fingerprint(examples, kwargs))
    report = os.path.join(cache_root(cfg), "reports", f"features-{features._fingerprint}.json")
    if stats:
        write_report(report, stats)
    elif os.path.isfile(report):
        with open(report) as f:
            stats = json.load(f)
    if stats.get("unlocatable"):
        log.warning("%s: %d training examples whose answer is not at its answer_start were left out "
                    "(e.g. ids %s)", task.name, stats["unlocatable"], stats.get("unlocatable_ids", [])[:3])
    if stats.get("empty"):
        log.warning("%s: %d texts without tokens were skipped", task.name, stats["empty"])
    return features


_TOKENIZER_HASHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def features_fingerprint(examples, kwargs: dict) -> str:
    """The cache key of a featurization: the examples, the arguments, the tokenizer and the
    featurization code. Computed here because datasets' default pickles the whole tokenizer at
    every ``map`` (for a 250k-piece vocabulary, most of a cached re-run); the tokenizer is
    hashed once per process instead, the same way datasets hashes it."""
    from datasets.fingerprint import Hasher


    tok = kwargs["tokenizer"]
    if tok not in _TOKENIZER_HASHES:
        _TOKENIZER_HASHES[tok] = Hasher.hash(tok)
    with open(features.__file__, "rb") as f:
        code = hashlib.sha1(f.read()).hexdigest()
    rest = {k: v for k, v in kwargs.items() if k != "tokenizer"}
    return Hasher.hash([examples._fingerprint, rest, _TOKENIZER_HASHES[tok], code])


def _featurize_rows(batch: dict, indices: list[int], kw: dict, stats: dict) -> dict:
    return featurize(batch=batch, indices=indices, stats=stats, **kw)


# ---------------------------------------------------------------- batching


@dataclass
class StreamState:
    epoch: int = 0
    position: int = 0  # global batches consumed in this epoch


def int_column(features, name: str = "length") -> np.ndarray:
    """One integer column as an int64 array, read from Arrow in one go (a datasets column read
    as a Python sequence converts row by row: seconds for a few hundred thousand features)."""
    return features.with_format("numpy", columns=[name])[:][name].astype(np.int64)


class TaskStream:
    """The global batches of one task, epoch after epoch, and this rank's share of each."""

    def __init__(self, name: str, features, global_batch: int, micro_batch: int,
                 world_size: int, rank: int, seed: int, group_by_length: bool = True):
        if global_batch % (micro_batch * world_size):
            raise ValueError("global batch must be a multiple of micro batch x world size")
        self.name, self.features = name, features
        self.lengths = int_column(features)
        self.global_batch, self.micro_batch = global_batch, micro_batch
        self.world_size, self.rank = world_size, rank
        self.seed = seed
        self.group_by_length = group_by_length
        self.state = StreamState()
        self._order: list[np.ndarray] | None = None
        if len(self.lengths) < global_batch:
            raise ValueError(f"task {name}: {len(self.lengths)} training features is fewer than one "
                             f"global batch ({global_batch})")

    @property
    def batches_per_epoch(self) -> int:
        return len(self.lengths) // self.global_batch

    def _epoch_order(self, epoch: int) -> list[np.ndarray]:
        # Seeded by (seed, task, epoch) only: identical on every rank and across world sizes.
        tag = int(hashlib.sha1(self.name.encode()).hexdigest()[:8], 16)
        rng = np.random.default_rng([self.seed, tag, epoch])
        perm = rng.permutation(len(self.lengths))
        n = self.batches_per_epoch * self.global_batch  # the remainder waits for the next epoch
        perm = perm[:n]
        if self.group_by_length:
            chunk = GROUP_CHUNK * self.global_batch
            parts = [p[np.argsort(-self.lengths[p], kind="stable")] for p in
                     (perm[i:i + chunk] for i in range(0, n, chunk))]
            perm = np.concatenate(parts)
        batches = perm.reshape(-1, self.global_batch)
        return [batches[i] for i in rng.permutation(len(batches))]

    def next_step(self) -> list[list[int]]:
        """This rank's micro-batches (feature indices) of the next global batch."""
        if self._order is None:
            self._order = self._epoch_order(self.state.epoch)
        if self.state.position >= len(self._order):
            self.state = StreamState(self.state.epoch + 1, 0)
            self._order = self._epoch_order(self.state.epoch)
        batch = self._order[self.state.position]
        self.state.position += 1
        micro = batch.reshape(-1, self.micro_batch)
        return [micro[j].tolist() for j in range(self.rank, len(micro), self.world_size)]

    def rows(self, indices: list[int]) -> list[dict]:
        cols = self.features[indices]
        keys = list(cols)
        return [dict(zip(keys, vals)) for vals in zip(*(cols[k] for k in keys))]

    def state_dict(self) -> dict:
        return {"epoch": self.state.epoch, "position": self.state.position}

    def load_state_dict(self, state: dict) -> None:
        self.state = StreamState(int(state["epoch"]), int(state["position"]))
        self._order = None
