"""Tokenizer loading: a hub id or folder, or (for the synthetic suite) one trained locally on
the generated corpus the first time it is needed (main process first)."""
from __future__ import annotations

import os

from trainer.runtime import dist
from trainer.synth import suite as synthetic
from trainer.synth.toy_tokenizer import build_tokenizer


def tokenizer_path(cfg) -> str:
    return cfg.model.tokenizer or cfg.model.name


def load_tokenizer_from(path: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, use_fast=True, trust_remote_code=trust_remote_code)


def prepare_synthetic(cfg) -> None:
    """Generate the synthetic suite and its tokenizer if the recipe uses them (idempotent)."""
    if not cfg.data.synthetic:
        return

    synthetic.ensure_generated(cfg.data.root, seed=cfg.data.synthetic_seed)
    path = tokenizer_path(cfg)
    if path and not os.path.isfile(os.path.join(path, "tokenizer.json")):
        vocab = int(cfg.model.init_config.get("vocab_size", 4000))
        build_tokenizer(synthetic.corpus_texts(cfg.data.root), vocab, path)


def load_tokenizer(cfg, info: dist.DistInfo):
    with dist.main_process_first(info):
        prepare_synthetic(cfg)
    tok = load_tokenizer_from(tokenizer_path(cfg), cfg.model.trust_remote_code)
    if not cfg.model.name:
        # An encoder built from a config takes its vocabulary size from the tokenizer.
        cfg.model.init_config.setdefault("vocab_size", len(tok))
        cfg.model.init_config.setdefault("pad_token_id", tok.pad_token_id)
    return tok
