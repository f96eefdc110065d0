"""CCG supertagging on CCGbank (Hockenmaier & Steedman 2007), an intermediate tagging task.

CCGbank is licensed through the LDC (LDC2005T13): it is on no hub and is never downloaded.
Put files derived from it under the data root; a missing file raises ``CCGDataMissing``
saying so. Layout: ``ccg/ccg.train`` (sections 02-21, 39,604 sentences), ``ccg/ccg.dev``
(section 00), ``ccg/ccg.test`` (section 23). Each file may be in any of the common derived
formats, recognised from its first line:
  CoNLL-like   ``token\\tsupertag`` per line, a blank line between sentences
  sentence TSV ``w1 w2 ...\\tt1 t2 ...``: one sentence per line, words and tags space-separated
  pipe         ``word|POS|supertag word|POS|supertag ...``: one sentence per line
  AUTO         CCGbank's own trees: an ``ID=...`` line, then a tree whose leaves read
               ``(<L supertag POS POS word pred-arg-category>)``

Labels come from the data: ``<unk>`` then every supertag of the training file seen at least
``min_count`` times, most frequent first. ``load_labels(root)`` fills ``labels``; it must run
before the head is built (reading a split does it from the training file beside it).
Supertags outside the set read as ``<unk>``. The metric is per-token accuracy.
"""
from __future__ import annotations

import collections
import os
import re
from dataclasses import dataclass
from typing import Iterator

from trainer.tasks import formats
from trainer.tasks.base import DataError, SkipCounter, Task

UNK = "<unk>"
_LEAF = re.compile(r"\(<L (\S+) \S+ \S+ (\S+) \S+>\)")


class CCGDataMissing(FileNotFoundError):
    def __init__(self, path: str):
        super().__init__(
            f"CCG data not found: {path}. CCGbank is licensed (LDC2005T13) and on no hub, so it "
            f"cannot be downloaded: place files derived from it at ccg/ccg.train, ccg/ccg.dev and "
            f"ccg/ccg.test under the data root, as token\\tsupertag lines with blank lines between "
            f"sentences, 'words\\ttags' sentence lines, 'word|POS|supertag' sentence lines, or "
            f"CCGbank AUTO trees.")


def sniff(path: str) -> str:
    """The file's format: conll, sentence_tsv, pipe or auto."""
    for _, text in formats.iter_lines(path, SkipCounter(False)):
        if formats.is_blank(text):
            continue
        if text.startswith("ID=") or text.startswith("(<"):
            return "auto"
        if "\t" in text:
            return "sentence_tsv" if " " in text.split("\t", 1)[0].strip() else "conll"
        if "|" in text:
            return "pipe"
        raise DataError(path, None, "not a CCG supertag file (no tab, '|' or AUTO tree found)")
    raise DataError(path, None, "file holds only blank lines")


def read_sentences(path: str, skips: SkipCounter) -> Iterator[tuple[int, list[str], list[str]]]:
    """(line, words, supertags) per sentence, whatever the format."""
    fmt = sniff(path)
    if fmt == "conll":
        yield from formats.read_conll(path, skips)
        return
    for n, text in formats.iter_lines(path, skips):
        if formats.is_blank(text) or text.startswith("ID="):
            continue
        try:
            words, tags = _parse_line(fmt, text, path, n)
        except DataError as err:
            skips.handle(err)
            continue
        yield n, words, tags


def _parse_line(fmt: str, text: str, path: str, n: int) -> tuple[list[str], list[str]]:
    if fmt == "auto":
        leaves = _LEAF.findall(text)
        if not leaves:
            raise DataError(path, n, "AUTO line holds no (<L ...>) leaf")
        return [w for _, w in leaves], [t for t, _ in leaves]
    if fmt == "sentence_tsv":
        cols = text.split("\t")
        if len(cols) != 2:
            raise DataError(path, n, f"expected 'words\\ttags', found {len(cols)} column(s)")
        words, tags = cols[0].split(), cols[1].split()
        if len(words) != len(tags):
            raise DataError(path, n, f"{len(words)} words but {len(tags)} supertags")
        return words, tags
    items = [tok.rsplit("|", 2) for tok in text.split()]
    if any(len(it) != 3 for it in items):
        raise DataError(path, n, "expected space-separated word|POS|supertag items")
    return [it[0] for it in items], [it[2] for it in items]


@dataclass
class CCGTask(Task):
    min_count: int = 1  # supertags seen fewer times in training read as <unk>

    def local_path(self, root: str, split: str, lang: str) -> str:
        path = super().local_path(root, split, lang)
        if not os.path.isfile(path):
            raise CCGDataMissing(path)
        return path

    def load_labels(self, root: str, skips: SkipCounter | None = None) -> tuple[str, ...]:
        """Fill ``labels`` from the training file under ``root`` (see the module docstring)."""
        self._labels_from(self.local_path(root, self.train_split, "en"), skips or SkipCounter())
        return self.labels

    def _labels_from(self, train_path: str, skips: SkipCounter) -> None:
        if not os.path.isfile(train_path):
            raise CCGDataMissing(train_path)
        counts = collections.Counter(t for _, _, tags in read_sentences(train_path, skips) for t in tags)
        kept = sorted((t for t, c in counts.items() if c >= self.min_count), key=lambda t: (-counts[t], t))
        self.labels = (UNK, *kept)

    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        if not os.path.isfile(path):
            raise CCGDataMissing(path)
        if not self.labels:
            train = os.path.join(os.path.dirname(path), os.path.basename(self.local["train"]))
            self._labels_from(train, SkipCounter(skips.skip))  # its bad rows are counted when read
        known = set(self.labels)
        for i, (_, words, tags) in enumerate(read_sentences(path, skips)):
            yield {"id": f"{split}-{i}", "tokens": words, "tags": [t if t in known else UNK for t in tags]}

    def from_hub(self, split: str, lang: str) -> Iterator[dict]:
        raise CCGDataMissing(f"hub source for {self.name}/{split}")


CCG = CCGTask(
    name="ccg",
    kind="tagging",
    head="ccg",
    metric="accuracy",
    local={"train": "ccg/ccg.train", "validation": "ccg/ccg.dev", "test": "ccg/ccg.test"},
    scorer="token_accuracy",  # supertags are not BIO spans: seqeval does not apply
    train_size=39_604,
    description="CCG supertagging: the lexical category of every word of WSJ sentences (CCGbank).",
)
