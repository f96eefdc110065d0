"""Padding efficiency of the nine-task intermediate mix: real tokens / computed tokens.

Each task's real sample is read by the task registry's own reader and tokenized by
``trainer.data.features.featurize`` (max length 128; QA windows of 384 with stride 128; 4-5 choices
for multiple choice), then resampled with replacement to ``--features`` rows per task, so that
length grouping works on a realistic number of rows (``trainer.data.load.GROUP_CHUNK`` global batches
per sorting chunk). Steps are drawn by the proportional task sampler, weighted by each task's
full ``train_size`` (stand-ins: XNLI for MNLI, PAWS-X for QQP, SQuAD v1.1 for SQuAD v2.0, UD
English for CCG). Each step is one global batch of one task, cut into micro-batches:

  xstilts       ``TaskStream`` length-grouped global batches, padded per micro-batch by
                ``trainer.data.collate`` (optionally to a multiple)
  dynamic       the same stream without length grouping (random batches), padded per micro-batch
  max_length    every row padded to its maximum (128, or 384 for QA windows), as the XTREME
                scripts do

Multiple-choice rows count every choice: computed = rows x choices x the padded width. The
column ``flat MC`` is a what-if, not what the trainer does: multiple-choice micro-batches
flattened into their choices and regrouped by length (the other kinds are unchanged).

  python benchmarks/padding.py [--quick] [--steps 4000] [--micro 4 --multiple 8]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

MAX_LEN, QA_LEN, STRIDE, QUERY = 128, 384, 128, 64
SETTINGS = (("micro 4, no multiple", 4, 0), ("recipe: micro 4, multiple of 8", 4, 8),
            ("micro 16, no multiple (throughput benchmark)", 16, 0))


def task_features(tokenizer, source, n: int, seed: int):
    """Features of one mix role: its real sample read and featurized, resampled to ``n`` rows."""
    import datasets
    import numpy as np

    from benchmarks import mixdata
    from trainer.data.features import featurize
    from trainer.tasks import get_task
    from trainer.tasks.base import SkipCounter

    task = get_task(source.task)
    rows = list(task.read_local(mixdata.real_path(source.real), "validation", "en", SkipCounter()))
    columns = {key: [r[key] for r in rows] for key in rows[0]}
    feats = featurize(task.kind, columns, tokenizer, is_train=True,
                      max_length=QA_LEN if task.kind == "span" else MAX_LEN, doc_stride=STRIDE,
                      max_query_length=QUERY, labels=task.labels, indices=range(len(rows)))
    data = datasets.Dataset.from_dict(feats)
    pick = np.random.default_rng([seed, len(source.role)]).integers(0, len(data), n)
    return data.select(pick), task.kind


def build_features(tokenizer, n: int) -> tuple[dict, dict]:
    """(features by role, head kind by role) of the intermediate mix."""
    from benchmarks import mixdata

    feats, kinds = {}, {}
    for source in mixdata.INTERMEDIATE_MIX:
        feats[source.role], kinds[source.role] = task_features(tokenizer, source, n, common.SEED)
    return feats, kinds


def build_streams(feats: dict, micro: int, global_batch: int) -> dict:
    """Streams by mode and role over the same features: length-grouped and random."""
    from trainer.data.load import TaskStream

    return {mode: {role: TaskStream(role, f, global_batch, micro, 1, 0, common.SEED,
                                    group_by_length=mode == "xstilts") for role, f in feats.items()}
            for mode in ("xstilts", "dynamic")}


def count_step(stream, kind: str, multiple: int) -> dict[str, tuple[int, int]]:
    """(real, computed) tokens of one global batch under each padding scheme."""
    from trainer.data.collate import padding_stats

    out = {"batched": [0, 0], "max_length": [0, 0], "flat_choices": [0, 0]}
    width = QA_LEN if kind == "span" else MAX_LEN
    for micro in stream.next_step():
        rows = stream.rows(micro)
        real, computed = padding_stats(rows, multiple or None)
        seqs = sum(len(r["input_ids"]) for r in rows) if kind == "multiple_choice" else len(rows)
        flat = flat_choice_tokens(rows, multiple) if kind == "multiple_choice" else computed
        for key, value in (("batched", computed), ("max_length", seqs * width), ("flat_choices", flat)):
            out[key][0] += real
            out[key][1] += value
    return out


def flat_choice_tokens(rows: list[dict], multiple: int) -> int:
    """Computed tokens if a multiple-choice micro-batch were flattened into its choices, sorted
    by length and encoded as ``choices`` sub-batches of ``len(rows)`` sequences each."""
    from trainer.data.collate import padded_length

    lengths = sorted(len(c) for r in rows for c in r["input_ids"])
    step = len(rows)
    return sum(len(lengths[i:i + step]) * padded_length(max(lengths[i:i + step]), multiple or None)
               for i in range(0, len(lengths), step))


def simulate(streams: dict, kinds: dict, steps: int, multiple: int) -> dict[str, dict]:
    """Tokens per mode and role over ``steps`` sampled steps (one task per step)."""
    from benchmarks import mixdata
    from trainer.data.samplers import TaskSampler, task_probabilities

    sampler = TaskSampler(task_probabilities(mixdata.intermediate_weights()), common.SEED)
    modes = ("xstilts", "dynamic", "max_length", "xstilts_flat_mc")
    tally = {m: {r: [0, 0] for r in kinds} for m in modes}
    for step in range(steps):
        role = sampler.task_at(step)
        grouped = count_step(streams["xstilts"][role], kinds[role], multiple)
        random_ = count_step(streams["dynamic"][role], kinds[role], multiple)
        for mode, counts in (("xstilts", grouped["batched"]), ("dynamic", random_["batched"]),
                             ("max_length", grouped["max_length"]),
                             ("xstilts_flat_mc", grouped["flat_choices"])):
            tally[mode][role][0] += counts[0]
            tally[mode][role][1] += counts[1]
    return tally


def efficiency(pairs) -> float:
    real = sum(p[0] for p in pairs)
    computed = sum(p[1] for p in pairs)
    return real / computed if computed else float("nan")


def report(tally: dict, kinds: dict[str, str], title: str) -> dict:
    roles = list(tally["xstilts"])
    total = sum(tally["xstilts"][r][1] for r in roles) or 1
    print(f"## {title}")
    print(f"{'task':<15}{'kind':<17}{'share':>7}{'xstilts':>9}{'dynamic':>9}{'max_len':>9}"
          f"{'flat MC':>9}")
    for role in roles:
        share = tally["xstilts"][role][1] / total
        print(f"{role:<15}{kinds[role]:<17}{share:>7.1%}"
              + "".join(f"{efficiency([tally[m][role]]):>9.3f}" for m in tally))
    overall = {m: efficiency(tally[m].values()) for m in tally}
    print(f"{'mix':<15}{'':<17}{'':>7}" + "".join(f"{overall[m]:>9.3f}" for m in tally))
    return overall



def choice_bound(streams: dict, kinds: dict) -> dict[str, float]:
    """For multiple choice, the best any (batch, choices, seq) layout can do: every row padded
    only to its own longest choice (the spread between a row's choices cannot be removed)."""
    out = {}
    for role, kind in kinds.items():
        if kind != "multiple_choice":
            continue
        ids = streams["xstilts"][role].features["input_ids"]
        real = sum(len(c) for row in ids for c in row)
        out[role] = real / sum(len(row) * max(len(c) for c in row) for row in ids)
    return out


def run(a) -> dict:
    from trainer.data.tokenizer import load_tokenizer_from

    print(f"# padding efficiency: {a.steps} steps of the 9-task mix, {a.features} features per "
          f"task, global batch {a.global_batch}; {common.machine()}")
    tok_dir = os.path.join(a.work, "tokenizer")
    if not os.path.isfile(os.path.join(tok_dir, "tokenizer.json")):
        from benchmarks import mixdata
        from trainer.synth.toy_tokenizer import build_tokenizer

        build_tokenizer(mixdata.sample_texts(mixdata.INTERMEDIATE_MIX), common.VOCAB, tok_dir)
    tok = load_tokenizer_from(tok_dir)
    feats, kinds = build_features(tok, a.features)
    results = {}
    for title, micro, multiple in SETTINGS[:1] if a.quick else SETTINGS:
        streams = build_streams(feats, micro, a.global_batch)
        results[title] = report(simulate(streams, kinds, a.steps, multiple), kinds, title)
    bound = choice_bound(streams, kinds)
    print("multiple choice, best possible with rows padded to their own longest choice (all "
          "features): "
          + ", ".join(f"{r} {v:.3f}" for r, v in bound.items()))
    headline = results[SETTINGS[0][0]]["xstilts"]
    return {"padding_efficiency": headline, "settings": results, "choice_bound": bound}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1000 steps, 2048 features per task, "
                   "the headline setting only")
    p.add_argument("--steps", type=int, default=0, help="sampled steps (default 4000)")
    p.add_argument("--features", type=int, default=0, help="resampled rows per task (default 8192)")
    p.add_argument("--global-batch", type=int, default=32)
    p.add_argument("--work", default=os.path.join(common.default_work(), "padding"))
    p.add_argument("--json", default="", help="also write the figures to this file")
    a = p.parse_args(argv)
    a.steps = a.steps or (1000 if a.quick else 4000)
    a.features = a.features or (2048 if a.quick else 8192)
    return a


def main(argv: list[str] | None = None) -> dict:
    a = parse(argv)
    out = run(a)
    if a.json:
        common.write_json(a.json, out)
    return out


if __name__ == "__main__":
    main()
