"""Inference for the evaluator: one work item (task, language, chunk of examples) in, one
prediction per example out, per head kind. Plain inference, no DeepSpeed engine."""
from __future__ import annotations

import numpy as np
import torch

from eval.evaluator import WorkItem
from trainer.data import featurize_dataset, load_examples
from trainer.tasks.base import RetrievalTask, Task


class Predictor:
    """Holds the model and the prepared (cached) evaluation data of every (task, lang, split)."""

    def __init__(self, model, tokenizer, cfg, tasks: dict[str, Task], split: str):
        self.model, self.tokenizer, self.cfg = model, tokenizer, cfg
        self.tasks, self.split = tasks, split
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.data: dict[tuple[str, str], tuple] = {}
        self.pairs: dict[tuple[str, str], tuple] = {}

    # ------------------------------------------------------------ preparation
    def prepare(self, task: Task, lang: str) -> int:
        """Load and tokenize one evaluation set (cached); returns its number of examples."""
        if isinstance(task, RetrievalTask):
            split = self.split_of(task)
            src, trg, gold = task.read_pairs(self.cfg.data.root, split, lang)
            parts = {"src": src, "trg": trg, "gold": gold}
            if task.scorer.startswith("bucc") and split != task.dev_split:
                # BUCC's threshold is tuned on dev gold and applied to the scored split
                dsrc, dtrg, dgold = task.read_pairs(self.cfg.data.root, task.dev_split, lang)
                parts.update(dev_src=dsrc, dev_trg=dtrg, dev_gold=dgold)
            self.pairs[(task.name, lang)] = parts
            return len(src)
        split = self.split_of(task)
        examples = load_examples(task, split, lang, self.cfg, limit=self.cfg.data.max_eval_examples)
        features = featurize_dataset(task, examples, self.tokenizer, self.cfg, is_train=False)
        ex_idx = np.asarray(features["example_idx"], dtype=np.int64)
        starts = np.searchsorted(ex_idx, np.arange(len(examples) + 1))
        self.data[(task.name, lang)] = (examples, features, starts)
        return len(examples)

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
            sents = self.pairs[(item.task, item.lang)][item.part][item.start:item.stop]
            return self.embed([text for _, text in sents])
        examples, features, starts = self.data[(item.task, item.lang)]
        fs, fe = int(starts[item.start]), int(starts[item.stop])
        feats = features.select(range(fs, fe))
        logits = self.logits(task, feats)
        return self.postprocess(task, examples.select(range(item.start, item.stop)), feats, logits,
                                item.start)

    @torch.no_grad()
    def logits(self, task: Task, feats) -> list[np.ndarray]:
        """Per-feature logits, computed in length-sorted batches (less padding)."""
        from trainer.collate import collate

        rows = [feats[i] for i in range(len(feats))]
        order = sorted(range(len(rows)), key=lambda i: rows[i]["length"])
        out: list = [None] * len(rows)
        bs = self.cfg.eval.batch_size
        for b in range(0, len(order), bs):
            idx = order[b:b + bs]
            batch = collate(task.kind, [_strip(rows[i]) for i in idx], self.tokenizer.pad_token_id)
            batch = {k: v.to(self.device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
            batch.pop("labels", None), batch.pop("start_positions", None), batch.pop("end_positions", None)
            _, logit = self.model(task.name, batch)
            logit = logit.float().cpu().numpy()
            for j, i in enumerate(idx):
                out[i] = logit[j]
        return out

    def postprocess(self, task: Task, examples, feats, logits: list, offset: int) -> list:
        from trainer import postprocess as pp

        if task.kind in ("classification", "multiple_choice"):
            return [int(np.argmax(l)) for l in logits]
        if task.kind == "tagging":
            num_words = [len(t) for t in examples["tokens"]]
            feats_local = feats.map(lambda r: {"example_idx": r["example_idx"] - offset})
            return pp.tagging_predictions(feats_local, logits, tuple(task.labels), num_words)
        if task.kind == "span":
            feats_local = feats.map(lambda r: {"example_idx": r["example_idx"] - offset})
            start = [l[:, 0] for l in logits]
            end = [l[:, 1] for l in logits]
            answers = pp.span_predictions(examples, feats_local, start, end,
                                          n_best=self.cfg.eval.n_best,
                                          max_answer_length=self.cfg.eval.max_answer_length)
            return [answers.get(i, "") for i in examples["id"]]
        raise ValueError(f"task {task.name}: no prediction for head kind {task.kind}")

    @torch.no_grad()
    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.model.encoder.config.hidden_size), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        bs = self.cfg.eval.batch_size
        for b in range(0, len(order), bs):
            idx = order[b:b + bs]
            enc = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                 max_length=self.cfg.data.max_length, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            emb = self.model.embed(enc, self.cfg.model.retrieval_layer).cpu().numpy()
            out[idx] = emb
        return out


def _strip(row: dict) -> dict:
    """Drop evaluation-only columns before padding."""
    return {k: v for k, v in row.items() if k not in ("offset_mapping", "word_ids")}
