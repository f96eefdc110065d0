"""Benchmark data: task mixes expanded from the real data samples into a scratch folder.

The real samples (``../shared/data/real`` beside the checkout, 200 examples per file) are never
copied into the project. A benchmark asks for a mix; this module draws examples from the sample
files with replacement (new ids where a format has ids, so the readers accept the repeats) and
writes them under a scratch data root, each file in its released format, so that the task
registry's own readers and ``trainer.data.load.load_examples`` read them as they read real data.
Length distributions therefore follow the real samples.

Three mixes are defined:
  ``PAIR_MIX``          XNLI + ANLI+ + PAWS-X English pairs (the throughput benchmark)
  ``CHOICE_MIX``        HellaSwag + Cosmos QA, the four-choice tasks of the intermediate mix
                        (the throughput benchmark's multiple-choice mix)
  ``INTERMEDIATE_MIX``  the nine intermediate tasks of the multi-task recipe, with stand-ins
                        where no sample of the task exists (XNLI for MNLI, PAWS-X for QQP,
                        SQuAD v1.1 for SQuAD v2.0, UD English for CCG)
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import random
from dataclasses import dataclass

from trainer.tasks import get_task
from trainer.tasks.base import Task

REAL_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         "shared", "data", "real")


@dataclass(frozen=True)
class Source:
    """One task of a mix: the registry task whose reader reads it, the sample file it is drawn
    from, how that file is expanded, where it is written, and the task it plays in the mix."""

    task: str
    real: str  # relative to the real-data folder
    fmt: str  # lines | header_lines | blocks | csv | jsonl | hellaswag | squad | anli_parts
    dest: str  # relative to the scratch data root ("" = the task's own train layout)
    plays: str = ""  # the intermediate task it stands for (its train_size weights it)

    @property
    def role(self) -> str:
        return self.plays or self.task


PAIR_MIX = (
    Source("xnli", "xnli/dev-en.tsv", "lines", "xnli/train-en.tsv"),
    Source("anli_plus", "anli/ANLI_analysis_r1_dev.csv", "anli_parts", ""),
    Source("pawsx", "pawsx/dev-en.tsv", "lines", "pawsx/train-en.tsv"),
)

CHOICE_MIX = (
    Source("hellaswag", "hellaswag/hellaswag_val_full.subset.txt", "hellaswag", "hellaswag/train.txt"),
    Source("cosmosqa", "cosmosqa/valid.csv", "csv", "cosmosqa/train.csv"),
)

INTERMEDIATE_MIX = (
    Source("anli_plus", "anli/ANLI_analysis_r1_dev.csv", "anli_parts", ""),
    Source("mnli", "xnli/dev-en.tsv", "lines", "mnli/train-en.tsv", "mnli"),
    Source("pawsx", "pawsx/dev-en.tsv", "lines", "qqp/train-en.tsv", "qqp"),
    Source("sst2", "sst2/dev.tsv", "header_lines", "SST-2/train.tsv"),
    Source("squad_v2", "squad/dev-v1.1.subset.json", "squad", "squad/train.json"),
    Source("hellaswag", "hellaswag/hellaswag_val_full.subset.txt", "hellaswag", "hellaswag/train.txt"),
    Source("cosmosqa", "cosmosqa/valid.csv", "csv", "cosmosqa/train.csv"),
    Source("commonsenseqa", "commonsenseqa/dev_rand_split.hf.jsonl", "jsonl",
           "commonsenseqa/train.jsonl"),
    Source("udpos", "ud_conllu/en_ewt-ud-dev.conllu", "blocks", "ccg/train.conllu", "ccg"),
)


def real_path(rel: str) -> str:
    path = os.path.join(REAL_DATA, rel)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"real data sample not found: {path} (expected ../shared/data/real "
                                f"beside the checkout)")
    return path


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def _write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def _draw(items: list, n: int, rng: random.Random) -> list[tuple[int, object]]:
    """``n`` items drawn with replacement, each with its copy number (0 for the first copy)."""
    counts: dict[int, int] = {}
    out = []
    for _ in range(n):
        i = rng.randrange(len(items))
        out.append((counts.get(i, 0), items[i]))
        counts[i] = counts.get(i, 0) + 1
    return out


def _lines(src: str, n: int, rng: random.Random, header: bool) -> str:
    rows = [r for r in _read_text(src).split("\n") if r.strip()]
    head, rows = (rows[:1], rows[1:]) if header else ([], rows)
    return "\n".join(head + [r for _, r in _draw(rows, n, rng)]) + "\n"


def _blocks(src: str, n: int, rng: random.Random) -> str:
    """Blank-line separated sentences (CoNLL, CoNLL-U); CoNLL-U sentence ids get a copy suffix."""
    blocks = [b.strip("\n") for b in _read_text(src).split("\n\n") if b.strip()]
    out = []
    for copy, block in _draw(blocks, n, rng):
        lines = [f"{ln}-{copy}" if ln.startswith("# sent_id") else ln for ln in block.split("\n")]
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n\n"


def _csv_rows(src: str) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(_read_text(src)))
    return list(reader.fieldnames or []), list(reader)


def _csv(src: str, n: int, rng: random.Random) -> str:
    fields, rows = _csv_rows(src)
    key = "id" if "id" in fields else "uid"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for copy, row in _draw(rows, n, rng):
        writer.writerow({**row, key: f"{row[key]}-{copy}"})
    return buf.getvalue()


def _jsonl(src: str, n: int, rng: random.Random) -> str:
    rows = [json.loads(r) for r in _read_text(src).split("\n") if r.strip()]
    return "".join(json.dumps({**row, "id": f"{row['id']}-{copy}"}) + "\n"
                   for copy, row in _draw(rows, n, rng))


def _hellaswag(src: str, n: int, rng: random.Random) -> str:
    lines = [r for r in _read_text(src).split("\n") if r.strip()]
    items = [lines[i:i + 6] for i in range(0, len(lines) - 5, 6)]
    return "".join("\n".join(item) + "\n" for _, item in _draw(items, n, rng))


def _squad(src: str, n: int, rng: random.Random) -> str:
    """Questions drawn with replacement, each in a paragraph of its own (ids get a suffix)."""
    doc = json.loads(_read_text(src))
    qas = [(para["context"], qa) for art in doc["data"] for para in art["paragraphs"]
           for qa in para["qas"]]
    paras = [{"context": ctx, "qas": [{**qa, "id": f"{qa['id']}-{copy}"}]}
             for copy, (ctx, qa) in _draw(qas, n, rng)]
    return json.dumps({"version": doc.get("version", "1.1"), "data": [{"title": "mix", "paragraphs": paras}]})


ANLI_PARTS = (  # the train parts of ANLI+ (trainer/tasks/anli.py) and their training sizes
    ("snli_1.0/snli_1.0_train.jsonl", 549_367), ("multinli_1.0/multinli_1.0_train.jsonl", 392_702),
    ("anli_v1.0/R1/train.jsonl", 16_946), ("anli_v1.0/R2/train.jsonl", 45_460),
    ("anli_v1.0/R3/train.jsonl", 100_459),
)


def _anli_parts(src: str, root: str, n: int, rng: random.Random) -> None:
    """ANLI+ in its own layout: SNLI and MultiNLI JSONL parts drawn from the XNLI English pairs
    (MNLI-style text), the three ANLI rounds (ANLI JSONL) drawn from the ANLI sample, each
    part's share of ``n`` as in the full training set."""
    pairs = [r.split("\t") for r in _read_text(real_path("xnli/dev-en.tsv")).split("\n") if r.strip()]
    _, anli = _csv_rows(src)
    total = sum(size for _, size in ANLI_PARTS)
    for rel, size in ANLI_PARTS:
        k = max(1, round(n * size / total))
        if rel.startswith("anli"):
            rows = [{"uid": f"{r['uid']}-{c}", "context": r["context"], "hypothesis": r["statement"],
                     "label": r["gold_label"]} for c, r in _draw(anli, k, rng)]
        else:
            rows = [{"pairID": f"{i}", "sentence1": a, "sentence2": b, "gold_label": y}
                    for i, (_, (a, b, y)) in enumerate(_draw(pairs, k, rng))]
        _write_text(os.path.join(root, rel), "".join(json.dumps(r) + "\n" for r in rows))


def write_source(source: Source, root: str, n: int, seed: int = 0) -> Task:
    """Write ``n`` examples of ``source`` under ``root``; return the task that reads them (the
    registry task, or a copy of it whose train file is ``source.dest``)."""
    rng = random.Random(f"{seed}:{source.role}")
    src = real_path(source.real)
    if source.fmt == "anli_parts":
        _anli_parts(src, root, n, rng)
        return source_task(source)
    writers = {"lines": lambda: _lines(src, n, rng, header=False),
               "header_lines": lambda: _lines(src, n, rng, header=True),
               "blocks": lambda: _blocks(src, n, rng), "csv": lambda: _csv(src, n, rng),
               "jsonl": lambda: _jsonl(src, n, rng), "hellaswag": lambda: _hellaswag(src, n, rng),
               "squad": lambda: _squad(src, n, rng)}
    _write_text(os.path.join(root, source.dest), writers[source.fmt]())
    return source_task(source)


def source_task(source: Source) -> Task:
    """The task that reads ``source``'s written data: the registry task, or a copy of it whose
    train file is ``source.dest`` (its reader is the registry task's)."""
    task = get_task(source.task)
    if not source.dest or task.local.get("train") == source.dest:
        return task
    return dataclasses.replace(task, local={**task.local, "train": source.dest})


def write_mix(sources: tuple[Source, ...], root: str, sizes: dict[str, int], seed: int = 0
              ) -> dict[str, Task]:
    """Write every source of a mix (``sizes`` by role); return the tasks keyed by role."""
    return {s.role: write_source(s, root, sizes[s.role], seed) for s in sources}


def intermediate_weights() -> dict[str, int]:
    """The sampler weight (full training size) of every role of ``INTERMEDIATE_MIX``."""
    return {s.role: int(get_task(s.role).train_size or 0) for s in INTERMEDIATE_MIX}


def sample_texts(sources: tuple[Source, ...]) -> list[str]:
    """Every text of the mix's sample files, read by the registry readers (tokenizer corpus)."""
    from trainer.tasks.base import SkipCounter

    texts: list[str] = []
    for s in sources:
        task = get_task(s.task)
        for ex in task.read_local(real_path(s.real), "validation", "en", SkipCounter()):
            texts += [ex.get(k, "") for k in ("text_a", "text_b", "context", "question")]
            texts += list(ex.get("choices", [])) + [" ".join(ex.get("tokens", []))]
    return [t for t in texts if t]
