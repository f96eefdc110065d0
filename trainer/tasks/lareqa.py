"""LAReQA (Roy et al. 2020): language-agnostic answer retrieval, an XTREME-R target.

Questions of XQuAD-R in 11 languages are matched against one pool of answer-sentence
candidates drawn from all 11 languages; the relevant candidates of a question are the
sentences holding its answer in every language (its translations share the question id). The
score is mAP@20 (eval.retrieval_metrics.average_precision_at_k), reported per question
language over the full pool; the mean over languages is the official all-question mAP@20 since
every language has the same questions. No training here: the embeddings come from the encoder
(``model.retrieval_layer``). The candidate is embedded from its sentence alone (the official
dual encoder also reads the paragraph).

Local layout, as released: ``lareqa/xquad-r/{lang}.json``: SQuAD-format files whose paragraphs
carry ``sentence_breaks`` ([start, end) character offsets). Candidate ids are
``{lang}_{paragraph number}_{sentence number}``, question ids ``{question id}_{lang}``, as in
XTREME's LAReQA utilities. One evaluation set: dev and test are the same. Hub: none (the
XQuAD-R files are read locally).
"""
from __future__ import annotations

import functools
import logging
import os

from eval.xtreme import LANGUAGES
from trainer.tasks import squad_format
from trainer.tasks.base import DataError, RetrievalTask

log = logging.getLogger("xstilts.tasks")

Sentences = list[tuple[str, str]]


def read_xquad_r(path: str, lang: str) -> tuple[Sentences, Sentences, dict[str, set[str]]]:
    """(questions as (xling id, text), candidates as (id, sentence), xling id -> answer
    candidate ids) of one XQuAD-R file."""
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
            if not isinstance(context, str) or not isinstance(breaks, list):
                raise DataError(path, None, f"paragraph {n_para} lacks 'context' or 'sentence_breaks'")
            if not all(isinstance(b, list) and len(b) == 2 and all(isinstance(x, int) for x in b)
                       and 0 <= b[0] <= b[1] <= len(context) for b in breaks):
                raise DataError(path, None, f"paragraph {n_para}: 'sentence_breaks' must be [start, end] "
                                            f"character offsets within its context")
            ids = [f"{lang}_{n_para}_{i}" for i in range(len(breaks))]
            candidates += [(cid, context[a:b]) for cid, (a, b) in zip(ids, breaks)]
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
def read_pool(root: str, pattern: str, languages: tuple[str, ...]) -> tuple:
    """Every language's questions, the shared candidate pool and the relevant candidates per
    xling id (read once for all languages)."""
    questions, pool, relevant = {}, [], {}
    for lang in languages:
        path = os.path.join(root, pattern.format(lang=lang))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"task lareqa: the candidate pool needs every language; "
                                    f"{path} not found")
        questions[lang], cands, answers = read_xquad_r(path, lang)
        pool += cands
        for xid, ids in answers.items():
            relevant.setdefault(xid, set()).update(ids)
    return questions, pool, relevant


class LAReQATask(RetrievalTask):
    # The candidate pool is the same for every language: the evaluator embeds it once
    # (trainer/evaluation/predict.py reads this).
    shared_parts = ("trg",)

    def read_pairs(self, root: str, split: str, lang: str
                   ) -> tuple[Sentences, Sentences, list[tuple[str, str]]]:
        self.check_language(lang)
        if split not in self.local:
            raise FileNotFoundError(f"task {self.name} has no local file layout for split {split!r}")
        questions, pool, relevant = read_pool(os.path.abspath(root), self.local[split], self.languages)
        src = [(f"{xid}_{lang}", q) for xid, q in questions[lang]]
        gold = [(qid, cid) for (qid, _), (xid, _) in zip(src, questions[lang])
                for cid in sorted(relevant[xid])]
        return src, list(pool), gold


LAREQA = LAReQATask(
    name="lareqa",
    kind="retrieval",
    head="retrieval",
    metric="map@20",
    languages=LANGUAGES["lareqa"],
    local={"test": "lareqa/xquad-r/{lang}.json"},
    dev_split="test",  # a single evaluation set
    scorer="map@20",
    description="LAReQA: retrieve the answer sentence of a question from a pool in 11 languages.",
)
