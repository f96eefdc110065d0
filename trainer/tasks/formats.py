"""Readers of the released on-disk formats that several tasks share.

Every reader takes the file path and a ``SkipCounter``; a bad row becomes a ``DataError`` naming
the file and its 1-based line, which the counter raises or counts (``data.skip_bad_rows``).
Problems with a whole file (empty, not JSON at all, a CSV quote left open) always raise. Text is decoded as strict
UTF-8 line by line, and lines are split on "\\n" only: ``str.splitlines`` would also break on
U+2028, U+0085 or \\x1c-\\x1e, which occur inside XNLI and PAWS-X sentences.

  XTREME pair TSV    a\\tb\\tlabel (or a\\tb where labels are withheld), or any TSV whose
                     header names the columns (PAWS-X x-final, XNLI-1.0, GLUE MNLI)
  header TSV         GLUE files: a header row, then one row per line, no quoting
  CoNLL              token\\ttag per line, blank line between sentences; token-only lines
                     where tags are withheld
  CoNLL-U            UD treebanks: comments skipped, multiword (1-2) and empty (1.1) ids skipped
  JSONL, CSV         one object per line; RFC 4180 CSV with a header
  parallel text      Tatoeba: line i of one file translates line i of the other
  BUCC               id\\tsentence files and a src_id\\ttrg_id gold file

SQuAD-format JSON has its own module, squad_format.py.
"""
from __future__ import annotations

import csv
import re
import json
import os
from typing import Iterator, Sequence

from trainer.tasks.base import DataError, HubSource, SkipCounter

# ISO 639-1 -> the 3-letter codes of the Tatoeba file names (LASER's tatoeba/v1 set): the one
# place the project maps between them. Tatoeba names macrolanguages by a member (cmn, swh, pes).
ISO3 = {
    "af": "afr", "ar": "ara", "az": "aze", "be": "bel", "bg": "bul", "bn": "ben", "br": "bre",
    "ca": "cat", "cs": "ces", "cy": "cym", "da": "dan", "de": "deu", "el": "ell", "en": "eng",
    "eo": "epo", "es": "spa", "et": "est", "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra",
    "ga": "gle", "gl": "glg", "he": "heb", "hi": "hin", "hr": "hrv", "hu": "hun", "hy": "hye",
    "id": "ind", "is": "isl", "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz",
    "km": "khm", "ko": "kor", "lt": "lit", "lv": "lvs", "mk": "mkd", "ml": "mal", "mr": "mar",
    "ms": "zsm", "my": "mya", "nl": "nld", "nb": "nob", "pl": "pol", "pt": "por", "ro": "ron",
    "ru": "rus", "sk": "slk", "sl": "slv", "sq": "sqi", "sr": "srp", "sv": "swe", "sw": "swh",
    "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl", "tr": "tur", "uk": "ukr", "ur": "urd",
    "uz": "uzb", "vi": "vie", "wo": "wol", "yo": "yor", "zh": "cmn",
}
ISO1 = {v: k for k, v in ISO3.items()}


def to_iso3(lang: str) -> str:
    try:
        return ISO3[lang]
    except KeyError:
        raise ValueError(f"no Tatoeba 3-letter code known for language {lang!r}") from None


def to_iso1(code: str) -> str:
    try:
        return ISO1[code]
    except KeyError:
        raise ValueError(f"no ISO 639-1 code known for Tatoeba code {code!r}") from None


# ---------------------------------------------------------------- hub


def hub_rows(src: HubSource, split: str, lang: str) -> Iterator[dict]:
    """Raw rows of one hub split (for tasks that filter or combine hub sources)."""
    import datasets

    config = src.config.format(lang=lang) if src.config else None
    yield from datasets.load_dataset(src.path, config, split=src.split.format(split=split, lang=lang))


def hub_tag_rows(src: HubSource, split: str, config: str, tokens: str, tags: str
                 ) -> Iterator[tuple[list[str], list[str]]]:
    """(tokens, tag names) of a hub tagging split; class-label indices are turned into names
    with the split's own feature names, so no tag order is assumed."""
    import datasets

    ds = datasets.load_dataset(src.path, config, split=src.split.format(split=split))
    names = getattr(ds.features[tags], "feature", None)
    names = getattr(names, "names", None)
    for row in ds:
        yield list(row[tokens]), [names[t] if names else str(t) for t in row[tags]]


def tagging_examples(rows: Iterator[tuple[int, str, list[str], list[str]]], labels: Sequence[str],
                     path: str, skips: SkipCounter) -> Iterator[dict]:
    """Canonical tagging examples from (line, id, tokens, tags); a tag outside ``labels`` is a
    bad row (tags = [] means withheld and passes)."""
    known = set(labels)
    for n, ex_id, tokens, tags in rows:
        unknown = sorted(set(tags) - known)
        if unknown:
            skips.handle(DataError(path, n, f"unknown tag(s) {unknown}; expected {list(labels)}"))
            continue
        yield {"id": ex_id, "tokens": tokens, "tags": tags}


# ---------------------------------------------------------------- lines


def is_blank(text: str) -> bool:
    """A separator line: nothing but ASCII spaces and tabs. Unicode spaces (U+3000, U+00A0,
    \x1c) are real tokens in PAN-X and UD files and must not end a sentence."""
    return not text.strip(" \t")


def check_nonempty(path: str) -> None:
    if os.path.getsize(path) == 0:
        raise DataError(path, None, "file is empty")


def iter_lines(path: str, skips: SkipCounter) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line, split on "\\n" only, the line end removed."""
    check_nonempty(path)
    with open(path, "rb") as f:  # binary: iteration splits on b"\n" and nothing else
        for n, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                skips.handle(DataError(path, n, f"invalid UTF-8 at byte {e.start} of the line"))
                continue
            # a trailing "\r" belongs to a Windows line end, never to a field
            yield n, text.removesuffix("\n").removesuffix("\r")


def read_rows(path: str, skips: SkipCounter, widths: Sequence[int] | None = None
              ) -> Iterator[tuple[int, list[str]]]:
    """Tab-separated rows without quoting; blank lines skipped. ``widths``: allowed column counts;
    the first row fixes the count for the rest of the file (a short row is a malformed row)."""
    width = None
    for n, text in iter_lines(path, skips):
        if is_blank(text):
            continue
        row = text.split("\t")
        expected = [width] if width is not None else widths
        if expected is not None and len(row) not in expected:
            skips.handle(DataError(path, n, f"expected {' or '.join(map(str, expected))} "
                                            f"tab-separated columns, found {len(row)}"))
            continue
        width = width if width is not None else len(row)
        yield n, row


def read_header_tsv(path: str, skips: SkipCounter, required: Sequence[str] = ()
                    ) -> Iterator[tuple[int, dict[str, str]]]:
    """GLUE-style TSV: the first line names the columns; every row must have all of them."""
    rows = read_rows(path, skips)
    first = next(rows, None)
    if first is None:
        raise DataError(path, None, "file holds no header row")
    hline, header = first
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(path, hline, f"header lacks column(s) {missing}; found {header}")
    for n, row in rows:
        if len(row) != len(header):
            skips.handle(DataError(path, n, f"expected {len(header)} columns as in the header, "
                                            f"found {len(row)}"))
            continue
        yield n, dict(zip(header, row))


# ---------------------------------------------------------------- sentence pairs

_PAIR_A = ("sentence1", "premise", "question1")
_PAIR_B = ("sentence2", "hypothesis", "hypo", "question2")
_PAIR_LABEL = ("gold_label", "label", "is_duplicate")
_HEADER_WORDS = set(_PAIR_A + _PAIR_B + _PAIR_LABEL + ("id", "language", "pairID", "index"))


def _first(row: dict[str, str], names: Sequence[str]) -> str | None:
    return next((row[k] for k in names if k in row), None)


def read_pair_tsv(path: str, skips: SkipCounter, lang: str | None = None
                  ) -> Iterator[tuple[int, str | None, str, str, str | None]]:
    """(line, id or None, text a, text b, raw label or None) from a sentence-pair TSV.

    Headerless XTREME files hold a\\tb\\tlabel, or a\\tb where the label is withheld. A first
    line made of known column names is a header (PAWS-X x-final ``id sentence1 sentence2
    label``, XNLI-1.0, GLUE MNLI, XNLI-MT ``premise hypo label``); with a ``language`` column
    only rows of ``lang`` are kept."""
    check_nonempty(path)
    with open(path, "rb") as f:
        head = f.readline().decode("utf-8", errors="replace")
    names = head.rstrip("\r\n").split("\t")
    if sum(c in _HEADER_WORDS for c in names) >= 2:
        yield from _pairs_with_header(path, skips, lang)
        return
    for n, row in read_rows(path, skips, widths=(2, 3)):
        yield n, None, row[0], row[1], row[2] if len(row) == 3 else None


def _pairs_with_header(path: str, skips: SkipCounter, lang: str | None
                       ) -> Iterator[tuple[int, str | None, str, str, str | None]]:
    for n, row in read_header_tsv(path, skips):
        a, b = _first(row, _PAIR_A), _first(row, _PAIR_B)
        if a is None or b is None:
            raise DataError(path, 1, f"header names no sentence pair columns: {list(row)}")
        if lang is not None and "language" in row and row["language"] != lang:
            continue
        yield n, _first(row, ("id", "pairID")), a, b, _first(row, _PAIR_LABEL)


# ---------------------------------------------------------------- token-level files


def read_conll(path: str, skips: SkipCounter) -> Iterator[tuple[int, list[str], list[str]]]:
    """(first line, tokens, tags) per sentence; tags = [] where the file holds tokens only.

    The first line of a sentence decides whether it is tagged; a line that disagrees (or has
    more than two columns, or no token) is bad, and its whole sentence goes with it."""
    tokens: list[str] = []
    tags: list[str] = []
    start, tagged, bad = 0, False, False
    for n, text in iter_lines(path, skips):
        if is_blank(text) or text.startswith("-DOCSTART-"):
            if tokens and not bad:
                yield start, tokens, tags
            tokens, tags, bad = [], [], False
            continue
        cols = text.split("\t")
        if not tokens and not bad:
            start, tagged = n, len(cols) == 2
        if bad:
            continue
        if len(cols) != (2 if tagged else 1) or not cols[0]:
            bad = True
            shape = "token\\ttag" if tagged else "a token alone"
            skips.handle(DataError(path, n, f"expected {shape} like the sentence's first line, "
                                            f"found {len(cols)} column(s)"))
            continue
        tokens.append(cols[0])
        if tagged:
            tags.append(cols[1])
    if tokens and not bad:
        yield start, tokens, tags


def read_conllu(path: str, skips: SkipCounter, column: int = 3
                ) -> Iterator[tuple[int, str, list[str], list[str]]]:
    """(first line, sent_id, forms, tags) per sentence of a CoNLL-U file; ``column`` 3 = UPOS.
    Multiword-token lines (``1-2``) and empty nodes (``1.1``) carry no tag of their own."""
    forms: list[str] = []
    tags: list[str] = []
    sent_id, start, bad = "", 0, False
    for n, text in iter_lines(path, skips):
        if is_blank(text):
            if forms and not bad:
                yield start, sent_id, forms, tags
            forms, tags, sent_id, bad = [], [], "", False
            continue
        if text.startswith("#"):
            if text.startswith("# sent_id"):
                sent_id = text.split("=", 1)[-1].strip()
            continue
        cols = text.split("\t")
        if len(cols) != 10:
            bad = True
            skips.handle(DataError(path, n, f"expected 10 CoNLL-U columns, found {len(cols)}"))
            continue
        if "-" in cols[0] or "." in cols[0]:
            continue
        if not cols[1] or not cols[column]:
            bad = True
            what = "FORM" if not cols[1] else f"column {column + 1}"
            skips.handle(DataError(path, n, f"empty {what} (CoNLL-U writes _ for no value)"))
            continue
        if not forms:
            start = n
        forms.append(cols[1])
        tags.append(cols[column])
    if forms and not bad:
        yield start, sent_id, forms, tags


# ---------------------------------------------------------------- JSON, JSONL, CSV


def read_jsonl(path: str, skips: SkipCounter) -> Iterator[tuple[int, dict]]:
    for n, text in iter_lines(path, skips):
        if is_blank(text):
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            skips.handle(DataError(path, n, f"bad JSON: {e.msg} at column {e.colno}"))
            continue
        if not isinstance(obj, dict):
            skips.handle(DataError(path, n, f"expected a JSON object, found {type(obj).__name__}"))
            continue
        yield n, obj


def read_csv(path: str, skips: SkipCounter, required: Sequence[str] = ()
             ) -> Iterator[tuple[int, dict[str, str]]]:
    """(first line of the record, row) from a CSV with a header; quoted fields may span lines."""
    check_nonempty(path)
    with open(path, "rb") as raw:
        data = raw.read()
    # lines end at "\n", as everywhere else, so that a "\r" inside a quoted field does not shift
    # the line numbers; a file without any "\n" but with "\r" has old Mac line ends
    end = b"\r" if b"\n" not in data and b"\r" in data else b"\n"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        # the file is parsed as a whole (records span lines), so bad bytes stop it
        raise DataError(path, data.count(end, 0, e.start) + 1, "invalid UTF-8") from None
    # strict: a quote left open at the end of the file, or text after a closing quote, is an
    # error naming the record's first line, not a field that swallows the rest of the file
    e = end.decode()
    reader = csv.reader(re.findall(f"[^{e}]*{e}|[^{e}]+$", text), strict=True)
    header = _csv_record(path, reader)
    if not header:
        raise DataError(path, 1, "CSV holds no header row")
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(path, 1, f"CSV header lacks column(s) {missing}")
    start = reader.line_num + 1
    while (row := _csv_record(path, reader, start)) is not None:
        if row and len(row) != len(header):
            skips.handle(DataError(path, start, f"expected {len(header)} CSV fields, found {len(row)}"))
        elif row:
            yield start, dict(zip(header, row))
        start = reader.line_num + 1


def _csv_record(path: str, reader, start: int = 1) -> list[str] | None:
    """The next record, None at the end; a malformed record ends the file with its line."""
    try:
        return next(reader, None)
    except csv.Error as e:
        raise DataError(path, start, f"malformed CSV record: {e}") from None


# ---------------------------------------------------------------- retrieval files


def read_parallel(src_path: str, trg_path: str) -> tuple[list[str], list[str]]:
    """Two line-aligned files (Tatoeba): line i of ``src_path`` translates line i of ``trg_path``."""
    strict = SkipCounter(False)
    src = [t for _, t in iter_lines(src_path, strict)]
    trg = [t for _, t in iter_lines(trg_path, strict)]
    if len(src) != len(trg):
        raise DataError(trg_path, min(len(src), len(trg)) + 1,
                        f"{len(trg)} lines but {src_path} has {len(src)}: files must align")
    return src, trg


def read_id_sentences(path: str, skips: SkipCounter) -> list[tuple[str, str]]:
    """BUCC sentence files: ``id\\tsentence`` per line; ids must be unique."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for n, row in read_rows(path, skips, widths=(2,)):
        if row[0] in seen:
            skips.handle(DataError(path, n, f"duplicate sentence id {row[0]!r}"))
            continue
        seen.add(row[0])
        out.append((row[0], row[1]))
    return out
