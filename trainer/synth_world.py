"""Meanings of the synthetic suite's examples, before they are rendered in any language.

This module owns sampling (clauses, stories) and the operations that make the labels of the
pair tasks: every example is decided here once, in a language-free form, and then rendered in
each language (trainer/synthetic.py), so that the dev/test sets of all languages are
translations of one another, as XNLI, PAWS-X and XQuAD are.

The NLI intermediate task and the paraphrase target share their operations on purpose:
contradictions and neutral hypotheses are built by the same edits as non-paraphrases (negation,
antonyms, role swaps, changed verbs), so that training on NLI first can help.
"""
from __future__ import annotations

import random
from dataclasses import replace

from trainer.synth_lang import (ANTONYMS, CLASS_WORDS, COLOURS, MOODS, NOUNS, NUMBERS, ORG_WORDS,
                                SIZES, VERBS, NP, Clause, Lexicon)

QUESTION_TARGETS = ("agent", "patient", "place", "num")


class World:
    """Samples noun phrases and clauses from one random stream."""

    def __init__(self, lex: Lexicon, rng: random.Random, entity_rate: float = 0.3):
        self.lex, self.rng, self.entity_rate = lex, rng, entity_rate

    def _adjs(self, pool: tuple[str, ...], p: float) -> tuple[str, ...]:
        return (self.rng.choice(pool),) if self.rng.random() < p else ()

    def person(self) -> NP:
        names = self.lex.names
        if self.rng.random() < self.entity_rate:
            parts = (self.rng.choice(names.first),)
            if self.rng.random() < 0.5:
                parts += (self.rng.choice(names.last),)
            return NP("", "person", name=parts)
        return NP(self.rng.choice(NOUNS["person"]), adjs=self._adjs(MOODS, 0.4),
                  definite=self.rng.random() < 0.7)

    def animal(self) -> NP:
        return NP(self.rng.choice(NOUNS["animal"]), adjs=self._adjs(COLOURS + SIZES + MOODS, 0.4),
                  definite=self.rng.random() < 0.7)

    def thing(self) -> NP:
        adjs = self._adjs(SIZES, 0.3) + self._adjs(COLOURS, 0.5)
        num = self.rng.choice(NUMBERS) if self.rng.random() < 0.25 else None
        return NP(self.rng.choice(NOUNS["object"]), adjs=adjs, num=num,
                  definite=self.rng.random() < 0.6)

    def org(self) -> NP:
        return NP("", "org", name=(self.rng.choice(self.lex.names.orgs),),
                  org_word=self.rng.choice(ORG_WORDS))

    def place(self) -> NP:
        if self.rng.random() < self.entity_rate * 1.5:
            return NP("", "place", name=self.rng.choice(self.lex.names.places))
        return NP(self.rng.choice(NOUNS["place"]), adjs=self._adjs(SIZES, 0.3))

    def agent(self) -> NP:
        r = self.rng.random()
        np = self.animal() if r < 0.2 else self.org() if r < 0.2 + self.entity_rate / 3 else self.person()
        if np.kind == "noun" and self.rng.random() < 0.1:
            np = replace(np, mod=NP(self.rng.choice(NOUNS["object"]), adjs=self._adjs(COLOURS, 0.6)))
        return np

    def patient(self) -> NP:
        r = self.rng.random()
        return self.thing() if r < 0.6 else self.animal() if r < 0.8 else self.person()

    def alt(self, c: Clause) -> frozenset[str]:
        """A random choice of synonyms: both forms of a word occur everywhere."""
        return frozenset(x for x in c.concepts() if self.lex.has_synonym(x) and self.rng.random() < 0.5)

    def clause(self, place_rate: float = 0.5, neg_rate: float = 0.15,
               passive_rate: float = 0.2) -> Clause:
        c = Clause(self.agent(), self.rng.choice(VERBS), self.patient(),
                   place=self.place() if self.rng.random() < place_rate else None,
                   neg=self.rng.random() < neg_rate, passive=self.rng.random() < passive_rate)
        return replace(c, alt=self.alt(c))

    def story(self, n: int) -> list[Clause]:
        """``n`` affirmative clauses with distinct verbs, agents and patients, so that a question
        naming a verb and one participant has exactly one answer."""
        out: list[Clause] = []
        while len(out) < n:
            c = replace(self.clause(place_rate=0.6, passive_rate=0.2), neg=False)
            keys = {(x.verb, _key(x.agent), _key(x.patient)) for x in out}
            if any(c.verb == v or _key(c.agent) in (a, p) or _key(c.patient) in (a, p)
                   for v, a, p in keys):
                continue
            out.append(c)
        return out

    def question_target(self, c: Clause) -> str:
        options = ["agent", "patient"] + (["place"] if c.place else [])
        options += ["num"] * 2 if c.patient.num is not None else []
        return self.rng.choice(options)


def _key(np: NP) -> str:
    return np.head or " ".join(np.name)


# ---------------------------------------------------------------- edits shared by NLI and PAWS


def swap_roles(c: Clause) -> Clause:
    return replace(c, agent=c.patient, patient=c.agent)


def other(rng: random.Random, pool: tuple, current) -> object:
    return rng.choice([x for x in pool if x != current])


def _edit_np(c: Clause, role: str, np: NP) -> Clause:
    return replace(c, **{role: np})


def contradict(rng: random.Random, c: Clause) -> Clause:
    """An edit that makes the clause false: negation, an antonym, another colour or count."""
    options = ["neg"]
    for role in ("agent", "patient"):
        np = getattr(c, role)
        if any(a in ANTONYMS or a in COLOURS for a in np.adjs):
            options.append(f"adj:{role}")
        if np.num is not None:
            options.append(f"num:{role}")
    pick = rng.choice(options)
    if pick == "neg":
        return replace(c, neg=not c.neg)
    kind, role = pick.split(":")
    np = getattr(c, role)
    if kind == "num":
        return _edit_np(c, role, replace(np, num=other(rng, NUMBERS, np.num)))
    adjs = tuple(ANTONYMS.get(a) or (other(rng, COLOURS, a) if a in COLOURS else a) for a in np.adjs)
    return _edit_np(c, role, replace(np, adjs=adjs))


def unrelate(rng: random.Random, world: World, c: Clause) -> Clause:
    """An edit whose truth the clause leaves open: another verb, swapped roles, an added place
    or adjective."""
    options = ["verb", "swap", "swap"] + (["place"] if c.place is None else [])
    options += ["adj"] if c.patient.kind == "noun" and not c.patient.adjs else []
    pick = rng.choice(options)
    if pick == "swap" and c.agent != c.patient:
        return swap_roles(c)
    if pick in ("swap", "verb"):
        return replace(c, verb=other(rng, VERBS, c.verb))
    if pick == "place":
        return replace(c, place=world.place())
    pool = MOODS if c.patient.head in NOUNS["person"] + NOUNS["animal"] else COLOURS
    return replace(c, patient=replace(c.patient, adjs=(rng.choice(pool),)))


def weaken(rng: random.Random, c: Clause) -> Clause:
    """A truth-preserving reduction: drop the place, an adjective or the companion, or name
    a common noun by its class."""
    options = (["place"] if c.place else []) + [
        f"{k}:{r}" for r in ("agent", "patient") for k in ("adj", "cls", "mod")
        if (k == "adj" and getattr(c, r).adjs) or (k == "mod" and getattr(c, r).mod)
        or (k == "cls" and getattr(c, r).head in _CLASS_OF)]
    if not options:
        return c
    pick = rng.choice(options)
    if pick == "place":
        return replace(c, place=None)
    kind, role = pick.split(":")
    np = getattr(c, role)
    if kind == "adj":
        return _edit_np(c, role, replace(np, adjs=np.adjs[1:]))
    if kind == "mod":
        return _edit_np(c, role, replace(np, mod=None))
    return _edit_np(c, role, replace(np, head=_CLASS_OF[np.head], adjs=()))


_CLASS_OF = {n: CLASS_WORDS[cls] for cls, ns in NOUNS.items() for n in ns}


def restyle(world: World, c: Clause, p_voice: float = 0.5) -> Clause:
    """Meaning-preserving surface changes: voice and a fresh choice of synonyms."""
    c = replace(c, passive=not c.passive) if world.rng.random() < p_voice else c
    return replace(c, alt=world.alt(c))


NLI_LABELS = ("entailment", "neutral", "contradiction")


def nli_example(world: World, label: str) -> tuple[list[Clause], Clause]:
    """(premise clauses, hypothesis) for ``label``; any label may also drop details, so that
    the hypothesis' length gives the label away less."""
    rng = world.rng
    premise = [world.clause() for _ in range(2 if rng.random() < 0.25 else 1)]
    h = rng.choice(premise)
    if label == "contradiction":
        h = contradict(rng, h)
    elif label == "neutral":
        h = unrelate(rng, world, h)
    for _ in range(rng.choice((0, 1, 1, 2)) if label == "entailment" else rng.choice((0, 0, 1))):
        h = weaken(rng, h)
    return premise, restyle(world, h, p_voice=0.3)


def paws_example(world: World, positive: bool) -> tuple[Clause, Clause]:
    """(sentence 1, sentence 2): a paraphrase (voice, synonyms) or a close non-paraphrase
    (mostly swapped roles, as in PAWS, or a contradicting edit)."""
    rng = world.rng
    a = world.clause(neg_rate=0.1)
    if positive:
        b = restyle(world, a)
        if b.passive == a.passive and b.alt == a.alt:
            b = replace(b, passive=not b.passive)
        return a, b
    r = rng.random()
    b = swap_roles(a) if r < 0.45 else contradict(rng, a) if r < 0.8 else unrelate(rng, world, a)
    if b == a:  # unrelate's swap of two identical phrases changes nothing
        b = replace(a, neg=not a.neg)
    return a, restyle(world, b)
