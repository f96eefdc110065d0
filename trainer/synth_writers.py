"""Writers of the synthetic suite's files, one per task family (the layout is documented in
trainer/synthetic.py, which calls them).

Each writer draws its meanings from its own seeded stream per (task, split), so a file depends
only on the seed, the lexicon and its own size; target dev/test meanings are drawn once and
rendered in every language. Every writer returns the paths it wrote.
"""
from __future__ import annotations

import json
import os
import random
from dataclasses import replace

from trainer import synth_world as sw
from trainer.synth_grammar import (Tok, answer_span, clause_parts, detokenize, render_np,
                                   render_question, render_sentence)
from trainer.synth_lang import LANGUAGES, NUMBERS, Clause, Lexicon

ISO3 = {"en": "eng", "de": "deu", "fr": "fra", "sw": "swh"}  # Tatoeba file names


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


def paragraph(lex: Lexicon, world: sw.World, lang: str) -> str:
    """3-6 sentences: mostly statements, some questions (QA and MC need question words)."""
    out = []
    for _ in range(world.rng.randint(3, 6)):
        if world.rng.random() < 0.2:
            c = replace(world.clause(), neg=False)
            out.append(detokenize(render_question(lex, lang, c, world.question_target(c)))[0])
        else:
            n = world.rng.choice((1, 1, 1, 2))
            out.append(text(lex, lang, [world.clause() for _ in range(n)]))
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
            world = sw.World(lex, rng_for(seed, task, split))
            rows = []
            for i in range(n):
                label = labels[i % len(labels)]
                if task == "nli":
                    premise, hyp = sw.nli_example(world, label)
                else:
                    one, hyp = sw.paws_example(world, label == "1")
                    premise = [one]
                rows.append((premise, [hyp], label))
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
    for task, split, n, langs in (("qa", "train", sizes["train"], ("en",)),
                                  ("qa", "dev", sizes["dev"], ("en",)),
                                  ("xquad", "dev", sizes["dev"], LANGUAGES),
                                  ("xquad", "test", sizes["test"], LANGUAGES)):
        items = stories(sw.World(lex, rng_for(seed, task, split)), n)
        for lang in langs:
            paths.append(os.path.join(base, task, f"{split}-{lang}.json"))
            doc = squad_doc(lex, lang, items, f"{task}-{split}")
            write_lines(paths[-1], [json.dumps(doc, ensure_ascii=False)])
    return paths


def _phrase(lex: Lexicon, np_toks: list[Tok]) -> str:
    a, b = answer_span(np_toks)
    return detokenize(np_toks[a:b])[0]


def choices_for(lex: Lexicon, world: sw.World, story: list[Clause], q: Question) -> tuple[list[str], int]:
    """The answer and three distractors of its type, story participants first."""
    i, target = q
    draw = {"agent": world.agent, "patient": world.patient, "place": world.place}
    if target == "num":
        right = str(story[i].patient.num)
        pool = [str(n) for n in world.rng.sample(NUMBERS, len(NUMBERS))]
    else:
        right = _phrase(lex, render_np(lex, "en", getattr(story[i], target), story[i].alt))
        roles = ("place",) if target == "place" else ("agent", "patient")
        pool = [_phrase(lex, render_np(lex, "en", getattr(c, r), c.alt))
                for c in story for r in roles if getattr(c, r) is not None]
        world.rng.shuffle(pool)
        pool += [_phrase(lex, render_np(lex, "en", draw[target](), frozenset())) for _ in range(20)]
    wrong = list(dict.fromkeys(p for p in pool if p != right))[:3]
    label = world.rng.randrange(4)
    return wrong[:label] + [right] + wrong[label:], label


def write_mc(lex: Lexicon, base: str, seed: int, sizes: dict) -> list[str]:
    """English 4-way multiple choice over stories, rows in CosmosQA's JSONL fields."""
    paths = []
    for split, n in (("train", sizes["train"]), ("dev", sizes["dev"])):
        world = sw.World(lex, rng_for(seed, "mc", split))
        rows = []
        for s, (story, questions) in enumerate(stories(world, n)):
            context = detokenize(render_story(lex, "en", story)[0])[0]
            for k, q in enumerate(questions):
                choices, label = choices_for(lex, world, story, q)
                row = {"id": f"mc-{split}-{s}-{k}", "context": context,
                       "question": detokenize(render_question(lex, "en", story[q[0]], q[1]))[0]}
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


WRITERS = (write_mlm, write_pairs, write_qa, write_mc, write_tagging, write_retrieval)
