"""A small XLM-R-style fast tokenizer trained locally in seconds.

This module owns the toy tokenizer used by the demo and by tests: no pretrained tokenizer can
be downloaded there, yet featurization must be exercised with the same shape of tokenizer as
XLM-R (a sentencepiece-like subword model over Metaspace pre-tokens, ``<s>``/``</s>`` framing
and character offsets). Special tokens take ids 0..4 in XLM-R's order:
``<s>``, ``<pad>``, ``</s>``, ``<unk>``, ``<mask>``.
"""
from __future__ import annotations

import os
import random
from typing import Iterable

from tokenizers import (AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors,
                        trainers)
from transformers import AutoTokenizer, PreTrainedTokenizerFast

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
MODEL_MAX_LENGTH = 512
# Printable ASCII is always in the alphabet so that English text unseen in training (test
# questions, punctuation) never falls back to <unk>; other scripts come from the corpus.
INITIAL_ALPHABET = [chr(c) for c in range(33, 127)] + ["\u2581"]


def _core_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """Train a ``tokenizers`` BPE model over Metaspace pieces and attach XLM-R's framing."""
    # BPE rather than Unigram: the Unigram trainer of ``tokenizers`` stalls at a character-level
    # vocabulary on corpora drawn from a small word list (the synthetic demo data), while BPE
    # fills the vocabulary with frequent words and word pieces either way.
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    # NFKC like sentencepiece's default; tokenizers keeps the alignment, so offsets still
    # index the original (un-normalized) string.
    tok.normalizer = normalizers.NFKC()
    # Punctuation is split off: on a small corpus BPE would otherwise learn pieces like
    # "Elway," that XLM-R's large vocabulary rarely has, and answers ending before a comma
    # could not be cut at a token boundary.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always"),
        pre_tokenizers.Punctuation(behavior="isolated")])
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    # XLM-R's mask swallows the space before it, so "a <mask> b" masks the word slot.
    specials = [AddedToken(t, lstrip=t == "<mask>", special=True, normalized=False)
                for t in SPECIAL_TOKENS]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=INITIAL_ALPHABET, show_progress=False)
    tok.train_from_iterator((t for t in texts if t), trainer=trainer)
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    if [ids[t] for t in SPECIAL_TOKENS] != list(range(len(SPECIAL_TOKENS))):
        raise RuntimeError(f"special token ids came out as {ids}, expected 0..4 in XLM-R order")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",  # XLM-R's double separator between the two segments
        special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])])
    return tok


_WORDS = ("the a of in on to and was were is are by with from river city mountain north south "
          "people lived built founded played won game team year church school king queen "
          "Denver Broncos Paris Berlin Nairobi Amazon Tesla Marie Curie 1990 2016 24 308").split()
_CJK = ("北京是中国的首都", "东京是日本的首都", "他在大学学习历史", "河流从山上流到城市", "我们明天去学校")
_GERMAN = ("Die Stadt liegt am Fluss", "Der König baute eine Kirche", "Sie wohnten im Norden")


def sample_corpus(n: int = 400, seed: int = 0) -> list[str]:
    """A small mixed-script corpus (English-like word salad, German, Chinese) to train a toy
    tokenizer on when no real text is at hand."""
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        if i % 10 == 0:
            texts.append(f"{rng.choice(_CJK)}，{rng.choice(_CJK)}。")
        elif i % 10 == 1:
            texts.append(f"{rng.choice(_GERMAN)}.")
        else:
            words = [rng.choice(_WORDS) for _ in range(rng.randint(5, 20))]
            texts.append(" ".join(words).capitalize() + rng.choice((".", "?", "!", ",")))
    return texts


def build_tokenizer(texts: Iterable[str], vocab_size: int = 1000,
                    out_dir: str | None = None) -> PreTrainedTokenizerFast:
    """Train a toy XLM-R-style tokenizer on ``texts``; save it to ``out_dir`` when given.

    The saved folder loads back with ``AutoTokenizer.from_pretrained(out_dir)`` as a fast
    tokenizer (offsets, word ids, overflowing windows). ``vocab_size`` is an upper bound: a
    small corpus may yield fewer pieces.
    """
    core = _core_tokenizer(texts, vocab_size)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="</s>", cls_token="<s>",
        sep_token="</s>", pad_token="<pad>", unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=MODEL_MAX_LENGTH, padding_side="right", truncation_side="right",
        model_input_names=["input_ids", "attention_mask"])
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        tokenizer.save_pretrained(out_dir)
    return tokenizer


def load_tokenizer(path: str) -> PreTrainedTokenizerFast:
    """Load a saved toy tokenizer (or any fast tokenizer folder) and insist on a fast one."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not tokenizer.is_fast:
        raise TypeError(f"{path}: a fast tokenizer is needed (offsets and word ids)")
    return tokenizer
