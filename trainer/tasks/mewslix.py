"""Mewsli-X (Botha et al. 2020, as in XTREME-R): entity linking as retrieval. A mention in a
WikiNews article (11 languages) is matched against one multilingual pool of WikiData entities,
each represented by its Wikipedia description; scored with mAP@20 (a single relevant entity:
the reciprocal rank of the gold entity within the top 20).

Training, as XTREME-R's train_mewslix.sh (XLM-R Large): a dual encoder (RetrievalTask) on the
English Wikipedia mention-entity pairs of the release, 64 tokens per side, 2 epochs at lr 1e-5
and batch 32 (8 per GPU x 4 accumulation steps: in-batch negatives in groups of 8; the script
uses lr 2e-5 and 64 per GPU for mBERT). Checkpoints are selected on ``mewslix_wiki``: the
English pairs of the release's Wikipedia dev file as a retrieval over the entities of that file.
Without a trained head, the encoder's mean-pooled ``model.retrieval_layer`` embeds both sides.

The query is the sentence holding the mention, with the mention marked by braces and repeated
in front (``mention: left { mention } right``), following the baseline preprocessing of the
Mewsli-X release; an entity is its description's sentences joined by spaces.

Local layout, as released: ``mewslix/candidate_set_entities.jsonl`` (one entity per line:
entity_id, title, description, sentence_spans, ...) and
``mewslix/wikinews_mentions-{dev,test}.jsonl`` (one context per line, with ``mentions``, or one
``mention`` per line: example_id, mention_span {start, end, text}, entity_id). Mentions are
grouped by their context's ``language``. Training and selection:
``mewslix/wikipedia_pairs-{train,dev}.jsonl`` (one pair per line: ``contextual_mention``
{context, mention} and ``entity``). Hub: none (the files are read locally).
"""
from __future__ import annotations

import functools
import os
import re

from eval.xtreme import LANGUAGES
from trainer.tasks import formats
from dataclasses import dataclass
from typing import Iterator

from trainer.tasks.base import DataError, RetrievalTask, SkipCounter, selection_set

Sentences = list[tuple[str, str]]
ENTITIES = "mewslix/candidate_set_entities.jsonl"
_BRACED = re.compile(r"\{(.*?)\}")  # braces already in the text would look like a marked mention


def _spans(obj: dict) -> list[tuple[int, int]]:
    return [(int(s["start"]), int(s["end"])) for s in obj.get("sentence_spans", [])]


def _clean(text: str) -> str:
    return " ".join(text.split())


def entity_text(entity: dict) -> str:
    spans = _spans(entity)
    desc = entity["description"]
    return _clean(" ".join(desc[a:b] for a, b in spans) if spans else desc)


Parts = tuple[str, str, str]  # (mention, left context, right context)


def mention_parts(context: dict, span: dict) -> Parts:
    """The mention and its left and right context within the mention's sentence (the whole text
    when no sentence holds the mention)."""
    text, start, end = context["text"], int(span["start"]), int(span["end"])
    lo, hi = next(((a, b) for a, b in _spans(context) if a <= start and end <= b), (0, len(text)))
    left = _BRACED.sub(r"(\1)", text[lo:start])
    right = _BRACED.sub(r"(\1)", text[end:hi])
    return text[start:end], left, right


def query_text(parts: Parts) -> str:
    """``mention: left { mention } right``."""
    mention, left, right = parts
    return _clean(f"{mention}: {left} {{ {mention} }} {right}")


@functools.lru_cache(maxsize=4)
def read_mentions(path: str) -> dict[str, list[tuple[str, Parts, str]]]:
    """language -> [(example id, query parts, gold entity id or "")]."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for n, row in formats.read_jsonl(path, SkipCounter(False)):
        try:
            ctx = row["context"]
            mentions = row["mentions"] if "mentions" in row else [row["mention"]]
            for m in mentions:
                span = m["mention_span"]
                if ctx["text"][span["start"]:span["end"]] != span["text"]:
                    raise DataError(path, n, f"mention {m['example_id']}: span text does not match the context")
                out.setdefault(ctx["language"], []).append(
                    (str(m["example_id"]), mention_parts(ctx, span), str(m.get("entity_id") or "")))
        except (KeyError, TypeError) as e:
            raise DataError(path, n, f"not a Mewsli-X mention row (missing {e})") from None
    return out


@functools.lru_cache(maxsize=2)
def read_entities(path: str) -> tuple[tuple[str, str], ...]:
    """(entity id, description text) of the candidate set, read once for all languages."""
    out = []
    for n, row in formats.read_jsonl(path, SkipCounter(False)):
        try:
            out.append((str(row["entity_id"]), entity_text(row)))
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(path, n, f"not a Mewsli-X entity (bad {e})") from None
    return tuple(out)


Pair = tuple[str, str, Parts, str, str]  # (example id, language, query parts, entity id, entity text)


def read_wikipedia_pairs(path: str, skips: SkipCounter) -> Iterator[tuple[int, Pair]]:
    """(line, pair) of a mention-entity pair file; a bad row goes through ``skips``."""
    for n, row in formats.read_jsonl(path, skips):
        try:
            cm, entity = row["contextual_mention"], row["entity"]
            ctx, m = cm["context"], cm["mention"]
            span = m["mention_span"]
            if ctx["text"][span["start"]:span["end"]] != span["text"]:
                raise DataError(path, n, f"mention {m['example_id']}: span text does not match the context")
            yield n, (str(m["example_id"]), ctx["language"], mention_parts(ctx, span),
                      str(entity["entity_id"]), entity_text(entity))
        except (KeyError, TypeError, ValueError) as e:
            skips.handle(DataError(path, n, f"not a Mewsli-X mention-entity pair (bad {e})"))
        except DataError as err:
            skips.handle(err)


@dataclass
class MewsliXTask(RetrievalTask):
    # The candidate pool is the same for every language: the evaluator embeds it once
    # (trainer/evaluation/predict.py reads this).
    shared_parts = ("trg",)

    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        if split != self.train_split:
            raise NotImplementedError(f"task {self.name} is scored from its pool: use read_pairs")
        for _, (ex, _, parts, _, entity) in read_wikipedia_pairs(path, skips):
            yield {"id": ex, "query": query_text(parts), "candidate": entity}

    def read_pairs(self, root: str, split: str, lang: str
                   ) -> tuple[Sentences, Sentences, list[tuple[str, str]]]:
        self.check_language(lang)
        mentions = read_mentions(self.local_path(root, split, lang)).get(lang, [])
        if not mentions:
            raise ValueError(f"task {self.name}: no {lang} mentions in {self.local_path(root, split, lang)}")
        pool = read_entities(os.path.abspath(os.path.join(root, ENTITIES)))
        known = {e for e, _ in pool}
        gold = [(ex, ent) for ex, _, ent in mentions if ent]
        if gold and len(gold) != len(mentions):  # all or none: unlabeled queries cannot be scored
            missing = next(ex for ex, _, ent in mentions if not ent)
            raise DataError(self.local_path(root, split, lang), None,
                            f"{len(mentions) - len(gold)} of {len(mentions)} {lang} mentions have no "
                            f"entity_id (first: {missing}); give every mention its gold entity or none")
        bad = [ent for _, ent in gold if ent not in known]
        if bad:
            raise DataError(os.path.join(root, ENTITIES), None,
                            f"gold entity {bad[0]} of a {lang} mention is not in the candidate set")
        return [(ex, query_text(q)) for ex, q, _ in mentions], list(pool), gold

    def perturb_source(self, root, split, lang, src, perturb):
        """Noise on the mention and its contexts, not on the composed query: the braces and
        the repeated mention stay where they are (the mention is perturbed once, the same in
        both places)."""
        parts = {ex: q for ex, q, _ in read_mentions(self.local_path(root, split, lang)).get(lang, [])}
        out = []
        for ex, text in src:
            if ex not in parts:
                raise ValueError(f"task {self.name}: query {ex} is not a {lang} mention of "
                                 f"{self.local_path(root, split, lang)}")
            mention, left, right = parts[ex]
            out.append((ex, query_text((perturb(ex, "mention", mention), perturb(ex, "left", left),
                                        perturb(ex, "right", right)))))
        return out


@dataclass
class WikipediaPairsTask(MewsliXTask):
    """A mention-entity pair file as retrieval: each mention of the language against every
    entity of the file. Selects the checkpoints of a Mewsli-X run on English dev data."""

    shared_parts = ()

    def read_pairs(self, root: str, split: str, lang: str
                   ) -> tuple[Sentences, Sentences, list[tuple[str, str]]]:
        self.check_language(lang)
        path = self.local_path(root, split, lang)
        pairs = [p for _, p in read_wikipedia_pairs(path, SkipCounter(False))]
        src = [(ex, query_text(parts)) for ex, lg, parts, _, _ in pairs if lg == lang]
        if not src:
            raise ValueError(f"task {self.name}: no {lang} mentions in {path}")
        pool = list({ent: text for *_, ent, text in pairs}.items())
        return src, pool, [(ex, ent) for ex, lg, _, ent, _ in pairs if lg == lang]

    def perturb_source(self, root, split, lang, src, perturb):
        return RetrievalTask.perturb_source(self, root, split, lang, src, perturb)


MEWSLIX = MewsliXTask(
    name="mewslix",
    kind="retrieval",
    head="mewslix",
    metric="map@20",
    languages=LANGUAGES["mewslix"],
    local={"train": "mewslix/wikipedia_pairs-train.jsonl",
           "validation": "mewslix/wikinews_mentions-dev.jsonl",
           "test": "mewslix/wikinews_mentions-test.jsonl"},
    scorer="map@20",
    selection="mewslix_wiki",
    query_max_length=64,  # train_mewslix.sh: MAX_SEQ_LEN=64 for mention and entity
    candidate_max_length=64,
    negatives_group=8,  # train_mewslix.sh (xlm-roberta-large): PER_GPU_BATCH_SIZE=8 (x GRAD_ACC_STEPS=4)
    target_epochs=2.0,
    target_batch=32,
    target_lr=1e-5,
    target_source="XTREME-R train_mewslix.sh (xlm-roberta-large): Wikipedia pairs, 2 epochs, lr 1e-5, batch 8 x 4",
    description="Mewsli-X: link WikiNews entity mentions to WikiData entities by description.",
)

MEWSLIX_WIKI = selection_set(
    MEWSLIX, WikipediaPairsTask, "mewslix_wiki",
    {"train": "mewslix/wikipedia_pairs-train.jsonl", "validation": "mewslix/wikipedia_pairs-dev.jsonl"},
    "Mewsli-X's English Wikipedia mention-entity pairs as retrieval over their entities (its training "
    "data and its English dev set).")
