"""Scoring of prediction files laid out as an XTREME / XTREME-R submission, and writing that layout.

Owns the readers and writer of the layout ``<dir>/<task folder>/test-<lang>.<ext>`` that the
official scorer reads (which folder and extension each task takes: :mod:`eval.layout`),
:func:`score_predictions` (a prediction folder against a label folder, into a results dict)
and the ``xstilts score`` command (:func:`main`).

File formats, the same for predictions and labels unless said otherwise:

* classification (xnli, pawsx): one label per line (``.tsv``);
* multiple choice (xcopa): one JSON object per line with a ``label`` field (``.jsonl``);
* tagging (udpos, panx; udpos_r, panx_r in the same folders): one tag per line, a blank line
  after each sentence (``.tsv``);
* QA (xquad, mlqa, tydiqa): predictions ``{question_id: answer}``; labels the SQuAD-format
  dataset (``{"data": [...]}`` or the bare list of articles) (``.json``);
* bucc2018: ``src_id<TAB>trg_id`` lines, the mined pairs / the gold pairs (``.tsv``);
* tatoeba: one index per line, for every English sentence the index of its translation (``.tsv``);
* mewslix, lareqa (mAP@20): predictions ``{query_id: [candidate ids, best first]}``, labels
  ``{query_id: [relevant candidate ids]}`` (the Mewsli-X layout) (``.json``).

Readers take the last tab-separated field of a classification or tagging line, so a line that
holds just the label (the official layout) reads as the official scorer reads it, and a
``token<TAB>tag`` or ``text<TAB>label`` line reads as its label.

Nothing is passed over in silence: a task folder or language file on one side only, an unknown
task folder, a stray file, a file with an unexpected extension or a language the task does not
have is an error naming the path; with ``allow_missing`` each is skipped instead, warned about
and listed under ``skipped`` in the results.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Mapping, Sequence

from eval.layout import LANGUAGES, family, file_path, find_file, folder_of, read_folder, task_folders
from eval.metrics import score_task
from eval.results import build_results, format_table, save_json, write_results
from eval.xtreme import TARGETS


class ScoreError(ValueError):
    """A prediction or label file is missing or does not line up; the message names the file."""


def scorer_of(task: str) -> str:
    """The scoring family of ``task`` (:func:`eval.metrics.score_task`)."""
    if task in TARGETS:
        return TARGETS[task].scorer
    if task.startswith("mlqa"):
        return "mlqa"
    return {"qa": "squad", "bucc": "bucc", "index": "tatoeba", "tag": "seqeval"}.get(family(task), "accuracy")


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


def read_choices(path: str) -> list[str]:
    """Multiple-choice answers: the ``label`` of each JSON-object line (``.jsonl``, the official
    XCOPA layout), or one label per line in a ``.tsv`` an earlier version wrote. Labels compare
    as text, so ``1`` and ``"1"`` are the same answer."""
    if not path.endswith(".jsonl"):
        return read_labels(path)
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ScoreError(f"{path}:{n}: not a JSON object ({exc.msg})") from None
            if not isinstance(row, dict) or "label" not in row:
                raise ScoreError(f"{path}:{n}: expected a JSON object with a \"label\" field")
            out.append(str(row["label"]))
    return out


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
    reader = read_choices if fam == "choice" else read_labels
    pred, gold = reader(pred_path), reader(label_path)
    _check_count(pred_path, label_path, len(pred), len(gold), "lines")
    try:
        return score_task(scorer, pred, gold, lang)
    except ValueError as exc:  # e.g. an index that is not a number
        raise ScoreError(f"{pred_path}: {exc}") from exc


class Skips:
    """What the folders hold that is not scored: an error naming the path, or, when the user
    allowed missing files, a list of (path, reason) that the results and the warnings carry."""

    def __init__(self, allow: bool):
        self.allow = allow
        self.items: list[dict[str, str]] = []

    def __call__(self, path: str, reason: str) -> None:
        if not self.allow:
            raise ScoreError(f"{path}: {reason} (--allow-missing scores the rest and lists what it skipped)")
        self.items.append({"path": path, "reason": reason})


def _pairs(pred_dir: str, label_dir: str, folder: str, wanted: Sequence[str] | None, skip: Skips,
           languages: Sequence[str] | None, pred_folder: str | None = None) -> dict[str, list[str]]:
    """Task -> languages to score from one folder on both sides (the predictions' under its own
    name where it differs: a legacy folder on one side); everything else reported."""
    have = {"pred": read_folder(pred_dir, pred_folder or folder), "label": read_folder(label_dir, folder)}
    for side in have.values():
        for path, why in side.stray:
            skip(path, why)
    out = {}
    for task in wanted or have["label"].tasks:
        label_langs, pred_langs = have["label"].tasks.get(task, []), have["pred"].tasks.get(task, [])
        if languages:
            label_langs = [lg for lg in label_langs if lg in languages]
            pred_langs = [lg for lg in pred_langs if lg in languages]
        for lang in label_langs:
            if lang not in pred_langs:
                skip(find_file(pred_dir, task, lang), f"missing prediction file ({task} {lang} has labels)")
        for lang in pred_langs:
            if lang not in label_langs:
                skip(find_file(label_dir, task, lang), f"missing label file ({task} {lang} has predictions)")
        both = [lg for lg in label_langs if lg in pred_langs]
        if both:
            out[task] = both
    return out


def _folder_tasks(label_dir: str, pred_dir: str, folder: str) -> list[str]:
    """The tasks a folder is scored as: a shared folder (udpos) gives its XTREME-R task only
    when it holds a language that only the XTREME-R list has."""
    tasks = read_folder(label_dir, folder).tasks
    base = [t for t in tasks if t == folder or len(tasks) == 1]
    extra = [t for t, langs in tasks.items() if t != folder and
             any(lg not in LANGUAGES.get(folder, ()) for lg in langs)]
    return base + extra


def score_predictions(pred_dir: str, label_dir: str, tasks: Sequence[str] | None = None,
                      languages: Sequence[str] | None = None, allow_missing: bool = False) -> dict:
    """Score every task and language that has both a label and a prediction file; returns the
    results dict. Anything else in either folder (see the module doc) is an error, or, with
    ``allow_missing``, skipped and listed under ``skipped``. Named ``tasks`` must have label files
    (for at least one of ``languages`` when given)."""
    skip = Skips(allow_missing)
    for root, what in ((pred_dir, "prediction"), (label_dir, "label")):
        if not os.path.isdir(root):
            raise ScoreError(f"{root}: no such {what} folder")
    plan: dict[str, list[str]] = {}
    if tasks:
        for task in tasks:
            if task not in TARGETS:
                raise ScoreError(f"unknown task {task!r} (known: {', '.join(sorted(TARGETS))})")
            folder = next((f for f in family_folder(task) if os.path.isdir(os.path.join(label_dir, f))), None)
            pred_folder = next((f for f in family_folder(task) if os.path.isdir(os.path.join(pred_dir, f))), None)
            if folder and not pred_folder:
                skip(os.path.join(pred_dir, folder), "missing task folder (the labels have one)")
                continue
            got = _pairs(pred_dir, label_dir, folder, [task], skip, languages, pred_folder) if folder else {}
            if not got:
                wanted = f" for languages {', '.join(languages)}" if languages else ""
                skip(os.path.join(label_dir, folder or task), f"no label files{wanted} for task {task}")
            plan.update(got)
    else:
        label_folders, stray = task_folders(label_dir)
        pred_folders, stray_pred = task_folders(pred_dir)
        for path, why in stray + stray_pred:
            skip(path, why)
        for folder in sorted(set(label_folders) ^ set(pred_folders)):
            root, other = (pred_dir, "labels") if folder in label_folders else (label_dir, "predictions")
            skip(os.path.join(root, folder), f"missing task folder (the {other} have one)")
        for folder in sorted(set(label_folders) & set(pred_folders)):
            got = _pairs(pred_dir, label_dir, folder, _folder_tasks(label_dir, pred_dir, folder), skip, languages)
            if not got and not languages:
                skip(os.path.join(label_dir, folder), "no test-<lang> file of a task and language on both sides")
            plan.update(got)
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for task, langs in plan.items():
        for lang in langs:
            scores.setdefault(task, {})[lang] = score_file(
                task, lang, find_file(pred_dir, task, lang), find_file(label_dir, task, lang))
    return build_results(scores, {"predictions": os.path.abspath(pred_dir),
                                  "labels": os.path.abspath(label_dir), "skipped": skip.items})


def family_folder(task: str) -> list[str]:
    """The folders that may hold ``task``: the official one, then its own name (earlier versions)."""
    return list(dict.fromkeys([folder_of(task), task]))


# ---------------------------------------------------------------- writing


def write_predictions(task: str, lang: str, predictions: Any, out_dir: str) -> str:
    """Write ``predictions`` for ``task``/``lang`` as ``<out_dir>/<task>/test-<lang>.<ext>``.

    A mapping is written as QA JSON; multiple-choice answers as ``{"label": ...}`` JSON lines;
    for bucc tasks (src, trg) id pairs as tab-separated lines; lists of tag lists as tagging;
    anything else one item per line. Returns the path written."""
    path = file_path(out_dir, task, lang)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    items = predictions.tolist() if hasattr(predictions, "tolist") else predictions
    with open(path, "w", encoding="utf-8") as f:
        if isinstance(items, Mapping):  # QA answers, or ranked candidate lists
            json.dump({str(k): [str(c) for c in v] if isinstance(v, (list, tuple)) else str(v)
                       for k, v in items.items()}, f, ensure_ascii=False, indent=1)
        elif family(task) == "choice":  # the official XCOPA layout: {"label": ...} per line
            f.writelines(json.dumps({"label": p.item() if hasattr(p, "item") else p}) + "\n" for p in items)
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
    ap.add_argument("--allow-missing", action="store_true",
                    help="score what both folders have; skip (and list) missing, unknown or stray files")
    args = ap.parse_args(argv)
    try:
        results = score_predictions(args.predictions, args.labels, args.tasks, args.languages,
                                    args.allow_missing)
    except (ScoreError, OSError, ValueError, KeyError) as exc:
        print(f"xstilts score: {exc}", file=sys.stderr)
        return 2
    if not results["tasks"]:
        print("xstilts score: nothing scored (no task folder in both predictions and labels)",
              file=sys.stderr)
        return 2
    for item in results["skipped"]:
        print(f"xstilts score: skipped {item['path']}: {item['reason']}", file=sys.stderr)
    print(format_table(results))
    if args.out.endswith(".json"):
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        save_json(results, args.out)
    else:
        write_results(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
