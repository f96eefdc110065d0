"""Featurization: canonical examples (trainer/tasks/base.py) -> model features, per head kind.

This module owns tokenization for every head kind. ``featurize`` is written for
``datasets.Dataset.map(batched=True, with_indices=True, remove_columns=...)``: it is a
module-level function taking only picklable arguments, so datasets can fingerprint and cache it.
Features never hold padding or attention masks; trainer/data/collate.py pads per batch.

Columns every kind writes:
  ``example_idx``  index of the source row in the example dataset. It comes from ``indices``
                   (``map(with_indices=True)``); without it, from an ``example_idx`` column of
                   the batch; failing both, from the row's position in the batch (right only
                   when the batch is the whole dataset, as in direct calls).
  ``length``       tokens of the row; what length grouping sorts by and what throughput counts.
                   For multiple choice it is num_choices x the longest choice: the row's size
                   once its choices are padded to a common length, which is what padding costs.

Per kind (``token_type_ids`` appears only where ``tokenizer.model_input_names`` has it, e.g.
BERT; lists nest like ``input_ids``):
  classification   input_ids, labels (-1 kept where withheld)
  multiple_choice  input_ids (one list per choice), labels
  span (train)     input_ids, start_positions, end_positions (0, the <s>/[CLS] index, where
                   the answer is not inside the window)
  span (eval)      input_ids, offset_mapping ([start, end] character offsets into the context;
                   [-1, -1] on question and special tokens, an Arrow-friendly stand-in for None)
  tagging          input_ids, labels (tag index on the first sub-token of each word, -100
                   elsewhere), word_ids (per original word: position of its first sub-token,
                   -1 where truncation cut the word off or it yields no token)
  mlm              input_ids: each text cut into consecutive blocks of at most ``max_length``
                   tokens (special tokens included, one row per block, example_idx repeated);
                   texts without tokens are skipped and counted
  retrieval        input_ids (the query, at most ``max_query_length`` tokens), cand_input_ids
                   (the candidate, at most ``max_length``), cand_length; ``length`` is both
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

log = logging.getLogger("xstilts.data")

KINDS = ("classification", "multiple_choice", "span", "tagging", "mlm", "retrieval")
IGNORE = -100  # label of positions the loss skips


def featurize(kind: str, batch: dict[str, list], tokenizer, *, max_length: int,
              doc_stride: int = 128, max_query_length: int = 64, labels: tuple[str, ...] = (),
              is_train: bool, stats: dict | None = None,
              indices: Sequence[int] | None = None) -> dict[str, list]:
    """Tokenize a batch of canonical examples of head kind ``kind`` (see the module doc).

    ``stats`` (optional) accumulates counters: ``unlocatable`` (span training examples whose
    answer text is not at its answer_start; they yield no features), ``unlocatable_ids`` (the
    first few of their ids) and ``empty`` (mlm texts without tokens).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown head kind {kind!r} (featurize knows {', '.join(KINDS)})")
    n = len(next(iter(batch.values()))) if batch else 0
    if indices is None:
        indices = batch.get("example_idx") or range(n)
    opts = dict(max_length=max_length, doc_stride=doc_stride, max_query_length=max_query_length,
                labels=tuple(labels), is_train=is_train,
                stats=stats if stats is not None else {})
    return _FEATURIZERS[kind](batch, list(indices), tokenizer, **opts)


def _wants_type_ids(tokenizer) -> bool:
    return "token_type_ids" in tokenizer.model_input_names


def _encode_texts(tokenizer, firsts: list[str], seconds: list[str], max_length: int) -> dict:
    """Encode (first, second) pairs, or the first alone where second is "": no empty segment
    (and no extra separators) for single-sentence rows. Returns input_ids[, token_type_ids]."""
    types = _wants_type_ids(tokenizer)
    out: dict[str, list] = {"input_ids": [None] * len(firsts)}
    if types:
        out["token_type_ids"] = [None] * len(firsts)
    pairs = [i for i, s in enumerate(seconds) if s]
    singles = [i for i, s in enumerate(seconds) if not s]
    for rows, second in ((pairs, True), (singles, False)):
        if not rows:
            continue
        enc = tokenizer([firsts[i] for i in rows], [seconds[i] for i in rows] if second else None,
                        truncation="longest_first" if second else True, max_length=max_length,
                        return_token_type_ids=types, return_attention_mask=False)
        for j, i in enumerate(rows):
            for key in out:
                out[key][i] = enc[key][j]
    return out


def _check_label(label: int, count: int, example_id: str) -> int:
    if label != -1 and not 0 <= label < count:
        raise ValueError(f"example {example_id}: label {label} outside 0..{count - 1}")
    return int(label)


def _classification(batch, indices, tokenizer, *, max_length, labels, **_) -> dict[str, list]:
    out = _encode_texts(tokenizer, list(batch["text_a"]), list(batch["text_b"]), max_length)
    count = len(labels) if labels else 1 << 30
    out["labels"] = [_check_label(y, count, i) for y, i in zip(batch["label"], batch["id"])]
    out["example_idx"] = indices
    out["length"] = [len(ids) for ids in out["input_ids"]]
    return out


def choice_pair(context: str, question: str, choice: str) -> tuple[str, str]:
    """The (first, second) segments of one choice; second "" means a single segment.

    context + question: (context, question + " " + choice); context only: (context, choice);
    question only (e.g. CommonsenseQA): (question, choice); neither: (choice, "").
    """
    context, question, choice = context.strip(), question.strip(), choice.strip()
    if context:
        return context, f"{question} {choice}" if question else choice
    if question:
        return question, choice
    return choice, ""


def _multiple_choice(batch, indices, tokenizer, *, max_length, **_) -> dict[str, list]:
    firsts, seconds, sizes = [], [], []
    for context, question, choices in zip(batch["context"], batch["question"], batch["choices"]):
        for choice in choices:
            first, second = choice_pair(context, question, choice)
            firsts.append(first)
            seconds.append(second)
        sizes.append(len(choices))
    flat = _encode_texts(tokenizer, firsts, seconds, max_length)
    out: dict[str, list] = {key: [] for key in flat}
    start = 0
    for size in sizes:  # regroup the flat choice encodings per example
        for key in flat:
            out[key].append(flat[key][start:start + size])
        start += size
    out["labels"] = [_check_label(y, k, i) for y, k, i in zip(batch["label"], sizes, batch["id"])]
    out["example_idx"] = indices
    out["length"] = [len(ids) * max((len(c) for c in ids), default=0) for ids in out["input_ids"]]
    return out


def _tagging(batch, indices, tokenizer, *, max_length, labels, **_) -> dict[str, list]:
    index = {tag: i for i, tag in enumerate(labels)}
    enc = tokenizer([list(t) for t in batch["tokens"]], is_split_into_words=True, truncation=True,
                    max_length=max_length, return_token_type_ids=_wants_type_ids(tokenizer),
                    return_attention_mask=False)
    out: dict[str, list] = {"input_ids": enc["input_ids"], "labels": [], "word_ids": []}
    if _wants_type_ids(tokenizer):
        out["token_type_ids"] = enc["token_type_ids"]
    for row, (words, tags, ex_id) in enumerate(zip(batch["tokens"], batch["tags"], batch["id"])):
        if tags and len(tags) != len(words):
            raise ValueError(f"example {ex_id}: {len(words)} tokens but {len(tags)} tags")
        firsts = [-1] * len(words)
        row_labels = [IGNORE] * len(enc["input_ids"][row])
        for pos, word in enumerate(enc.word_ids(row)):
            if word is None or firsts[word] != -1:
                continue
            firsts[word] = pos
            if tags:
                if tags[word] not in index:
                    raise ValueError(f"example {ex_id}: unknown tag {tags[word]!r} "
                                     f"(known: {', '.join(labels)})")
                row_labels[pos] = index[tags[word]]
        out["labels"].append(row_labels)
        out["word_ids"].append(firsts)
    out["example_idx"] = indices
    out["length"] = [len(ids) for ids in out["input_ids"]]
    return out


def _mlm(batch, indices, tokenizer, *, max_length, stats, **_) -> dict[str, list]:
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    if max_length <= specials:
        raise ValueError(f"max_length {max_length} leaves no room for text between special tokens")
    # The tokenizer's own overflow cuts each text into consecutive blocks, each framed with
    # special tokens (stride 0: blocks do not overlap).
    enc = tokenizer(list(batch["text"]), truncation=True, max_length=max_length, stride=0,
                    return_overflowing_tokens=True, return_attention_mask=False,
                    return_token_type_ids=False)
    out: dict[str, list] = {"input_ids": [], "example_idx": [], "length": []}
    for ids, sample in zip(enc["input_ids"], enc["overflow_to_sample_mapping"]):
        if len(ids) <= specials:  # an empty text: nothing to predict
            stats["empty"] = stats.get("empty", 0) + 1
            continue
        out["input_ids"].append(ids)
        out["example_idx"].append(indices[sample])
        out["length"].append(len(ids))
    return out


# ---------------------------------------------------------------- extractive QA


def locate_answer(context: str, text: str, start: int) -> tuple[int, int] | None:
    """Character span [start, end) of ``text`` at ``start`` in ``context``, or None when the
    context does not hold it there. Whitespace at the ends of the answer is not content: it is
    dropped (moving the start) before comparing."""
    core = text.strip()
    if not core:
        return None
    start += len(text) - len(text.lstrip())
    if start < 0 or context[start:start + len(core)] != core:
        return None
    return start, start + len(core)


def unlocatable_ids(examples) -> list[str]:
    """Ids of span examples whose first answer is not where answer_start says (for reports)."""
    bad = []
    for ex in examples:
        ans = ex["answers"]
        if ans["text"] and locate_answer(ex["context"], ans["text"][0], ans["answer_start"][0]) is None:
            bad.append(ex["id"])
    return bad


def clip_questions(tokenizer, questions: list[str], max_query_length: int) -> list[str]:
    """Questions cut (at a token boundary, by character offsets) to ``max_query_length``
    tokens. Leading whitespace goes first: some SQuAD questions carry runs of it."""
    questions = [q.lstrip() for q in questions]
    enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True,
                    return_attention_mask=False, return_token_type_ids=False, verbose=False)
    out = []
    for q, ids, offsets in zip(questions, enc["input_ids"], enc["offset_mapping"]):
        keep = max_query_length
        # a re-tokenized prefix can split its last word differently: shrink until it fits
        while len(ids) > max_query_length and keep > 0:
            q = q[:offsets[keep - 1][1]]
            ids = tokenizer(q, add_special_tokens=False)["input_ids"]
            keep -= 1
        out.append(q)
    return out


def _answer_tokens(offsets: list, seq_ids: list, span: tuple[int, int] | None) -> tuple[int, int]:
    """(start, end) token positions of a character span in one window; (0, 0) when absent."""
    ctx = [i for i, s in enumerate(seq_ids) if s == 1]
    if span is None or not ctx:
        return 0, 0
    lo, hi = span
    if offsets[ctx[0]][0] > lo or offsets[ctx[-1]][1] < hi:
        return 0, 0
    # start: first token ending after the answer start; end: last token starting before the
    # answer end. Robust to offsets that include a word's leading space (Metaspace pieces).
    start = next(i for i in ctx if offsets[i][1] > lo)
    end = next(i for i in reversed(ctx) if offsets[i][0] < hi)
    return (start, end) if start <= end else (0, 0)


def _trainable_rows(batch: dict, stats: dict) -> tuple[list[int], dict[int, tuple | None]]:
    """Rows of a span training batch whose answer can be located, and their character spans
    (None for unanswerable rows, which train towards <s>). The others are counted in
    ``stats`` and logged: they would teach the model a wrong span."""
    rows, spans = [], {}
    for r, (context, ans, ex_id) in enumerate(zip(batch["context"], batch["answers"], batch["id"])):
        span = locate_answer(context, ans["text"][0], ans["answer_start"][0]) if ans["text"] else None
        if ans["text"] and span is None:
            stats["unlocatable"] = stats.get("unlocatable", 0) + 1
            listed = stats.setdefault("unlocatable_ids", [])
            if len(listed) < 20:
                listed.append(ex_id)
            continue
        spans[r] = span
        rows.append(r)
    if len(rows) < len(batch["id"]):
        log.warning("span training: %d of %d examples have an answer that is not at its "
                    "answer_start; they are left out", len(batch["id"]) - len(rows), len(batch["id"]))
    return rows, spans


def _span(batch, indices, tokenizer, *, max_length, doc_stride, max_query_length, is_train,
          stats, **_) -> dict[str, list]:
    room = max_length - max_query_length - tokenizer.num_special_tokens_to_add(pair=True)
    if doc_stride >= room:
        raise ValueError(f"doc_stride {doc_stride} must be below the context room of a window "
                         f"({room} = max_length - max_query_length - special tokens)")
    rows, spans = _trainable_rows(batch, stats) if is_train else (list(range(len(batch["id"]))), {})
    types = _wants_type_ids(tokenizer)
    out: dict[str, list] = {"input_ids": [], "example_idx": [], "length": []}
    if types:
        out["token_type_ids"] = []
    for key in ("start_positions", "end_positions") if is_train else ("offset_mapping",):
        out[key] = []
    if not rows:
        return out
    questions = clip_questions(tokenizer, [batch["question"][r] for r in rows], max_query_length)
    enc = tokenizer(questions, [batch["context"][r] for r in rows], truncation="only_second",
                    max_length=max_length, stride=doc_stride, return_overflowing_tokens=True,
                    return_offsets_mapping=True, return_token_type_ids=types,
                    return_attention_mask=False)
    out["input_ids"] = enc["input_ids"]
    if types:
        out["token_type_ids"] = enc["token_type_ids"]
    for w, sample in enumerate(enc["overflow_to_sample_mapping"]):
        r, seq_ids, offsets = rows[sample], enc.sequence_ids(w), enc["offset_mapping"][w]
        out["example_idx"].append(indices[r])
        out["length"].append(len(enc["input_ids"][w]))
        if is_train:
            start, end = _answer_tokens(offsets, seq_ids, spans[r])
            out["start_positions"].append(start)
            out["end_positions"].append(end)
        else:
            out["offset_mapping"].append([list(o) if s == 1 else [-1, -1]
                                          for o, s in zip(offsets, seq_ids)])
    return out


def _retrieval(batch, indices, tokenizer, *, max_length, max_query_length, **_) -> dict[str, list]:
    """A dual encoder's (query, candidate) pairs: each side encoded alone, as its own sequence."""
    query = _encode_texts(tokenizer, list(batch["query"]), [""] * len(indices), max_query_length)
    cand = _encode_texts(tokenizer, list(batch["candidate"]), [""] * len(indices), max_length)
    out = {**query, **{f"cand_{k}": v for k, v in cand.items()}}
    out["example_idx"] = indices
    out["cand_length"] = [len(ids) for ids in cand["input_ids"]]
    out["length"] = [len(q) + c for q, c in zip(query["input_ids"], out["cand_length"])]
    return out


_FEATURIZERS: dict[str, Any] = {
    "classification": _classification, "multiple_choice": _multiple_choice, "span": _span,
    "tagging": _tagging, "mlm": _mlm, "retrieval": _retrieval,
}
