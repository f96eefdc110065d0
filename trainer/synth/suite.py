"""The synthetic multilingual task suite of the demo: generated locally, nothing downloaded.

This module owns the public side of the suite: ``generate`` / ``ensure_generated`` (write it
once per seed and sizes, behind a stamp file), the corpus the suite's tokenizer is trained on,
and the tiny XLM-R-shaped encoder config of the demo. The languages live in synth_lang.py and
synth_grammar.py, the meanings of the examples in synth_world.py, the file writers in
synth_writers.py and the Task definitions in tasks/synth.py.

Files are in the released formats of the real data, so the readers of trainer/tasks/formats.py
apply unchanged. Layout under ``<root>/synth/`` (targets: English train, dev/test in every
language; intermediate tasks: English train and dev):
  mlm/train.txt, mlm/dev-{lang}.txt          one paragraph per line (MLM warm-up); train.txt
                                             interleaves the four languages line by line
  nli/{train,dev}-en.tsv                     premise\\thypothesis\\tlabel (3-way NLI); train-{de,fr,sw}.tsv
                                             translate it (the translated intermediate data of
                                             synth_nli@de and the like)
  mc/{train,dev}-en.jsonl                    CosmosQA fields (id, context, question,
                                             answer0..answer3, label): pick the well-formed
                                             next sentence, SWAG-style (question "")
  qa/{train,dev}-en.json                     SQuAD v1.1 JSON (also the QA target's training set);
                                             train-{de,fr,sw}.json translate it (synth_qa@de)
  ccg/{train,dev}-en.tsv                     token\\tsupertag, a blank line between sentences
  pawsx/train-en.tsv, {dev,test}-{lang}.tsv  sentence1\\tsentence2\\tlabel (0/1 paraphrase)
  pos/..., ner/...                           token\\ttag (UPOS-like; BIO over PER/ORG/LOC)
  xquad/{dev,test}-{lang}.json               SQuAD JSON; every language translates one set
  tatoeba/tatoeba.{xxx}-eng.{xxx,eng}        line-aligned translations (xxx: deu, fra, swh)
  lexicon.tsv                                concept\tlanguage\tform: the suite's dictionary
  STAMP.json                                 generator version, seed and sizes (written last)

The pipeline calls ``ensure_generated(root, seed)`` on the main process before any rank
reads synthetic data (trainer/tokenizer.prepare_synthetic); the readers never generate.
"""
from __future__ import annotations

import json
import os
import time

from trainer.synth.lang import Lexicon
from trainer.synth.writers import WRITERS, write_lines

VERSION = 2  # bump whenever the generated files change, so that old stamps stop matching
DEFAULT_SIZES = {"train": 4000, "dev": 200, "test": 400, "mlm": 3000, "retrieval": 500}
STAMP = "STAMP.json"


def tiny_model_config(vocab_size: int, layers: int = 2) -> dict:
    """Keyword arguments of an XLM-R-shaped encoder config small enough for CPU ranks
    (``transformers.XLMRobertaConfig(**tiny_model_config(v))``).

    XLM-R numbers positions from padding_idx + 1 = 2, so 128-token inputs need 130 positions."""
    return {"vocab_size": vocab_size, "hidden_size": 128, "num_hidden_layers": layers,
            "num_attention_heads": 4, "intermediate_size": 512, "max_position_embeddings": 130,
            "type_vocab_size": 1, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
            "layer_norm_eps": 1e-5, "initializer_range": 0.02}


def resolve_sizes(sizes: dict | None) -> dict:
    unknown = sorted(set(sizes or {}) - set(DEFAULT_SIZES))
    if unknown:
        raise ValueError(f"unknown synthetic size key(s) {unknown}; known: {sorted(DEFAULT_SIZES)}")
    out = {**DEFAULT_SIZES, **(sizes or {})}
    bad = [k for k, v in out.items() if not isinstance(v, int) or v < 1]
    if bad:
        raise ValueError(f"synthetic sizes must be positive integers: {bad}")
    return out


def _stamp(seed: int, sizes: dict) -> dict:
    return {"version": VERSION, "seed": seed, "sizes": sizes}


def _stamped(base: str, stamp: dict) -> dict | None:
    """The file list of a finished generation with these parameters, or None."""
    try:
        with open(os.path.join(base, STAMP), encoding="utf-8") as f:
            old = json.load(f)
    except (OSError, ValueError):
        return None
    if {k: old.get(k) for k in stamp} != stamp:
        return None
    paths = old.get("files", [])
    return paths if all(os.path.isfile(os.path.join(base, p)) for p in paths) else None


def generate(root: str, seed: int = 0, sizes: dict | None = None) -> dict[str, str]:
    """Write the suite under ``<root>/synth`` unless a stamp says it is there with the same
    seed and sizes. Returns {path relative to ``root``: absolute path} of every file."""
    base = os.path.join(os.path.abspath(root), "synth")
    stamp = _stamp(seed, resolve_sizes(sizes))
    files = _stamped(base, stamp)
    if files is None:
        t0 = time.time()
        lex = Lexicon(seed)
        written = [p for write in WRITERS for p in write(lex, base, seed, stamp["sizes"])]
        files = sorted(os.path.relpath(p, base) for p in written)
        meta = {**stamp, "seconds": round(time.time() - t0, 2), "files": files}
        write_lines(os.path.join(base, STAMP), [json.dumps(meta, indent=1)])
    return {os.path.join("synth", p): os.path.join(base, p) for p in files}


def ensure_generated(root: str, seed: int = 0, sizes: dict | None = None) -> dict[str, str]:
    """``generate`` under its name for the pipeline: call it on the main process first
    (dist.main_process_first); the other ranks then find the stamp and write nothing."""
    return generate(root, seed, sizes)


def read_lexicon(root: str) -> list[tuple[str, str, str]]:
    """(concept, language, form) rows of ``<root>/synth/lexicon.tsv``; names have language "*"."""
    with open(os.path.join(root, "synth", "lexicon.tsv"), encoding="utf-8") as f:
        return [tuple(line.rstrip("\n").split("\t")) for line in f if line.strip()]


def corpus_texts(root: str) -> list[str]:
    """The text a tokenizer for the suite is trained on: the multilingual MLM corpus, then
    one line per language listing its whole vocabulary, so that no word of any task file is
    missing from the tokenizer's alphabet even when the corpus is small."""
    with open(os.path.join(root, "synth", "mlm", "train.txt"), encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    words: dict[str, list[str]] = {}
    for _, lang, form in read_lexicon(root):
        words.setdefault(lang, []).append(form)
    return lines + [" ".join(forms) for forms in words.values()]
