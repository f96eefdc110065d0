"""LAReQA (Roy et al. 2020): language-agnostic answer retrieval, an XTREME-R target.

Questions of XQuAD-R in 11 languages are matched against one pool of answer-sentence
candidates drawn from all 11 languages; the relevant candidates of a question are the
sentences holding its answer in every language (its translations share the question id). The
score is mAP@20 (eval.retrieval_metrics.average_precision_at_k), reported per question
language over the full pool; the mean over languages is the official all-question mAP@20 since
every language has the same questions. A candidate is its sentence followed by its paragraph
(joined without a separator, newlines dropped), as the benchmark's dual encoder reads it.

Training, as XTREME-R's train_lareqa.sh: a dual encoder (RetrievalTask) on SQuAD v1.1's English
training set, each question paired with the sentence holding its answer (the sentence breaks
inferred by ``infer_sentence_breaks``; a question whose answer starts in no sentence is left
out and counted), queries up to 96 tokens, candidates up to 256, 3 epochs at batch 16 (4 per
GPU x 4 accumulation steps: the in-batch negatives are groups of 4). Checkpoints are selected
on ``squad_r``: SQuAD v1.1's English dev set as the same retrieval (each question against every
candidate of the dev paragraphs). Without a trained head (the ``pretrained_encoder`` phase of a
recipe), the encoder's mean-pooled ``model.retrieval_layer`` embeds both sides.

Local layout, as released: ``lareqa/xquad-r/{lang}.json``: SQuAD-format files whose paragraphs
carry ``sentence_breaks`` ([start, end) character offsets). Candidate ids are
``{lang}_{paragraph number}_{sentence number}``, question ids ``{question id}_{lang}``, as in
XTREME's LAReQA utilities. One evaluation set: dev and test are the same. Training and selection
read ``squad/train-v1.1.json`` and ``squad/dev-v1.1.json``. Hub: none (the files are read
locally).
"""
from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass
from typing import Iterator

from eval.xtreme import LANGUAGES
from trainer.tasks import squad_format
from trainer.tasks.base import DataError, RetrievalTask, SkipCounter, selection_set

log = logging.getLogger("xstilts.tasks")

Sentences = list[tuple[str, str]]
# A sentence ends at . ? or ! (with closing quotes or brackets after it) followed by white
# space and, for English, a capital, a digit or an opening quote or bracket; not after a title
# ("Mr. Smith") or a single letter (initials: "J. R. Tolkien", "the U.S. Army"), as the
# benchmark's own breaker keeps them whole.
_BREAK = re.compile(r"""[.?!][)'"\u201d\]]*\s+(?=[\['"(\u201c]?[A-Z0-9])""")
_BREAK_ANY = re.compile(r"""[.?!][)'"\u201d\]]*\s+(?=\S)""")
_NO_BREAK_AFTER = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "gen", "col", "lt", "sgt", "capt",
                   "rev", "gov", "sen", "rep", "no", "vs", "etc", "e.g", "i.e", "fig", "vol", "ca"}


def _title_or_initial(text: str, period: int) -> bool:
    """Whether the word ending at ``text[period]`` (a ".") is a title or a single letter."""
    word = text[:period].rsplit(None, 1)[-1].lstrip("(\"'") if text[:period].strip() else ""
    last = word.rsplit(".", 1)[-1]
    return word.lower() in _NO_BREAK_AFTER or (len(last) == 1 and last.isalpha())


def infer_sentence_breaks(text: str, any_case: bool = False) -> list[tuple[int, int]]:
    """[start, end) character offsets of the sentences of ``text`` (SQuAD's training and dev
    paragraphs carry none). ``any_case``: a sentence may start with a lower-case letter (the
    synthetic languages, which have no abbreviations)."""
    breaks, start = [], 0
    for m in (_BREAK_ANY if any_case else _BREAK).finditer(text):
        if not any_case and text[m.start()] == "." and _title_or_initial(text, m.start()):
            continue
        end = m.start() + len(m.group().rstrip())
        breaks.append((start, end))
        start = m.end()
    if text[start:].strip():
        breaks.append((start, len(text.rstrip())))
    return breaks


def candidate_text(sentence: str, context: str) -> str:
    """A candidate as the benchmark's dual encoder reads it: the sentence, then its paragraph."""
    return (sentence + context).replace("\n", "")


def answer_sentence(breaks: list[tuple[int, int]], start: int) -> int | None:
    """The index of the sentence holding character ``start`` (None: it falls between)."""
    return next((i for i, (a, b) in enumerate(breaks) if a <= start < b), None)


@dataclass
class SquadSentences:
    """A SQuAD-format file cut into sentences: its paragraphs (context, sentence breaks) and its
    answered questions as (question id, question, paragraph index, answer sentence index or
    None where the answer starts between sentences)."""

    paragraphs: list[tuple[str, list[tuple[int, int]]]]
    questions: list[tuple[str, str, int, int | None]]

    def candidate(self, para: int, sent: int) -> tuple[str, str]:
        """(id ``en_{paragraph number}_{sentence number}``, text) of one sentence."""
        context, spans = self.paragraphs[para]
        a, b = spans[sent]
        return f"en_{para + 1}_{sent}", candidate_text(context[a:b], context)


def squad_sentences(path: str, skips: SkipCounter, any_case: bool = False) -> SquadSentences:
    numbers: dict[str, int] = {}
    out = SquadSentences([], [])
    for ex in squad_format.read_squad(path, skips):
        if not ex["answers"]["answer_start"]:
            continue  # unanswerable (SQuAD 2.0) or withheld: no answer sentence
        context = ex["context"]
        if context not in numbers:
            numbers[context] = len(out.paragraphs)
            out.paragraphs.append((context, infer_sentence_breaks(context, any_case)))
        para = numbers[context]
        hit = answer_sentence(out.paragraphs[para][1], ex["answers"]["answer_start"][0])
        out.questions.append((ex["id"], ex["question"], para, hit))
    return out


def squad_pairs(path: str, skips: SkipCounter, any_case: bool = False) -> Iterator[dict]:
    """(question, answer sentence + paragraph) pairs of a SQuAD v1.1-format file: the dual
    encoder's training examples. The first answer of each question decides its sentence; a
    question whose answer starts between sentences is left out (counted and logged; the
    benchmark leaves it out too)."""
    doc = squad_sentences(path, skips, any_case)
    left_out = sum(hit is None for *_, hit in doc.questions)
    if left_out:
        log.warning("%s: %d of %d question(s) left out: the answer starts between inferred "
                    "sentences", path, left_out, len(doc.questions))
    for qid, question, para, hit in doc.questions:
        if hit is not None:
            yield {"id": qid, "query": question, "candidate": doc.candidate(para, hit)[1]}


def read_xquad_r(path: str, lang: str, infer: str = ""
                 ) -> tuple[Sentences, Sentences, dict[str, set[str]]]:
    """(questions as (xling id, text), candidates as (id, sentence + paragraph), xling id ->
    answer candidate ids) of one XQuAD-R file. ``infer`` ("en" or "any", as
    ``infer_sentence_breaks``'s cases): paragraphs without ``sentence_breaks`` get inferred
    ones (the synthetic suite's XQuAD files); "": they must carry them, as released."""
    doc, text = squad_format.load_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise DataError(path, 1, "not an XQuAD-R file: no top-level 'data' list")
    questions: Sentences = []
    candidates: Sentences = []
    answers: dict[str, set[str]] = {}
    n_para = skipped = 0
    for n_art, article in enumerate(doc["data"], 1):
        paras = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paras, list):
            raise DataError(path, None, f"article {n_art} has no 'paragraphs' list")
        for para in paras:
            n_para += 1
            context = para.get("context") if isinstance(para, dict) else None
            breaks = para.get("sentence_breaks") if isinstance(para, dict) else None
            if infer and breaks is None and isinstance(context, str):
                breaks = [list(b) for b in infer_sentence_breaks(context, infer == "any")]
            if not isinstance(context, str) or not isinstance(breaks, list):
                raise DataError(path, None, f"paragraph {n_para} lacks 'context' or 'sentence_breaks'")
            if not all(isinstance(b, list) and len(b) == 2 and all(isinstance(x, int) for x in b)
                       and 0 <= b[0] <= b[1] <= len(context) for b in breaks):
                raise DataError(path, None, f"paragraph {n_para}: 'sentence_breaks' must be [start, end] "
                                            f"character offsets within its context")
            ids = [f"{lang}_{n_para}_{i}" for i in range(len(breaks))]
            candidates += [(cid, candidate_text(context[a:b], context)) for cid, (a, b) in zip(ids, breaks)]
            for qa in para.get("qas", []):
                qid = str(qa.get("id")) if isinstance(qa, dict) else None
                if qid is None or not isinstance(qa.get("question"), str) or not isinstance(
                        qa.get("answers"), list):
                    line = squad_format.line_of(text, "id", qid) if qid is not None else None
                    raise DataError(path, line, f"paragraph {n_para}: a question lacks 'id', "
                                                f"'question' or 'answers'")
                starts = [a.get("answer_start") if isinstance(a, dict) else None for a in qa["answers"]]
                if len(starts) != 1 or not isinstance(starts[0], int):
                    raise DataError(path, squad_format.line_of(text, "id", qid),
                                    f"question {qid}: expected exactly one answer with an answer_start")
                hit = next((cid for cid, (a, b) in zip(ids, breaks) if a <= starts[0] < b), None)
                if hit is None:  # the official reader skips these too (a sentence-break error)
                    skipped += 1
                    continue
                questions.append((qid, qa["question"]))
                answers.setdefault(qid, set()).add(hit)
    if skipped:
        log.warning("%s: %d question(s) skipped: the answer starts outside every sentence break "
                    "(%d kept)", path, skipped, len(questions))
    return questions, candidates, answers


@functools.lru_cache(maxsize=2)
def read_pool(root: str, pattern: str, languages: tuple[str, ...], infer: str = "") -> tuple:
    """Every language's questions, the shared candidate pool and the relevant candidates per
    xling id (read once for all languages)."""
    questions, pool, relevant = {}, [], {}
    for lang in languages:
        path = os.path.join(root, pattern.format(lang=lang))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"task lareqa: the candidate pool needs every language; "
                                    f"{path} not found")
        questions[lang], cands, answers = read_xquad_r(path, lang, infer)
        pool += cands
        for xid, ids in answers.items():
            relevant.setdefault(xid, set()).update(ids)
    return questions, pool, relevant


@dataclass
class LAReQATask(RetrievalTask):
    # The candidate pool is the same for every language: the evaluator embeds it once
    # (trainer/evaluation/predict.py reads this).
    shared_parts = ("trg",)
    # sentence breaks of the training (and selection) paragraphs: "en" (a capital starts a
    # sentence) or "any" (the synthetic languages); and of evaluation files that carry none
    # ("": they must carry them, as XQuAD-R does)
    sentence_case: str = "en"
    infer_eval_breaks: str = ""

    def read_local(self, path: str, split: str, lang: str, skips: SkipCounter) -> Iterator[dict]:
        if split != self.train_split:
            raise NotImplementedError(f"task {self.name} is scored from its pool: use read_pairs")
        return squad_pairs(path, skips, self.sentence_case == "any")

    def read_pairs(self, root: str, split: str, lang: str
                   ) -> tuple[Sentences, Sentences, list[tuple[str, str]]]:
        self.check_language(lang)
        if split not in self.local:
            raise FileNotFoundError(f"task {self.name} has no local file layout for split {split!r}")
        questions, pool, relevant = read_pool(os.path.abspath(root), self.local[split], self.languages,
                                              self.infer_eval_breaks)
        src = [(f"{xid}_{lang}", q) for xid, q in questions[lang]]
        gold = [(qid, cid) for (qid, _), (xid, _) in zip(src, questions[lang])
                for cid in sorted(relevant[xid])]
        return src, list(pool), gold


@dataclass
class SquadRetrievalTask(LAReQATask):
    """A SQuAD-format file as English answer-sentence retrieval: each question against every
    sentence (with its paragraph) of the file; the one holding its answer is relevant. Selects
    the checkpoints of a LAReQA run on English dev data, and trains like LAReQA."""

    shared_parts = ()

    def read_pairs(self, root: str, split: str, lang: str
                   ) -> tuple[Sentences, Sentences, list[tuple[str, str]]]:
        self.check_language(lang)
        path = self.local_path(root, split, lang)
        doc = squad_sentences(path, SkipCounter(False), self.sentence_case == "any")
        pool = [doc.candidate(p, i) for p, (_, spans) in enumerate(doc.paragraphs) for i in range(len(spans))]
        kept = [(qid, q, doc.candidate(p, hit)[0]) for qid, q, p, hit in doc.questions if hit is not None]
        if len(kept) < len(doc.questions):
            log.warning("%s: %d of %d question(s) left out: the answer starts between inferred "
                        "sentences", path, len(doc.questions) - len(kept), len(doc.questions))
        if not kept:
            raise DataError(path, None, f"task {self.name}: no question whose answer is inside a sentence")
        return [(qid, q) for qid, q, _ in kept], pool, [(qid, cid) for qid, _, cid in kept]

    def subset(self, src: list, trg: list, gold: list, limit: int) -> tuple[list, list, list]:
        """The first ``limit`` questions against the sentences of their paragraphs."""
        src, _, gold = super().subset(src, trg, gold, limit)
        paras = {cid.rsplit("_", 1)[0] for _, cid in gold}
        return src, [(cid, t) for cid, t in trg if cid.rsplit("_", 1)[0] in paras], gold


LAREQA = LAReQATask(
    name="lareqa",
    kind="retrieval",
    head="lareqa",
    metric="map@20",
    languages=LANGUAGES["lareqa"],
    local={"train": "squad/train-v1.1.json", "test": "lareqa/xquad-r/{lang}.json"},
    dev_split="test",  # a single evaluation set
    scorer="map@20",
    train_size=87_599,
    selection="squad_r",
    query_max_length=96,  # train_lareqa.sh: MAX_QUERY_LEN, MAX_ANSWER_LEN
    candidate_max_length=256,
    negatives_group=4,  # train_lareqa.sh: PER_GPU_BATCH_SIZE=4 (x GRAD_ACC_STEPS=4)
    target_epochs=3.0,
    target_batch=16,
    target_lr=2e-5,
    target_source="XTREME-R train_lareqa.sh: SQuAD v1.1, 3 epochs, lr 2e-5, batch 4 x 4",
    description="LAReQA: retrieve the answer sentence of a question from a pool in 11 languages.",
)

SQUAD_R = selection_set(
    LAREQA, SquadRetrievalTask, "squad_r",
    {"train": "squad/train-v1.1.json", "validation": "squad/dev-v1.1.json"},
    "SQuAD v1.1 as English answer-sentence retrieval (LAReQA's training data and its English dev set).",
    train_size=87_599)
