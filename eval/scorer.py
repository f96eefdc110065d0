"""Scoring of prediction files laid out as an XTREME submission, and writing that layout.

Owns the file layout ``<dir>/<task>/test-<lang>.<ext>`` that the official XTREME scorer reads,
its readers and writer, :func:`score_predictions` (a prediction folder against a label folder,
into a results dict), and the ``xstilts score`` command (:func:`main`).

File formats, the same for predictions and labels unless said otherwise:

* classification (xnli, pawsx, xcopa): one label per line (``.tsv``);
* tagging (udpos, panx): one tag per line, a blank line after each sentence (``.tsv``);
* QA (xquad, mlqa, tydiqa): predictions ``{question_id: answer}``; labels the SQuAD-format
  dataset (``{"data": [...]}`` or the bare list of articles) (``.json``);
* bucc2018: ``src_id<TAB>trg_id`` lines, the mined pairs / the gold pairs (``.tsv``);
* tatoeba: one index per line, for every English sentence the index of its translation (``.tsv``);
* mewslix, lareqa (mAP@20): predictions ``{query_id: [candidate ids, best first]}``, labels
  ``{query_id: [relevant candidate ids]}`` (the Mewsli-X layout) (``.json``).

Readers take the last tab-separated field of a classification or tagging line, so a line that
holds just the label (the official layout) reads as the official scorer reads it, and a
``token<TAB>tag`` or ``text<TAB>label`` line reads as its label.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Mapping, Sequence

from eval.metrics import score_task
from eval.results import build_results, format_table, save_json, write_results
from eval.xtreme import TARGETS

QA_TASKS = ("xquad", "mlqa", "tydiqa")


class ScoreError(ValueError):
    """A prediction or label file is missing or does not line up; the message names the file."""


def family(task: str) -> str:
    """The file family of ``task``: label, tag, qa, bucc, index or ranked."""
    target = TARGETS.get(task)
    kind = target.kind if target else ""
    if target is not None and target.scorer.startswith("map@"):
        return "ranked"
    if task in QA_TASKS or kind == "span" or task.startswith("mlqa"):
        return "qa"
    if task.startswith("bucc"):
        return "bucc"
    if task == "tatoeba":
        return "index"
    return "tag" if kind == "tagging" else "label"


def scorer_of(task: str) -> str:
    """The scoring family of ``task`` (:func:`eval.metrics.score_task`)."""
    if task in TARGETS:
        return TARGETS[task].scorer
    if task.startswith("mlqa"):
        return "mlqa"
    return {"qa": "squad", "bucc": "bucc", "index": "tatoeba", "tag": "seqeval"}.get(family(task), "accuracy")


def file_path(root: str, task: str, lang: str) -> str:
    ext = "json" if family(task) in ("qa", "ranked") else "tsv"
    return os.path.join(root, task, f"test-{lang}.{ext}")


# ---------------------------------------------------------------- readers


def read_labels(path: str) -> list[str]:
    """One label per line (every line counts, as in the official scorer)."""
    with open(path, encoding="utf-8") as f:
        return [line.strip().split("\t")[-1] for line in f]


def read_tags(path: str) -> list[list[str]]:
    """Sentences of tags: one tag per line, each blank line closes a sentence."""
    sentences, current = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                current.append(line.split("\t")[-1])
            else:
                sentences.append(current)
                current = []
    if current:
        sentences.append(current)
    return sentences


def read_pairs(path: str) -> list[tuple[str, ...]]:
    """``src_id<TAB>trg_id`` lines (blank lines skipped)."""
    with open(path, encoding="utf-8") as f:
        return [tuple(line.strip().split("\t")) for line in f if line.strip()]


def _load_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as exc:
            raise ScoreError(f"{path}: not valid JSON ({exc})") from None


def read_squad_references(path: str) -> list[dict]:
    """A SQuAD-format dataset as ``[{"id", "answers": {"text": [...]}}]``."""
    data = _load_json(path)
    articles = data["data"] if isinstance(data, dict) and "data" in data else data
    refs = []
    try:
        for article in articles:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    refs.append({"id": str(qa["id"]),
                                 "answers": {"text": [a["text"] for a in qa.get("answers", [])]}})
    except (KeyError, TypeError) as exc:
        raise ScoreError(f"{path}: not a SQuAD-format dataset (missing {exc})") from None
    return refs


def read_qa_predictions(path: str) -> dict[str, str]:
    """QA predictions: a JSON object ``{question_id: answer}``."""
    data = _load_json(path)
    if not isinstance(data, dict):
        raise ScoreError(f"{path}: QA predictions must be a JSON object {{question_id: answer}}")
    return {str(k): str(v) for k, v in data.items()}


def read_ranked(path: str) -> dict[str, list[str]]:
    """Ranked retrieval files: a JSON object ``{query_id: [candidate ids]}``."""
    data = _load_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise ScoreError(f"{path}: expected a JSON object {{query_id: [candidate ids]}}")
    return {str(k): [str(c) for c in v] for k, v in data.items()}


# ---------------------------------------------------------------- scoring


def _require(path: str, what: str) -> None:
    if not os.path.isfile(path):
        raise ScoreError(f"missing {what} file: {path}")


def _check_count(pred_path: str, label_path: str, n_pred: int, n_gold: int, unit: str) -> None:
    if n_pred != n_gold:
        raise ScoreError(f"{pred_path}: {n_pred} {unit} but {label_path} has {n_gold}")


def score_file(task: str, lang: str, pred_path: str, label_path: str) -> dict[str, float]:
    """Score one prediction file against its label file."""
    _require(label_path, "label")
    _require(pred_path, "prediction")
    fam, scorer = family(task), scorer_of(task)
    if fam == "qa":
        refs = read_squad_references(label_path)
        return score_task(scorer, read_qa_predictions(pred_path), refs, lang)
    if fam == "bucc":
        return score_task(scorer, read_pairs(pred_path), read_pairs(label_path), lang)
    if fam == "ranked":
        return score_task(scorer, read_ranked(pred_path), read_ranked(label_path), lang)
    if fam == "tag":
        pred, gold = read_tags(pred_path), read_tags(label_path)
        _check_count(pred_path, label_path, len(pred), len(gold), "sentences")
        for i, (p, g) in enumerate(zip(pred, gold)):
            _check_count(f"{pred_path} sentence {i + 1}", label_path, len(p), len(g), "tags")
        return score_task(scorer, pred, gold, lang)
    pred, gold = read_labels(pred_path), read_labels(label_path)
    _check_count(pred_path, label_path, len(pred), len(gold), "lines")
    try:
        return score_task(scorer, pred, gold, lang)
    except ValueError as exc:  # e.g. an index that is not a number
        raise ScoreError(f"{pred_path}: {exc}") from exc


def label_languages(label_dir: str, task: str) -> list[str]:
    """Languages with a test label file for ``task``, sorted."""
    folder = os.path.join(label_dir, task)
    ext = ".json" if family(task) in ("qa", "ranked") else ".tsv"
    if not os.path.isdir(folder):
        return []
    return sorted(n[len("test-"):-len(ext)] for n in os.listdir(folder)
                  if n.startswith("test-") and n.endswith(ext))


def score_predictions(pred_dir: str, label_dir: str, tasks: Sequence[str] | None = None,
                      languages: Sequence[str] | None = None) -> dict:
    """Score every task and language that has labels; returns the results dict.

    Without ``tasks``, every known task folder in ``label_dir`` that also exists in
    ``pred_dir`` is scored (others are skipped, as the official scorer skips them). A language
    with a label file must have its prediction file; a named task must have label files (for
    at least one of ``languages`` when given)."""
    if tasks:
        names = list(tasks)
    else:
        names = [t for t in sorted(os.listdir(label_dir)) if os.path.isdir(os.path.join(label_dir, t))
                 and t in TARGETS and os.path.isdir(os.path.join(pred_dir, t))]
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for task in names:
        have = label_languages(label_dir, task)
        langs = [lg for lg in have if lg in languages] if languages else have
        if not langs and not tasks:
            continue  # a task folder with none of the requested languages
        if not langs:
            wanted = f" for languages {', '.join(languages)}" if languages else ""
            raise ScoreError(f"no label files{wanted} for task {task} in {os.path.join(label_dir, task)}")
        for lang in langs:
            scores.setdefault(task, {})[lang] = score_file(
                task, lang, file_path(pred_dir, task, lang), file_path(label_dir, task, lang))
    return build_results(scores, {"predictions": os.path.abspath(pred_dir),
                                  "labels": os.path.abspath(label_dir)})


# ---------------------------------------------------------------- writing


def write_predictions(task: str, lang: str, predictions: Any, out_dir: str) -> str:
    """Write ``predictions`` for ``task``/``lang`` as ``<out_dir>/<task>/test-<lang>.<ext>``.

    A mapping is written as QA JSON; for bucc tasks (src, trg) id pairs as tab-separated lines;
    lists of tag lists as tagging; anything else one item per line. Returns the path written."""
    path = file_path(out_dir, task, lang)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    items = predictions.tolist() if hasattr(predictions, "tolist") else predictions
    with open(path, "w", encoding="utf-8") as f:
        if isinstance(items, Mapping):  # QA answers, or ranked candidate lists
            json.dump({str(k): [str(c) for c in v] if isinstance(v, (list, tuple)) else str(v)
                       for k, v in items.items()}, f, ensure_ascii=False, indent=1)
        elif family(task) == "bucc":
            f.writelines(p.rstrip("\n") + "\n" if isinstance(p, str) else f"{p[0]}\t{p[1]}\n" for p in items)
        elif family(task) == "tag" or (items and all(isinstance(p, (list, tuple)) for p in items)):
            for sentence in items:
                f.writelines(f"{_one_line(tag, empty=False)}\n" for tag in sentence)
                f.write("\n")
        else:
            f.writelines(f"{_one_line(p)}\n" for p in items)
    return path


def _one_line(value: Any, empty: bool = True) -> str:
    text = str(value)
    if "\n" in text:
        raise ValueError(f"a prediction must fit on one line: {text!r}")
    if not empty and not text.strip():
        raise ValueError("an empty tag would end its sentence early")
    return text


# ---------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``xstilts score --predictions P --labels L --out results.json [--tasks ...] [--languages ...]``"""
    ap = argparse.ArgumentParser(prog="xstilts score",
                                 description="Score XTREME-layout prediction files against labels.")
    ap.add_argument("--predictions", required=True, help="folder with <task>/test-<lang>.{tsv,json}")
    ap.add_argument("--labels", required=True, help="folder with the gold files, same layout")
    ap.add_argument("--out", required=True,
                    help="results.json path (a folder: also results.csv, results.md, heatmap.png)")
    ap.add_argument("--tasks", nargs="+", default=None)
    ap.add_argument("--languages", nargs="+", default=None)
    args = ap.parse_args(argv)
    try:
        results = score_predictions(args.predictions, args.labels, args.tasks, args.languages)
    except (ScoreError, OSError, ValueError, KeyError) as exc:
        print(f"xstilts score: {exc}", file=sys.stderr)
        return 2
    if not results["tasks"]:
        print("xstilts score: nothing scored (no task folder in both predictions and labels)",
              file=sys.stderr)
        return 2
    print(format_table(results))
    if args.out.endswith(".json"):
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        save_json(results, args.out)
    else:
        write_results(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
