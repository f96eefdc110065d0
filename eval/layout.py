"""The XTREME / XTREME-R submission layout: which folder and file each task's predictions and
labels take, and what a pair of such folders holds, with everything the scorer would not read
reported rather than passed over.

The official scorer (google-research/xtreme ``evaluate.py``) reads ``<task>/test-<lang>.<ext>``
with ``<ext>`` from its ``get_suffix``: ``json`` for QA (xquad, mlqa, tydiqa; SQuAD format) and
Mewsli-X (``{id: [entity ids]}``), ``jsonl`` for multiple choice (XCOPA: one JSON object per line
with a ``label`` field), ``tsv`` for everything else. XTREME-R scores POS and NER in the folders
``udpos``, ``panx``, ``tatoeba`` and ``xquad`` over its longer language lists, so ``udpos_r``,
``panx_r``, ``tatoeba_r`` and ``xquad_r`` live in those folders too: a folder ``udpos`` is scored
as ``udpos`` over the XTREME languages and, when it holds a language only XTREME-R has, as
``udpos_r`` over the XTREME-R ones. The official scorer lists no language for LAReQA (it is
scored by its own script); here it takes ``{question id: [answer ids]}`` JSON like Mewsli-X.

Files written by earlier versions of this tool are still read: XCOPA as ``test-<lang>.tsv`` (one
label per line) and ``udpos_r`` / ``panx_r`` folders.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from eval.xtreme import LANGUAGES, TARGETS

QA_TASKS = ("xquad", "mlqa", "tydiqa")
# tasks that share another task's folder in the official layout
FOLDER = {"udpos_r": "udpos", "panx_r": "panx", "tatoeba_r": "tatoeba", "xquad_r": "xquad"}
# extensions read besides the official one (files of earlier versions)
LEGACY_EXT = {"xcopa": ("tsv",)}


def family(task: str) -> str:
    """The file family of ``task``: label, tag, qa, bucc, index, ranked or choice."""
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
    if kind == "multiple_choice":
        return "choice"
    return "tag" if kind == "tagging" else "label"


def extension(task: str) -> str:
    """The official file extension of ``task`` (``get_suffix``)."""
    return {"qa": "json", "ranked": "json", "choice": "jsonl"}.get(family(task), "tsv")


def folder_of(task: str) -> str:
    return FOLDER.get(task, task)


def tasks_of_folder(name: str) -> list[str]:
    """The tasks scored from a folder of the layout (empty: not a folder of the layout)."""
    tasks = [name] if name in TARGETS and name not in FOLDER else []
    return tasks + [t for t, f in FOLDER.items() if f == name]


def file_path(root: str, task: str, lang: str) -> str:
    """Where ``task``'s file for ``lang`` is written (the official layout)."""
    return os.path.join(root, folder_of(task), f"test-{lang}.{extension(task)}")


def find_file(root: str, task: str, lang: str) -> str:
    """The file to read for ``task`` and ``lang``: the official one, else one an earlier version
    wrote (XCOPA ``.tsv``, a ``udpos_r`` folder); the official path when none exists."""
    official = file_path(root, task, lang)
    if os.path.isfile(official):
        return official
    candidates = [os.path.join(root, folder_of(task), f"test-{lang}.{ext}") for ext in LEGACY_EXT.get(task, ())]
    if task in FOLDER:
        candidates.append(os.path.join(root, task, f"test-{lang}.{extension(task)}"))
    return next((c for c in candidates if os.path.isfile(c)), official)


@dataclass
class Folder:
    """One task folder of a submission or label tree: the languages of each of its tasks and
    every file in it that no task reads."""

    path: str
    tasks: dict[str, list[str]] = field(default_factory=dict)
    stray: list[tuple[str, str]] = field(default_factory=list)  # (path, why)


def read_folder(root: str, name: str) -> Folder:
    """What ``root/name`` holds for the tasks of folder ``name`` (legacy folders by their own
    task name); a file with another name or extension, or a language no task of the folder has,
    is stray."""
    path = os.path.join(root, name)
    tasks = tasks_of_folder(name) or ([name] if name in FOLDER else [])
    out = Folder(path, {t: [] for t in tasks})
    for entry in sorted(os.listdir(path)):
        full = os.path.join(path, entry)
        if entry.startswith("."):
            continue
        stem, dot, ext = entry.rpartition(".")
        readers = [t for t in tasks if ext == extension(t) or ext in LEGACY_EXT.get(t, ())]
        if not os.path.isfile(full) or not stem.startswith("test-") or not dot:
            out.stray.append((full, "not a test-<lang>.<ext> file"))
            continue
        if not readers:
            wanted = " or ".join(sorted({extension(t) for t in tasks} | {e for t in tasks for e in LEGACY_EXT.get(t, ())}))
            out.stray.append((full, f"unexpected extension .{ext} (this folder takes .{wanted})"))
            continue
        lang = stem[len("test-"):]
        owners = [t for t in readers if lang in LANGUAGES.get(t, ())]
        if not owners:
            out.stray.append((full, f"language {lang!r} is not one of {', '.join(readers)}'s"))
            continue
        for t in owners:
            if lang not in out.tasks[t]:
                out.tasks[t].append(lang)
    return out


def task_folders(root: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The task folders directly under ``root`` and everything else there (path, why)."""
    names, stray = [], []
    for entry in sorted(os.listdir(root)):
        full = os.path.join(root, entry)
        if entry.startswith("."):
            continue
        if not os.path.isdir(full):
            stray.append((full, "a file where task folders are expected"))
        elif tasks_of_folder(entry) or entry in FOLDER:
            names.append(entry)
        else:
            stray.append((full, "unknown task folder (known: " + ", ".join(sorted({folder_of(t) for t in TARGETS})) + ")"))
    return names, stray
