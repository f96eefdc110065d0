"""Inference for the evaluator: one work item (task, language, chunk of examples) in, one
prediction per example out, per head kind. Plain inference, no DeepSpeed engine.

Every rank prepares every evaluation set (read, tokenize: cached, main process first), so all
ranks build the same work items; each then runs only its own. The cost of an example is its
tokens (the lengths of its features, or of its tokenized sentence for retrieval), which is what
a forward pass pays. On a GPU the forward passes run under bf16 autocast and rows are padded
to ``data.pad_to_multiple_of`` as in training; on CPU they stay fp32 and pad to the longest row.

``XSTILTS_EVAL_FAULT=kind@item[:rank]`` (kind: raise, kill or hang) makes the given rank fail
at its item-th work item: a drill for the failure handling of the distributed evaluator.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from typing import Callable

import numpy as np
import torch

from eval import evaluator
from eval.evaluator import WorkItem, chunk_by_cost
from trainer.config import pair_lengths
from trainer.data.collate import collate, padded_length
from trainer.data.load import featurize_dataset, int_column, load_examples
from trainer.data.streams import pad_multiple
from trainer.evaluation import postprocess as pp
from trainer.runtime import dist, peers
from trainer.runtime.faults import parse
from trainer.runtime.watchdog import Watchdog
from trainer.tasks.base import RetrievalTask, Task

log = logging.getLogger("xstilts.eval")
EVAL_FAULT = "XSTILTS_EVAL_FAULT"
Key = tuple[str, str]


class Predictor:
    """Holds the model and the prepared (cached) evaluation data of every (task, lang, split)."""

    def __init__(self, model, tokenizer, cfg, tasks: dict[str, Task], split: str, noise=None, limit: int = 0):
        self.model, self.tokenizer, self.cfg = model, tokenizer, cfg
        self.limit = limit or cfg.data.max_eval_examples  # the first examples of each set (0: all)
        self.pair_limit = limit  # retrieval: the first queries, when asked for (RetrievalTask.subset)
        self.tasks, self.split = tasks, split
        self.noise = noise  # trainer.evaluation.noise.Noise: perturb every set as it is prepared
        self.device = next(model.parameters()).device
        self.autocast_dtype = autocast_dtype(self.device)
        # rows padded to a multiple, as in training: fewer batch shapes on a GPU, none on CPU
        self.pad_multiple = pad_multiple(cfg.data.pad_to_multiple_of, self.device.type) or None
        self.data: dict[Key, tuple] = {}  # (examples, features, first feature of each example)
        self.pairs: dict[Key, dict] = {}  # retrieval: sentence lists and gold pairs
        self.ids: dict[tuple[str, str, str], list] = {}  # retrieval: token ids per part
        self.costs: dict[tuple[str, str, str], np.ndarray] = {}  # tokens per example
        self.on_batch: Callable[[], None] | None = None  # progress signal (the watchdog's beat)

    # ------------------------------------------------------------ preparation
    def prepare(self, task: Task, lang: str) -> dict[str, int]:
        """Load and tokenize one evaluation set (cached); returns its parts and their sizes
        (the part "" for every task but retrieval, whose parts are its sentence lists)."""
        if isinstance(task, RetrievalTask):
            return self._prepare_pairs(task, lang)
        examples = load_examples(task, self.split_of(task), lang, self.cfg, limit=self.limit)
        if self.noise is not None:
            examples = self.noise.apply(task, lang, examples)
        features = featurize_dataset(task, examples, self.tokenizer, self.cfg, is_train=False)
        ex_idx = int_column(features, "example_idx")
        starts = np.searchsorted(ex_idx, np.arange(len(examples) + 1))
        tokens = np.concatenate([[0], np.cumsum(int_column(features))])
        self.data[(task.name, lang)] = (examples, features, starts)
        self.costs[(task.name, lang, "")] = tokens[starts[1:]] - tokens[starts[:-1]]
        return {"": len(examples)}

    def _prepare_pairs(self, task: RetrievalTask, lang: str) -> dict[str, int]:
        split = self.split_of(task)
        src, trg, gold = task.read_pairs(self.cfg.data.root, split, lang)
        if self.pair_limit:  # dev selection on a subset (eval.dev_subset)
            src, trg, gold = task.subset(src, trg, gold, self.pair_limit)
        if self.noise is not None:  # the source side only; BUCC's dev (threshold) stays clean
            src = self.noise.apply_pairs(task, self.cfg.data.root, split, lang, src)
        parts = {"src": src, "trg": trg, "gold": gold}
        if task.scorer.startswith("bucc") and split != task.dev_split:
            # BUCC's threshold is tuned on dev gold and applied to the scored split
            dsrc, dtrg, dgold = task.read_pairs(self.cfg.data.root, task.dev_split, lang)
            parts.update(dev_src=dsrc, dev_trg=dtrg, dev_gold=dgold)
        self.pairs[(task.name, lang)] = parts
        sizes = {}
        for part, sents in parts.items():
            if part.endswith("gold"):
                continue
            key = part_key(task, lang, part)
            if key not in self.ids:  # a shared part (a candidate pool) is tokenized once
                query, cand = pair_lengths(self.cfg, task)
                ids = self.tokenizer([t for _, t in sents], truncation=True,
                                     max_length=query if part.endswith("src") else cand)["input_ids"] if sents else []
                self.ids[key] = ids
                self.costs[key] = np.asarray([len(i) for i in ids], dtype=np.int64)
            sizes[part] = len(sents)
        return sizes

    def split_of(self, task: Task) -> str:
        return {"dev": task.dev_split, "test": task.test_split, "train": task.train_split}.get(
            self.split, self.split)

    def examples(self, task: str, lang: str):
        return self.data[(task, lang)][0]

    def retrieval_parts(self, task: str, lang: str) -> dict[str, int]:
        """Sentence lists of a retrieval set and their sizes (each is a work-item part)."""
        parts = self.pairs[(task, lang)]
        return {k: len(v) for k, v in parts.items() if not k.endswith("gold")}

    # ------------------------------------------------------------ prediction
    def __call__(self, item: WorkItem):
        task = self.tasks[item.task]
        if isinstance(task, RetrievalTask):
            return self.embed(self.ids[item.key][item.start:item.stop], task)
        examples, features, starts = self.data[(item.task, item.lang)]
        fs, fe = int(starts[item.start]), int(starts[item.stop])
        cols = features[fs:fe]  # one Arrow slice, as columns
        rows = [dict(zip(cols, values)) for values in zip(*cols.values())]
        logits = self.logits(task, rows)
        cols["example_idx"] = [i - item.start for i in cols["example_idx"]]  # item-local owners
        return self.postprocess(task, examples[item.start:item.stop], cols, logits)

    def autocast(self):
        """bf16 autocast on a GPU that has it; a no-op on CPU (fp32 there)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    @torch.no_grad()
    def logits(self, task: Task, rows: list[dict]) -> list[np.ndarray]:
        """Per-feature logits (float32), computed in length-sorted batches (less padding)."""
        order = sorted(range(len(rows)), key=lambda i: rows[i]["length"])
        out: list = [None] * len(rows)
        bs = self.cfg.eval.batch_size
        for b in range(0, len(order), bs):
            idx = order[b:b + bs]
            batch = collate(task.kind, [_strip(rows[i]) for i in idx], self.tokenizer.pad_token_id,
                            pad_to_multiple_of=self.pad_multiple)
            batch = {k: v.to(self.device) for k, v in batch.items()
                     if isinstance(v, torch.Tensor) and k not in LABEL_KEYS}
            with self.autocast():
                _, logit = self.model(task.name, batch)
            logit = logit.float().cpu().numpy()
            for j, i in enumerate(idx):
                out[i] = logit[j]
            if self.on_batch:
                self.on_batch()
        return out

    def postprocess(self, task: Task, examples: dict, cols: dict, logits: list) -> list:
        """One prediction per example of the item; ``cols`` are its features' columns with
        ``example_idx`` counted from the item's first example."""
        if task.kind in ("classification", "multiple_choice"):
            return [int(np.argmax(l)) for l in logits]
        if task.kind == "tagging":
            num_words = [len(t) for t in examples["tokens"]]
            return pp.tagging_predictions(cols, logits, tuple(task.labels), num_words)
        if task.kind == "span":
            answers = pp.span_predictions(examples, cols, [l[:, 0] for l in logits],
                                          [l[:, 1] for l in logits], n_best=self.cfg.eval.n_best,
                                          max_answer_length=self.cfg.eval.max_answer_length)
            return [answers.get(i, "") for i in examples["id"]]
        raise ValueError(f"task {task.name}: no prediction for head kind {task.kind}")

    @torch.no_grad()
    def embed(self, ids: list[list[int]], task: Task | None = None) -> np.ndarray:
        """L2-normalized sentence embeddings (float32) of token-id lists: by the model's trained
        dual-encoder head for ``task`` where it has one, else the mean-pooled retrieval layer."""
        head = self.model.retrieval_head(task.name) if task is not None else None
        out = np.zeros((len(ids), self.model.encoder.config.hidden_size), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        bs, pad = self.cfg.eval.batch_size, self.tokenizer.pad_token_id
        for b in range(0, len(order), bs):
            idx = order[b:b + bs]
            width = padded_length(max(len(ids[i]) for i in idx), self.pad_multiple)
            input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for j, i in enumerate(idx):
                input_ids[j, :len(ids[i])] = torch.as_tensor(ids[i])
                mask[j, :len(ids[i])] = 1
            enc = {"input_ids": input_ids.to(self.device), "attention_mask": mask.to(self.device)}
            with self.autocast():
                emb = (self.model.embed_with_head(enc, head) if head
                       else self.model.embed(enc, self.cfg.model.retrieval_layer))
            out[idx] = emb.float().cpu().numpy()
            if self.on_batch:
                self.on_batch()
        return out


LABEL_KEYS = ("labels", "start_positions", "end_positions")


def embedding_note(model, task: Task, layer: int) -> str:
    """How a retrieval task's sentences are embedded (for the results)."""
    head = model.retrieval_head(task.name)
    if head:
        return f"dual-encoder head {head} (pooled first token, trained)"
    return f"mean of hidden layer {layer} (no trained head)"


SHARED = "*"  # the language of a retrieval part that every language shares


def part_key(task: Task, lang: str, part: str) -> tuple[str, str, str]:
    """The work-item key of one set: (task, language, part); a part the task shares between its
    languages (``shared_parts``: LAReQA's and Mewsli-X's candidate pools) has the language "*",
    so it is embedded once for all languages."""
    return (task.name, SHARED if part in getattr(task, "shared_parts", ()) else lang, part)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype of inference on ``device``: bf16 on a GPU that supports it, else
    None (no autocast: fp32 on CPU, where bf16 matmuls are slow and less exact)."""
    if device.type != "cuda":
        return None
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16
    log.warning("this GPU has no bf16: evaluation runs in fp32")
    return None


def _strip(row: dict) -> dict:
    """Drop evaluation-only columns before padding."""
    return {k: v for k, v in row.items() if k not in ("offset_mapping", "word_ids")}


# ---------------------------------------------------------------- planning and running


def plan_items(predictor: Predictor, tasks: list[Task], languages: list[str] | None,
               chunk_tokens: int) -> tuple[dict, list[WorkItem]]:
    """(examples per (task, lang, part), work items) of every set to score. Every rank calls
    this and gets the same items: they depend on the data and ``chunk_tokens`` only."""
    expected: dict[tuple[str, str, str], int] = {}
    items: list[WorkItem] = []
    for task in tasks:
        for lang in task.languages:
            if languages and lang not in languages:
                continue
            for part, count in predictor.prepare(task, lang).items():
                key = part_key(task, lang, part)
                if key in expected:  # a shared part, already planned with an earlier language
                    continue
                expected[key] = count
                budget = chunk_tokens if chunk_tokens > 0 else float("inf")
                items += chunk_by_cost(task.name, key[1], predictor.costs[key], budget, part)
    return expected, items


def run_and_gather(cfg, items: list[WorkItem], predict: Callable[[WorkItem], object], info):
    """Run this rank's items, wait for the other ranks, gather everything on rank 0: returns
    ``evaluator.gather``'s (merged results, rank reports), None on the other ranks.

    The items run under the progress watchdog, which every batch feeds (a rank stuck in one
    batch ends the job instead of holding its peers), with the progress bar on rank 0. The wait for the slowest rank goes
    through the slow group: bounded in hours, not by the short collective timeout, while a dead
    peer still ends it at once (its sockets close); meanwhile only the heartbeat runs, so that
    peers see this rank waiting in a collective rather than stuck."""
    label, hooks = f"rank {info.rank} [evaluate]", peers.watchdog_hooks(info)
    watchdog = Watchdog(cfg.deepspeed.watchdog_s, label, **hooks)
    done = [0]

    def beat() -> None:  # the watchdog's "step" is the number of items finished
        done[0] += 1
        watchdog.beat(done[0])

    fed = hasattr(predict, "on_batch")  # a Predictor (or an Attacker) beats the watchdog per batch
    if fed:
        predict.on_batch = watchdog.beat
    try:
        results, report = evaluator.run(items, with_fault(predict, info.rank), info.rank,
                                        progress=info.is_main, heartbeat=beat)
    finally:
        watchdog.stop()
        if fed:
            predict.on_batch = None
    waiting = Watchdog(0, label, **hooks)
    waiting.beat(done[0])
    try:
        dist.slow_barrier()
        return evaluator.gather(results, report)
    finally:
        waiting.stop()


# ---------------------------------------------------------------- fault drill


def with_fault(predict: Callable[[WorkItem], object], rank: int) -> Callable[[WorkItem], object]:
    """``predict``, failing as ``XSTILTS_EVAL_FAULT`` asks on this rank (unchanged if unset)."""
    spec = os.environ.get(EVAL_FAULT)
    if not spec:
        return predict
    kind, at, who = parse(spec)
    if kind not in ("raise", "kill", "hang"):
        raise ValueError(f"{EVAL_FAULT}={spec!r}: the evaluator drills raise, kill and hang")
    if who is not None and who != rank:
        return predict
    done = [0]

    def faulty(item: WorkItem):
        done[0] += 1
        if done[0] == at:
            print(f"xstilts fault: {kind} on rank {rank} at evaluation item {at} "
                  f"(t={time.time():.3f})", file=sys.stderr, flush=True)
            if kind == "raise":
                raise RuntimeError(f"injected evaluation fault on rank {rank} (item {at})")
            if kind == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            while True:
                time.sleep(1)
        return predict(item)

    return faulty
