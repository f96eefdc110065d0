"""Writers of the synthetic suite's files, one per task family (the layout is documented in
trainer/synth/suite.py, which calls them).

Each writer draws its meanings from its own seeded stream per (task, split), so a file depends
only on the seed, the lexicon and its own size; target dev/test meanings are drawn once and
rendered in every language. Every writer returns the paths it wrote.
"""
from __future__ import annotations

import json
import os
import random
from dataclasses import replace

from trainer.synth import world as sw
from trainer.synth.grammar import Tok, answer_span, clause_parts, detokenize, render_question, render_sentence
from trainer.synth.lang import CONTENT, LANGUAGES, Clause, Lexicon

# Tatoeba's 3-letter file names (as in trainer/tasks/formats.ISO3, which the readers use; the
# generator keeps its own copy so that it imports nothing of the task registry)
ISO3 = {"en": "eng", "de": "deu", "fr": "fra", "sw": "swh"}


def rng_for(seed: int, *parts: str) -> random.Random:
    # a string seed is hashed (SHA-512): the same stream in every process, and one stream per
    # file, so that changing one size leaves the other files as they were
    return random.Random("-".join([str(seed), *parts]))


def text(lex: Lexicon, lang: str, clauses: list[Clause]) -> str:
    return detokenize(render_sentence(lex, lang, clauses))[0]


def write_lines(path: str, lines: list[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(line + "\n" for line in lines)
    os.replace(tmp, path)  # a reader never sees half a file


def splits(sizes: dict, langs: tuple[str, ...]) -> list[tuple[str, int, tuple[str, ...]]]:
    """(split, size, languages): English training data; dev (and, for the multilingual
    targets, test) in every language."""
    out = [("train", sizes["train"], ("en",)), ("dev", sizes["dev"], langs)]
    return out + ([("test", sizes["test"], langs)] if len(langs) > 1 else [])


# ---------------------------------------------------------------- MLM corpus


CODE_SWITCH = 0.1  # share of content words of the MLM corpus borrowed from another language


def code_switch(lex: Lexicon, lang: str, toks: list[Tok], rng: random.Random) -> list[Tok]:
    """Swap some content words for their form in another language, as multilingual web text
    mixes languages: a word and its translation then share contexts, which is the signal an
    MLM needs to align the languages' embeddings."""
    out = []
    for t in toks:
        concept = lex.concept_of(lang, t.text)
        if concept in CONTENT and rng.random() < CODE_SWITCH:
            other = rng.choice([x for x in LANGUAGES if x != lang])
            t = replace(t, text=lex.word(other, concept, rng.random() < 0.5))
        out.append(t)
    return out


def paragraph(lex: Lexicon, world: sw.World, lang: str) -> str:
    """3-6 sentences about a recurring cast: mostly statements, some questions (QA and MC
    need question words), a few words code-switched."""
    rng, out = world.rng, []
    for c in world.running(rng.randint(3, 6)):
        if rng.random() < 0.2:
            toks = render_question(lex, lang, replace(c, neg=False), world.question_target(c))
        elif rng.random() < 0.2:
            toks = render_sentence(lex, lang, [c, world.clause()])
        else:
            toks = render_sentence(lex, lang, [c])
        out.append(detokenize(code_switch(lex, lang, toks, rng))[0])
    return " ".join(out)


def write_mlm(lex: Lexicon, base: str, seed: int, sizes: dict) -> list[str]:
    per_lang: dict[str, list[str]] = {}
    for lang in LANGUAGES:
        world = sw.World(lex, rng_for(seed, "mlm", lang))
        per_lang[lang] = [paragraph(lex, world, lang) for _ in range(sizes["mlm"])]
    # languages interleaved line by line: any prefix of the file is multilingual
    paths = [os.path.join(base, "mlm", "train.txt")]
    write_lines(paths[0], [per_lang[lang][i] for i in range(sizes["mlm"]) for lang in LANGUAGES])
    for lang in LANGUAGES:
        world = sw.World(lex, rng_for(seed, "mlm-dev", lang))
        paths.append(os.path.join(base, "mlm", f"dev-{lang}.txt"))
        write_lines(paths[-1], [paragraph(lex, world, lang) for _ in range(sizes["dev"])])
    return paths


# ---------------------------------------------------------------- sentence pairs


def write_pairs(lex: Lexicon, base: str, seed: int, sizes: dict) -> list[str]:
    """NLI (English, 3-way) and PAWS-X-like paraphrase pairs (every language). Labels are
    exactly balanced: cycled, then shuffled."""
    paths = []
    for task, labels, langs in (("nli", sw.NLI_LABELS, ("en",)), ("pawsx", ("0", "1"), LANGUAGES)):
        for split, n, split_langs in splits(sizes, langs):
            if task == "nli" and split == "train":  # English, and its exact translations (synth_nli@de)
                split_langs = LANGUAGES
            world = sw.World(lex, rng_for(seed, task, split))
            rows = []
            for i in range(n):
                label = labels[i % len(labels)]
                if task == "nli":
                    premise, hyp = sw.nli_example(world, label)
                    hyp = [hyp]
                else:
                    premise, hyp = sw.paws_example(world, label == "1")
                rows.append((premise, hyp, label))
            world.rng.shuffle(rows)
            for lang in split_langs:
                paths.append(os.path.join(base, task, f"{split}-{lang}.tsv"))
                write_lines(paths[-1], [f"{text(lex, lang, a)}\t{text(lex, lang, b)}\t{y}"
                                        for a, b, y in rows])
    return paths


# ---------------------------------------------------------------- stories: QA and MC


Question = tuple[int, str]  # (index of the clause asked about, target)


def stories(world: sw.World, n: int) -> list[tuple[list[Clause], list[Question]]]:
    """Stories of 3-4 clauses with 1-3 questions each, ``n`` questions in all."""
    out, total = [], 0
    while total < n:
        story = world.story(world.rng.randint(3, 4))
        k = min(world.rng.randint(1, 3), n - total)
        asked = world.rng.sample(range(len(story)), k)
        out.append((story, [(i, world.question_target(story[i])) for i in asked]))
        total += k
    return out


def render_story(lex: Lexicon, lang: str, story: list[Clause]
                 ) -> tuple[list[Tok], dict[tuple[int, str], tuple[int, int]]]:
    """Tokens of the story, and the token range of every (clause, role) phrase."""
    toks: list[Tok] = []
    where: dict[tuple[int, str], tuple[int, int]] = {}
    for i, c in enumerate(story):
        for role, part in clause_parts(lex, lang, c):
            if role:
                where[(i, role)] = (len(toks), len(toks) + len(part))
            toks += part
        toks.append(Tok(".", "PUNCT"))
    return toks, where


def answer_range(toks: list[Tok], where: dict, q: Question) -> tuple[int, int]:
    i, target = q
    if target == "num":  # the count is the first token of the patient phrase
        start = where[(i, "patient")][0]
        return start, start + 1
    start, end = where[(i, target)]
    a, b = answer_span(toks[start:end])
    return start + a, start + b


def squad_doc(lex: Lexicon, lang: str, items: list, prefix: str) -> dict:
    """A SQuAD v1.1-format document; the answer's start is computed from token offsets."""
    data = []
    for s, (story, questions) in enumerate(items):
        toks, where = render_story(lex, lang, story)
        context, starts = detokenize(toks)
        qas = []
        for k, q in enumerate(questions):
            a, b = answer_range(toks, where, q)
            start, end = starts[a], starts[b - 1] + len(toks[b - 1].text)
            qtext = detokenize(render_question(lex, lang, story[q[0]], q[1]))[0]
            qas.append({"id": f"{prefix}-{s}-{k}", "question": qtext,
                        "answers": [{"text": context[start:end], "answer_start": start}]})
        data.append({"title": f"{prefix}-{s}", "paragraphs": [{"context": context, "qas": qas}]})
    return {"version": "1.1", "data": data}


def write_qa(lex: Lexicon, base: str, seed: int, sizes: dict) -> list[str]:
    """English QA (intermediate; also the QA target's training set) and its dev set; the
    target's dev/test sets in every language under xquad/."""
    paths = []
    for task, split, n, langs in (("qa", "train", sizes["train"], LANGUAGES),  # + translations (synth_qa@de)
                                  ("qa", "dev", sizes["dev"], ("en",)),
                                  ("xquad", "dev", sizes["dev"], LANGUAGES),
                                  ("xquad", "test", sizes["test"], LANGUAGES)):
        items = stories(sw.World(lex, rng_for(seed, task, split)), n)
        for lang in langs:
            paths.append(os.path.join(base, task, f"{split}-{lang}.json"))
            doc = squad_doc(lex, lang, items, f"{task}-{split}")
            write_lines(paths[-1], [json.dumps(doc, ensure_ascii=False)])
    return paths


def corrupt(rng: random.Random, lex: Lexicon, toks: list[Tok], kind: int) -> list[Tok]:
    """An ill-formed variant of a sentence (the full stop stays): 0 shuffles all its words,
    1 moves one word elsewhere, 2 puts a function word in place of a word. The kinds go from
    blatant to subtle, so that a model picks up the easy cases first."""
    body = list(toks[:-1])
    if kind == 0:
        rng.shuffle(body)
    elif kind == 1 and len(body) > 2:
        body.insert(rng.randrange(len(body)), body.pop(rng.randrange(len(body))))
    else:
        body[rng.randrange(len(body))] = Tok(lex.word("en", rng.choice(MC_FILLERS)), "X")
    return body + toks[-1:]


MC_FILLERS = ("the", "a", "not", "and", "in", "with", "by", "is")
MC_KINDS = (0, 0, 1)  # two blatant distractors and a subtle one per item


def mc_item(lex: Lexicon, world: sw.World) -> tuple[str, list[str], int]:
    """(context, four endings, index of the right one), SWAG-style: two sentences of running
    text, then the next sentence and three ill-formed variants of it. Telling them apart takes
    the word-order knowledge an MLM warm-up gives, and no answer occurs in the context."""
    clauses = world.running(3)
    context = " ".join(text(lex, "en", [c]) for c in clauses[:2])
    toks = render_sentence(lex, "en", clauses[2:])
    right = detokenize(toks)[0]
    wrong: list[str] = []
    for attempt in range(1000):  # a short sentence has few distinct corruptions of one kind
        kind = MC_KINDS[len(wrong)] if attempt < 50 else 2
        cand = detokenize(corrupt(world.rng, lex, toks, kind))[0]
        if cand != right and cand not in wrong:
            wrong.append(cand)
        if len(wrong) == 3:
            break
    world.rng.shuffle(wrong)
    label = world.rng.randrange(4)
    return context, wrong[:label] + [right] + wrong[label:], label


def write_mc(lex: Lexicon, base: str, seed: int, sizes: dict) -> list[str]:
    """English 4-way multiple choice (pick the well-formed continuation), rows in CosmosQA's
    JSONL fields with an empty question, as HellaSwag has none."""
    paths = []
    for split, n in (("train", sizes["train"]), ("dev", sizes["dev"])):
        world = sw.World(lex, rng_for(seed, "mc", split))
        rows = []
        for i in range(n):
            context, choices, label = mc_item(lex, world)
            row = {"id": f"mc-{split}-{i}", "context": context, "question": ""}
            row.update({f"answer{j}": c for j, c in enumerate(choices)})
            rows.append(json.dumps({**row, "label": label}, ensure_ascii=False))
        paths.append(os.path.join(base, "mc", f"{split}-en.jsonl"))
        write_lines(paths[-1], rows)
    return paths


# ---------------------------------------------------------------- tagging


TAGGING = {"pos": ("pos", LANGUAGES, 0.3), "ner": ("ner", LANGUAGES, 0.7), "ccg": ("ccg", ("en",), 0.3)}


def write_tagging(lex: Lexicon, base: str, seed: int, sizes: dict) -> list[str]:
    """token\\ttag files: POS-like and NER-like targets, the English CCG-like intermediate.
    The NER sentences are drawn with more names in them."""
    paths = []
    for task, (field, langs, entity_rate) in TAGGING.items():
        for split, n, split_langs in splits(sizes, langs):
            world = sw.World(lex, rng_for(seed, task, split), entity_rate=entity_rate)
            meanings = [[world.clause() for _ in range(world.rng.choice((1, 1, 2)))] for _ in range(n)]
            for lang in split_langs:
                lines: list[str] = []
                for clauses in meanings:
                    toks = render_sentence(lex, lang, clauses)
                    lines += [f"{t.text}\t{getattr(t, field)}" for t in toks] + [""]
                paths.append(os.path.join(base, task, f"{split}-{lang}.tsv"))
                write_lines(paths[-1], lines)
    return paths


# ---------------------------------------------------------------- retrieval


def write_retrieval(lex: Lexicon, base: str, seed: int, sizes: dict) -> list[str]:
    """Tatoeba-style line-aligned translations, X-English for every X but English; the
    meanings of one language pair are distinct, so each sentence has one right match."""
    paths = []
    for lang in LANGUAGES[1:]:
        world = sw.World(lex, rng_for(seed, "tatoeba", lang))
        seen: dict[Clause, Clause] = {}  # keyed by the meaning without its synonym choice
        while len(seen) < sizes["retrieval"]:
            c = world.clause()
            seen.setdefault(replace(c, alt=frozenset()), c)
        stem = os.path.join(base, "tatoeba", f"tatoeba.{ISO3[lang]}-eng")
        write_lines(f"{stem}.{ISO3[lang]}", [text(lex, lang, [c]) for c in seen.values()])
        write_lines(f"{stem}.eng", [text(lex, "en", [c]) for c in seen.values()])
        paths += [f"{stem}.{ISO3[lang]}", f"{stem}.eng"]
    return paths


def write_lexicon(lex: Lexicon, base: str, seed: int, sizes: dict) -> list[str]:
    """The bilingual dictionary of the suite: concept\tlanguage\tform per line (names, shared
    by all languages, under language "*"). Tests check translations with it, and the
    tokenizer corpus appends it so that every word is covered whatever the corpus size."""
    rows = [f"{c}\t{lang}\t{f}" for lang in LANGUAGES for c, forms in lex.forms[lang].items()
            for f in forms]
    names = lex.names
    for kind, items in (("first", names.first), ("last", names.last), ("org", names.orgs),
                        ("place", [p for place in names.places for p in place])):
        rows += [f"name:{kind}\t*\t{n}" for n in items]
    path = os.path.join(base, "lexicon.tsv")
    write_lines(path, rows)
    return [path]


WRITERS = (write_lexicon, write_mlm, write_pairs, write_qa, write_mc, write_tagging, write_retrieval)
