"""`xstilts align EXPORT --task T`: how well an export's layers align languages, measured on
parallel sentences (eval/alignment.py: retrieval accuracy, translation vs random cosine, linear
CKA, every layer), written as ``align.json`` and ``align.png``.

Parallel sentences per task, each language against English:
  tatoeba    the line-aligned Tatoeba pairs
  bucc2018   the gold pairs of a split that has them (dev), each side's sentence by id
  xnli       XNLI's dev/test files are translations of one another line by line: the premises
             of a language against the English premises (so every language sees the same
             English side, and the CKA matrix between all languages is reported too)

Embeddings are mean-pooled hidden states (padding excluded) of every layer, as the retrieval
tasks pool one layer (``model.retrieval_layer``). One process; a GPU is used when present.
"""
from __future__ import annotations

import json
import logging
import os

import numpy as np
import torch

from eval.alignment import cka_matrix, language_report, plot
from trainer.config import Config, from_dict
from trainer.data.tokenizer import load_tokenizer_from
from trainer.errors import UserError
from trainer.model.export import load_export, read_export_meta
from trainer.runtime import dist
from trainer.tasks import get_task
from trainer.tasks.base import SkipCounter

log = logging.getLogger("xstilts.align")
TASKS = ("tatoeba", "bucc2018", "xnli")


def parallel_sentences(task, root: str, split: str, lang: str, skip_bad: bool = False
                       ) -> tuple[list[str], list[str]]:
    """(sentences in ``lang``, their English translations), aligned by position."""
    if task.kind == "retrieval" and task.scorer in ("tatoeba", "bucc2018"):  # translation pairs
        src, trg, gold = task.read_pairs(root, split, lang)
        if not gold:
            raise UserError(f"{task.name} {split} has no gold pairs for {lang}; use a split that has them")
        s, t = dict(src), dict(trg)
        return [s[a] for a, _ in gold], [t[b] for _, b in gold]
    if task.kind == "classification":
        def premises(code: str) -> list[str]:
            path = task.local_path(root, split, code)
            return [ex["text_a"] for ex in task.read_local(path, split, code, SkipCounter(skip_bad))]

        xs, en = premises(lang), premises("en")
        if len(xs) != len(en):
            raise UserError(f"{task.name} {split}: {len(xs)} {lang} rows but {len(en)} English rows; "
                            f"the files are not parallel")
        # XNLI repeats each premise for its three hypotheses: keep one copy of every pair, or the
        # copies would count as wrong retrievals and as "random" pairs of identical sentences
        pairs = list(dict.fromkeys(zip(xs, en)))
        return [x for x, _ in pairs], [e for _, e in pairs]
    raise UserError(f"no parallel sentences for task {task.name}; use one of {', '.join(TASKS)}")


@torch.no_grad()
def layer_embeddings(model, tokenizer, texts: list[str], max_length: int, batch_size: int
                     ) -> list[np.ndarray]:
    """Mean-pooled states of every layer (0 = embeddings): a list of (n, hidden) float32 arrays."""
    device = next(model.parameters()).device
    out: list[list[np.ndarray]] = []
    for b in range(0, len(texts), batch_size):
        enc = tokenizer(texts[b:b + batch_size], truncation=True, max_length=max_length,
                        padding=True, return_tensors="pt")
        batch = {"input_ids": enc["input_ids"].to(device), "attention_mask": enc["attention_mask"].to(device)}
        states = model.encode(batch, output_hidden_states=True).hidden_states
        mask = batch["attention_mask"].unsqueeze(-1).float()
        for i, h in enumerate(states):
            pooled = (h.float() * mask).sum(1) / mask.sum(1).clamp(min=1)
            if len(out) <= i:
                out.append([])
            out[i].append(pooled.cpu().numpy())
    return [np.concatenate(parts).astype(np.float32) for parts in out]


def align(export: str, task_name: str, languages: list[str] | None, split: str, root: str | None,
          out: str, max_sentences: int = 1000, batch_size: int = 32) -> dict:
    """Measure, write ``align.json`` and ``align.png`` under ``out``; returns the report."""
    task = get_task(task_name)
    split = {"dev": task.dev_split, "test": task.test_split}.get(split, split)
    meta = read_export_meta(export)
    cfg = from_dict(meta["config"]) if "config" in meta else Config()
    root = root or cfg.data.root
    model = load_export(export, cfg.model.attn_implementation).to(dist.local_device()).eval()
    tokenizer = load_tokenizer_from(export)
    langs = languages or [lg for lg in task.languages if lg != "en"]
    report: dict = {"task": task_name, "split": split, "export": os.path.abspath(export),
                    "max_sentences": max_sentences, "languages": {}}
    english = None
    english_texts: list[str] | None = None
    english_layers: list[np.ndarray] = []
    pooled: dict[str, np.ndarray] = {}
    for lang in langs:
        xs, en = parallel_sentences(task, root, split, lang)
        xs, en = xs[:max_sentences], en[:max_sentences]
        src = layer_embeddings(model, tokenizer, xs, cfg.data.max_length, batch_size)
        if en != english_texts:  # XNLI's English side is the same for every language
            english_texts = en
            english_layers = layer_embeddings(model, tokenizer, en, cfg.data.max_length, batch_size)
        trg = english_layers
        report["languages"][lang] = language_report(src, trg)
        log.info("%s %s: %d pairs, best layer %d", task_name, lang, len(xs),
                 report["languages"][lang]["best_layer"])
        if task.kind == "classification":  # multi-parallel: one English side for all
            english, pooled[lang] = trg, src
    report["layers"] = len(next(iter(report["languages"].values()))["per_layer"]) if langs else 0
    if english is not None and pooled:
        layer = min(cfg.model.retrieval_layer, len(english) - 1)
        by_lang = {"en": english[layer], **{lg: e[layer] for lg, e in pooled.items()}}
        report["cka_between_languages"] = {"layer": layer, **cka_matrix(by_lang)}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "align.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    plot(report, os.path.join(out, "align.png"))
    return report
