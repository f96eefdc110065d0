"""Meanings of the synthetic suite's examples, before they are rendered in any language.

This module owns sampling (clauses, stories) and the operations that make the labels of the
pair tasks: every example is decided here once, in a language-free form, and then rendered in
each language (trainer/synth/suite.py), so that the dev/test sets of all languages are
translations of one another, as XNLI, PAWS-X and XQuAD are.

The NLI intermediate task and the paraphrase target share their operations on purpose:
contradictions and neutral hypotheses are built by the same edits as non-paraphrases (negation,
antonyms, role swaps, changed verbs or things), so that training on NLI first can help.
Sampling follows a little world knowledge held by the lexicon (what a verb is usually done to,
the usual colour of a thing), which gives the MLM corpus co-occurrences to learn.
"""
from __future__ import annotations

import random
from dataclasses import replace

from trainer.synth.lang import (ANTONYMS, CLASS_WORDS, COLOURS, MOODS, NOUNS, NP, NUMBERS, ORG_WORDS, SIZES,
                                VERBS, Clause, Lexicon)


class World:
    """Samples noun phrases and clauses from one random stream."""

    def __init__(self, lex: Lexicon, rng: random.Random, entity_rate: float = 0.3):
        self.lex, self.rng, self.entity_rate = lex, rng, entity_rate

    def _adjs(self, pool: tuple[str, ...], p: float, usual: str = "") -> tuple[str, ...]:
        """One adjective with probability ``p``; mostly the usual one where there is one."""
        if self.rng.random() >= p:
            return ()
        return (usual,) if usual and self.rng.random() < 0.7 else (self.rng.choice(pool),)

    def _definite(self) -> bool:
        return self.rng.random() < 0.7

    def person(self) -> NP:
        names = self.lex.names
        if self.rng.random() < self.entity_rate:
            parts = (self.rng.choice(names.first),)
            if self.rng.random() < 0.5:
                parts += (self.rng.choice(names.last),)
            return NP("", "person", name=parts)
        head = self.rng.choice(NOUNS["person"])
        return NP(head, adjs=self._adjs(MOODS, 0.4, self.lex.mood_of[head]), definite=self._definite())

    def animal(self, head: str = "") -> NP:
        head = head or self.rng.choice(NOUNS["animal"])
        adjs = self._adjs(SIZES + MOODS, 0.2) or self._adjs(COLOURS, 0.3, self.lex.colour_of[head])
        return NP(head, adjs=adjs, definite=self._definite())

    def thing(self, head: str = "") -> NP:
        head = head or self.rng.choice(NOUNS["object"])
        adjs = self._adjs(SIZES, 0.3) + self._adjs(COLOURS, 0.5, self.lex.colour_of[head])
        num = self.rng.choice(NUMBERS) if self.rng.random() < 0.25 else None
        return NP(head, adjs=adjs, num=num, definite=self.rng.random() < 0.6)

    def org(self) -> NP:
        return NP("", "org", name=(self.rng.choice(self.lex.names.orgs),),
                  org_word=self.rng.choice(ORG_WORDS))

    def place(self, verb: str = "") -> NP:
        if self.rng.random() < self.entity_rate * 1.5:
            return NP("", "place", name=self.rng.choice(self.lex.names.places))
        usual = verb and self.rng.random() < 0.6
        head = self.lex.place_of[verb] if usual else self.rng.choice(NOUNS["place"])
        return NP(head, adjs=self._adjs(SIZES, 0.3))

    def agent(self) -> NP:
        r = self.rng.random()
        np = self.animal() if r < 0.2 else self.org() if r < 0.2 + self.entity_rate / 3 else self.person()
        if np.kind == "noun" and self.rng.random() < 0.1:
            np = replace(np, mod=self.thing())
        return np

    def patient(self, verb: str = "") -> NP:
        """Mostly one of the things the verb is usually done to."""
        if verb and self.rng.random() < 0.7:
            head = self.rng.choice(self.lex.patients_of[verb])
            return self.animal(head) if head in NOUNS["animal"] else self.thing(head)
        r = self.rng.random()
        return self.thing() if r < 0.6 else self.animal() if r < 0.8 else self.person()

    def alt(self, c: Clause) -> frozenset[str]:
        """A random choice of synonyms: both forms of a word occur everywhere."""
        return frozenset(x for x in c.concepts() if self.lex.has_synonym(x) and self.rng.random() < 0.5)

    def clause(self, place_rate: float = 0.5, neg_rate: float = 0.15,
               passive_rate: float = 0.2) -> Clause:
        verb = self.rng.choice(VERBS)
        c = Clause(self.agent(), verb, self.patient(verb),
                   place=self.place(verb) if self.rng.random() < place_rate else None,
                   neg=self.rng.random() < neg_rate, passive=self.rng.random() < passive_rate)
        return replace(c, alt=self.alt(c))

    def running(self, n: int) -> list[Clause]:
        """``n`` clauses about a small recurring cast, as in running text: re-mentions are what
        teaches an encoder to look back at earlier words (QA and pair tasks need that)."""
        agents, patients, place = [self.agent(), self.agent()], [self.patient(), self.patient()], self.place()
        out = []
        for _ in range(n):
            c = self.clause()
            if self.rng.random() < 0.7:
                c = replace(c, agent=self.rng.choice(agents))
            if self.rng.random() < 0.7:
                c = replace(c, patient=self.rng.choice(patients))
            if c.place is not None and self.rng.random() < 0.5:
                c = replace(c, place=place)
            out.append(replace(c, alt=self.alt(c)))
        return out

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
    """An edit whose truth the clause leaves open: another verb or thing, swapped roles, an
    added place or adjective, or another statement about the same agent altogether."""
    options = ["verb", "noun", "swap", "other"] + (["place"] if c.place is None else [])
    options += ["adj"] if c.patient.kind == "noun" and not c.patient.adjs else []
    pick = rng.choice(options)
    if pick == "swap" and c.agent != c.patient:
        return swap_roles(c)
    if pick == "noun" and c.patient.head in _CLASS_OF:
        cls = next(k for k, ns in NOUNS.items() if c.patient.head in ns)
        return replace(c, patient=replace(c.patient, head=other(rng, NOUNS[cls], c.patient.head)))
    if pick == "other":
        return replace(world.clause(neg_rate=0.0), agent=c.agent, neg=c.neg)
    if pick == "place":
        return replace(c, place=world.place())
    if pick == "adj":
        pool = MOODS if c.patient.head in NOUNS["person"] + NOUNS["animal"] else COLOURS
        return replace(c, patient=replace(c.patient, adjs=(rng.choice(pool),)))
    return replace(c, verb=other(rng, VERBS, c.verb))


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


def paws_example(world: World, positive: bool) -> tuple[list[Clause], list[Clause]]:
    """(sentence 1, sentence 2) as clause lists. A paraphrase changes synonyms, the voice or
    the order of two joined clauses. A non-paraphrase is graded: another statement about the
    same agent (easy: many words differ), swapped roles as in PAWS (hard: the same words), or
    one edit (a negation, antonym, colour, count, verb or thing). Voice changes are equally
    frequent in both classes, so that they give no label away."""
    rng = world.rng
    a = [world.clause(neg_rate=0.1) for _ in range(2 if rng.random() < 0.3 else 1)]
    b = list(a)
    if not positive:
        i = rng.randrange(len(b))
        r = rng.random()
        if r < 0.4:
            b[i] = replace(world.clause(neg_rate=0.1), agent=b[i].agent)
        elif r < 0.55:
            b[i] = swap_roles(b[i])
        else:
            b[i] = contradict(rng, b[i]) if rng.random() < 0.5 else unrelate(rng, world, b[i])
        if b[i] == a[i]:  # a swap of two identical phrases changes nothing
            b[i] = replace(b[i], neg=not b[i].neg)
    elif len(b) == 2 and rng.random() < 0.5:
        b.reverse()
    return a, [restyle(world, c, p_voice=0.35) for c in b]
