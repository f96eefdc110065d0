"""The synthetic language family behind the demo suite (trainer/synth/suite.py writes the files).

This module owns the concept inventory, the lexicons of the four languages and the meaning
types (``NP``, ``Clause``) that the generator samples before rendering them in a language.

The languages carry the ISO codes en, de, fr and sw so that task tables, file names and the
Tatoeba 3-letter mapping treat them like real languages; they are synthetic stand-ins that only
borrow the codes. Each maps the shared concepts to its own pseudo-words, built from its own
syllable inventory, so that no word is shared by accident. What the languages do share is what
real related languages share and what makes zero-shot transfer possible at all: digits, proper
names (persons, places, organisations), punctuation, and cognates: a part of the vocabulary
spelled as in English, large for "de", smaller for "fr", small for "sw" (SHARED_WITH_EN).
Their grammars differ (synth_grammar.py): word order, adjective and determiner placement,
negation and question formation.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

LANGUAGES = ("en", "de", "fr", "sw")

# Content concepts by class. Nouns of the first four classes head noun phrases; the class word
# (``cls_*``) is their hypernym ("the dog" entails "the animal").
NOUNS = {
    "person": ("man", "woman", "child", "teacher", "farmer", "doctor", "friend", "student",
               "cook", "guard"),
    "animal": ("dog", "cat", "bird", "horse", "fish", "cow", "lion", "goat", "snake", "mouse"),
    "object": ("book", "ball", "car", "cup", "box", "hat", "table", "bag", "key", "stone",
               "boat", "bread"),
    "place": ("market", "school", "house", "river", "forest", "garden", "village", "field"),
}
CLASS_WORDS = {c: f"cls_{c}" for c in NOUNS}
COLOURS = ("red", "blue", "green", "white", "black", "yellow")
SIZES = ("big", "small", "old", "new")
MOODS = ("happy", "sad", "kind", "angry", "good", "bad")  # the sentiment-bearing adjectives
ANTONYMS = {"big": "small", "old": "new", "happy": "sad", "kind": "angry", "good": "bad"}
ANTONYMS.update({v: k for k, v in list(ANTONYMS.items())})
VERBS = ("see", "like", "carry", "find", "buy", "wash", "help", "follow", "hold", "sell")
ORG_WORDS = ("company", "bank")  # the common noun inside an organisation name
FUNCTION = ("the", "a", "not", "not2", "and", "in", "with", "by", "is",
            "who", "what", "where", "how_many")
CONTENT = (tuple(n for ns in NOUNS.values() for n in ns) + tuple(CLASS_WORDS.values())
           + COLOURS + SIZES + MOODS + VERBS)
NUMBERS = tuple(range(2, 10))  # written as digits in every language: shared anchors

# Syllable inventories (onsets, nuclei, codas) per language; they overlap little, as the
# scripts and spelling habits of unrelated languages do. "" codas make open syllables.
SYLLABLES = {
    "en": ("b bl br d f fl g gr h k l m n p pl r s st sh t th tr w".split(),
           "a e i o u ea oo".split(), ["", "", "n", "t", "ck", "st", "ng", "ll"]),
    "de": ("b d f g h k kl kr l m n p pf r s sch st t w z".split(),
           "a e i o u ei au ie ü ö".split(), ["", "n", "r", "ch", "tz", "ng", "lt"]),
    "fr": ("b c d f g j l m n p qu r s t v ch".split(),
           "a e i o ou eau é è ai".split(), ["", "", "", "s", "t", "r", "n"]),
    "sw": ("b d f g h j k l m n ny p s t w y z ch mb nd ng".split(),
           "a e i o u".split(), [""]),
}
# Names and loanwords come from a neutral inventory shared by all four languages.
SHARED_SYLLABLES = ("k l m n r s t v z d".split(), "a e i o u".split(), ["", "", "n", "r"])
LEXICON_SEED_SALT = "synth-lexicon"


def _word(rng: random.Random, inventory: tuple, syllables: int) -> str:
    onsets, nuclei, codas = inventory
    parts = [rng.choice(onsets) + rng.choice(nuclei) for _ in range(syllables)]
    return "".join(parts) + rng.choice(codas)


@dataclass(frozen=True)
class Names:
    """Proper names, identical in every language (entities and anchors)."""

    first: tuple[str, ...]
    last: tuple[str, ...]
    places: tuple[tuple[str, ...], ...]  # one or two tokens each
    orgs: tuple[str, ...]


# How much of its vocabulary each language shares with English: (content words, function
# words), identical in spelling, like cognates and loanwords. Nested: a word Swahili shares,
# French and German share too. The gradient mirrors real transfer, which degrades with distance
# from English; a tiny encoder warmed up for a minute cannot align unrelated vocabularies, so
# these shared words (with names and digits) are what zero-shot transfer runs on.
SHARED_WITH_EN = {"en": (1.0, 1.0), "de": (0.6, 0.6), "fr": (0.4, 0.3), "sw": (0.2, 0.0)}


class Lexicon:
    """Surface forms of every concept in every language, drawn once from ``seed``.

    ``forms[lang][concept]`` holds one form, or two for concepts with a synonym (the second is
    what paraphrases swap in). A cognate has one form shared by English and the languages
    whose SHARED_WITH_EN rate covers it, and no synonym."""

    def __init__(self, seed: int, synonym_rate: float = 0.2):
        rng = random.Random(f"{LEXICON_SEED_SALT}-{seed}")
        self._used: set[str] = set()
        self.forms: dict[str, dict[str, tuple[str, ...]]] = {lang: {} for lang in LANGUAGES}
        self.shared: dict[str, tuple[str, ...]] = {}  # concept -> languages sharing its form
        for concept in CONTENT + FUNCTION + ORG_WORDS:
            self._draw_forms(rng, concept, synonym_rate)
        self.names = self._names(rng)
        # World knowledge, the same in every language: what a verb is typically done to and
        # where, the usual colour of a thing, the usual mood of a person. Co-occurrence is what
        # lets an MLM tell words of one class apart, and because it is shared by the languages
        # it is also a signal for aligning them.
        things = NOUNS["object"] + NOUNS["animal"]
        self.patients_of = {v: tuple(rng.sample(things, 4)) for v in VERBS}
        self.place_of = {v: rng.choice(NOUNS["place"]) for v in VERBS}
        self.colour_of = {n: rng.choice(COLOURS) for n in things}
        self.mood_of = {n: rng.choice(MOODS) for n in NOUNS["person"]}
        self._inverse = {lang: {f: c for c, fs in self.forms[lang].items() for f in fs}
                         for lang in LANGUAGES}

    def _draw_forms(self, rng: random.Random, concept: str, synonym_rate: float) -> None:
        kind = 1 if concept in FUNCTION else 0
        draw = rng.random()
        sharing = tuple(lang for lang in LANGUAGES if draw < SHARED_WITH_EN[lang][kind])
        if len(sharing) > 1:
            self.shared[concept] = sharing
            form = self._fresh(rng, SHARED_SYLLABLES, 2 - kind)
            for lang in sharing:
                self.forms[lang][concept] = (form.capitalize() if concept in ORG_WORDS else form,)
        has_synonym = len(sharing) < 2 and concept in CONTENT and rng.random() < synonym_rate
        for lang in LANGUAGES:
            if concept in self.forms[lang]:
                continue
            n_syl = 1 if kind and lang != "sw" else 2
            forms = tuple(self._fresh(rng, SYLLABLES[lang], n_syl)
                          for _ in range(2 if has_synonym else 1))
            if concept in ORG_WORDS:  # part of a name: capitalized, as in "Acme Bank"
                forms = tuple(f.capitalize() for f in forms)
            self.forms[lang][concept] = forms

    def _fresh(self, rng: random.Random, inventory: tuple, syllables: int) -> str:
        """A form no other concept or name uses, in any language."""
        while True:
            w = _word(rng, inventory, syllables)
            if w not in self._used and len(w) > 1:
                self._used.add(w)
                return w

    def _names(self, rng: random.Random) -> Names:
        def name(n_syl: int) -> str:
            return self._fresh(rng, SHARED_SYLLABLES, n_syl).capitalize()

        places = tuple((name(2),) if rng.random() < 0.7 else (name(2), name(2)) for _ in range(12))
        return Names(first=tuple(name(rng.choice((2, 3))) for _ in range(20)),
                     last=tuple(name(3) for _ in range(12)), places=places,
                     orgs=tuple(name(2) for _ in range(8)))

    def word(self, lang: str, concept: str, alt: bool = False) -> str:
        forms = self.forms[lang][concept]
        return forms[1] if alt and len(forms) > 1 else forms[0]

    def has_synonym(self, concept: str) -> bool:
        return len(self.forms["en"].get(concept, ())) > 1

    def concept_of(self, lang: str, token: str) -> str:
        """The concept a word of ``lang`` expresses ("" for names, digits and punctuation)."""
        return self._inverse[lang].get(token, "")


@dataclass(frozen=True)
class NP:
    """A noun phrase meaning: a common noun with modifiers, or a name (kind person/place/org)."""

    head: str  # a noun concept, or "" for names
    kind: str = "noun"  # noun | person | place | org
    adjs: tuple[str, ...] = ()
    num: int | None = None  # a count replaces the determiner
    definite: bool = True
    name: tuple[str, ...] = ()  # name tokens (persons, places) or the organisation's name
    org_word: str = ""  # orgs only: the ORG_WORDS concept
    mod: "NP | None" = None  # a "with" companion ("the man with the hat")

    def concepts(self) -> list[str]:
        """Content concepts and names, order-free: what every translation must carry."""
        out = [self.head] if self.head else []
        out += list(self.adjs) + list(self.name) + ([self.org_word] if self.org_word else [])
        out += [str(self.num)] if self.num is not None else []
        return out + (self.mod.concepts() if self.mod else [])


@dataclass(frozen=True)
class Clause:
    """Who does what to whom (and where): the unit every task example is built from."""

    agent: NP
    verb: str
    patient: NP
    place: NP | None = None
    neg: bool = False
    passive: bool = False
    alt: frozenset[str] = frozenset()  # concepts rendered with their synonym

    def concepts(self) -> list[str]:
        out = self.agent.concepts() + [self.verb] + self.patient.concepts()
        return out + (self.place.concepts() if self.place else [])
