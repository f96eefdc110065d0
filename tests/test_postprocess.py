"""Postprocessing: logits over features back to per-example predictions, and the way through
``datasets.map`` that the trainer takes."""
from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from trainer.data.features import featurize
from trainer.evaluation.postprocess import (choice_predictions, classification_predictions, default_tag,
                                            span_predictions, tagging_predictions)
from trainer.synth.toy_tokenizer import build_tokenizer, sample_corpus

TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
QA = dict(max_length=48, doc_stride=16, max_query_length=12)


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("toy_tokenizer"))
    return build_tokenizer(sample_corpus(400), vocab_size=400, out_dir=out)


def columns(rows):
    return {key: [r[key] for r in rows] for key in rows[0]}


def qa_examples():
    filler = " ".join(["the people of the north lived by the river and built a school"] * 5)
    ctx = f"Marie Curie was born in Paris. {filler} The Broncos won in 2016 with 24 points. " \
          f"{filler} The city was founded by the king of Berlin."
    answers = ["Marie Curie", "2016", "the king of Berlin", "24 points"]
    return [{"id": f"q{i}", "context": ctx, "question": f"Question {i}?",
             "answers": {"text": [a], "answer_start": [ctx.index(a)]}} for i, a in enumerate(answers)]


def span_logits(train, ev, rng):
    """Start/end logit rows: 10 at the gold tokens of windows holding the answer; elsewhere
    decoys that must lose: huge logits on a question token, a high start on the last context
    token and a high end on the first (only reversed pairs could use them), and a weaker wrong
    span in windows without the answer."""
    starts, ends = [], []
    for s, e, offsets in zip(train["start_positions"], train["end_positions"], ev["offset_mapping"]):
        n = len(offsets)
        start, end = rng.normal(0, 0.1, n), rng.normal(0, 0.1, n)
        start[1] = end[1] = 100.0  # a question token: never an answer
        ctx = [i for i, o in enumerate(offsets) if o[0] >= 0]
        if ctx[-1] not in (s, e):
            start[ctx[-1]], end[ctx[-1]] = 50.0, -100.0
        if ctx[0] not in (s, e):
            start[ctx[0]], end[ctx[0]] = -100.0, 50.0
        if s:
            start[s], end[e] = 10.0, 10.0
        else:
            start[ctx[2]], end[ctx[3]] = 4.0, 4.0
        starts.append(start)
        ends.append(end)
    return starts, ends


def test_span_predictions_recover_gold_across_windows(tok):
    exs = qa_examples()
    train = featurize("span", columns(exs), tok, is_train=True, **QA)
    ev = featurize("span", columns(exs), tok, is_train=False, **QA)
    assert len(ev["input_ids"]) > 3 * len(exs)  # many overlapping windows per example
    starts, ends = span_logits(train, ev, np.random.default_rng(0))
    gold = {e["id"]: e["answers"]["text"][0] for e in exs}
    assert span_predictions(exs, ev, starts, ends) == gold
    # padded arrays (as gathered from batches), torch tensors and datasets inputs
    width = max(len(r) for r in starts)
    pad = lambda rows: torch.tensor(np.stack([np.pad(r, (0, width - len(r)), constant_values=-1e4)
                                              for r in rows]))
    ds_ex, ds_ft = datasets.Dataset.from_list(exs), datasets.Dataset.from_dict(ev)
    assert span_predictions(ds_ex, ds_ft, pad(starts), pad(ends)) == gold


def test_span_length_limit_and_empty(tok):
    exs = qa_examples()[:1]
    ev = featurize("span", columns(exs), tok, is_train=False, **QA)
    first = ev["offset_mapping"][0]
    ctx = [i for i, o in enumerate(first) if o[0] >= 0]
    start, end = np.zeros(len(first)), np.zeros(len(first))
    start[ctx[0]], end[ctx[5]], end[ctx[1]] = 9.0, 9.0, 5.0
    rows = [(start, end)] + [(np.zeros(len(o)), np.zeros(len(o))) for o in ev["offset_mapping"][1:]]
    s, e = [r[0] for r in rows], [r[1] for r in rows]
    text = exs[0]["context"]
    long = span_predictions(exs, ev, s, e)["q0"]
    short = span_predictions(exs, ev, s, e, max_answer_length=2)["q0"]
    assert long == text[first[ctx[0]][0]:first[ctx[5]][1]].strip()
    assert short == text[first[ctx[0]][0]:first[ctx[1]][1]].strip() and len(short) < len(long)
    no_ctx = dict(ev, offset_mapping=[[[-1, -1]] * len(o) for o in ev["offset_mapping"]])
    assert span_predictions(exs, no_ctx, s, e) == {"q0": ""}
    assert span_predictions(exs + [dict(exs[0], id="orphan")], ev, s, e)["orphan"] == ""


def test_tagging_round_trip_with_truncation(tok):
    rows = [{"id": "a", "tokens": ["Marie", "Curie", "lived", "in", "Nairobi"],
             "tags": ["B-PER", "I-PER", "O", "O", "B-LOC"]},
            {"id": "b", "tokens": ["Nairobi", "Berlin"] * 15, "tags": ["B-LOC", "I-LOC"] * 15},
            {"id": "c", "tokens": ["北京是中国的首都", "。"], "tags": ["B-LOC", "O"]}]
    feats = featurize("tagging", columns(rows), tok, labels=TAGS, max_length=16, is_train=False,
                      indices=[0, 1, 2])
    logits = []
    for labels in feats["labels"]:  # one-hot at the gold tag of every first sub-token
        row = np.zeros((len(labels), len(TAGS)))
        for pos, y in enumerate(labels):
            row[pos, y if y >= 0 else 2] = 1.0  # non-first positions vote wrong: must be ignored
        logits.append(row)
    preds = tagging_predictions(feats, logits, TAGS, [len(r["tokens"]) for r in rows])
    kept = sum(p >= 0 for p in feats["word_ids"][1])
    assert 0 < kept < 30
    assert preds[0] == rows[0]["tags"] and preds[2] == rows[2]["tags"]
    assert preds[1] == rows[1]["tags"][:kept] + ["O"] * (30 - kept)  # cut words: "O"
    assert [len(p) for p in preds] == [5, 30, 2]
    assert default_tag(("B", "I")) == "B" and default_tag(TAGS) == "O"


def test_argmax_predictions():
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]], dtype=torch.bfloat16)
    assert classification_predictions(logits) == [1, 0]
    assert choice_predictions([np.array([[0, 0, 1, 0]]), np.array([[5, 0, 1, 0]])]) == [2, 0]


def _map_rows(batch: dict, indices: list[int], kw: dict) -> dict:
    return featurize(batch=batch, indices=indices, **kw)


def test_datasets_map_indices_and_fingerprint(tok):
    exs = qa_examples() * 3
    ds = datasets.Dataset.from_list(exs)
    kw = dict(kind="span", tokenizer=tok, labels=(), is_train=False, **QA)
    mapped = ds.map(_map_rows, batched=True, batch_size=5, with_indices=True, fn_kwargs={"kw": kw},
                    remove_columns=ds.column_names)
    direct = featurize("span", columns(exs), tok, is_train=False, **QA)
    assert mapped["example_idx"] == direct["example_idx"] and mapped["input_ids"] == direct["input_ids"]
    assert mapped["offset_mapping"] == direct["offset_mapping"]
    again = ds.map(_map_rows, batched=True, batch_size=5, with_indices=True, fn_kwargs={"kw": kw},
                   remove_columns=ds.column_names)
    assert again._fingerprint == mapped._fingerprint  # hashable: cache keys are stable
