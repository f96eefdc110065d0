"""Noise for robustness evaluation: pure, seeded perturbations of text and of whole examples.

Owns the perturbation kinds, their settings (:class:`Perturbation`: a kind at a rate), the
bilingual lexicon used for code-switching, and :func:`perturb_example`, which applies a setting
to one canonical example (trainer/tasks/base.py schemas) without breaking its labels.

Kinds (``rate`` is the chance that each word is touched):
  char_swap     two adjacent letters of the word change places
  char_drop     one character of the word is deleted (words of two or more characters)
  char_insert   a character of the word itself is inserted at a random place (same script)
  keyboard      a letter becomes a neighbour on a QWERTY keyboard (ASCII letters only)
  word_drop     the word is deleted (at least one word is always kept)
  word_shuffle  the touched words swap places among themselves
  code_switch   a word the lexicon knows in the example's language becomes its form in
                another language (``switch_to``); needs a lexicon

Text in scripts written without spaces (Chinese, Japanese, Thai, ...) is cut into units of two
characters, which stand for words here.

Determinism: the random stream of every text is seeded by (seed, kind, rate, the caller's key:
task, language, example id, field), never by position in a batch or by rank, so a perturbed set
is the same whatever the sharding, order or process. Whitespace between words is kept as is.

Label safety, per head kind:
  classification, multiple choice  every text field is perturbed, except those the caller
                keeps (``keep``: a fixed prompt, the same in every language)
  span (QA)     the question fully; in the context only the text outside the gold answers (the
                answers stay byte-identical, ``answer_start`` is recomputed)
  tagging       one token stays one token: character noise and single-word code-switching per
                token; word_drop removes (token, tag) pairs whose tag is ``O`` or a plain tag
                (POS), never a B-/I- span token; word_shuffle is not applied (it would break
                spans), so the set is reported n/a under that setting
  retrieval     the source (non-English) sentences; the English side and the gold pairs stay
                (a task whose query is composed from parts perturbs the parts, trainer side)
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

KINDS = ("char_swap", "char_drop", "char_insert", "keyboard", "word_drop", "word_shuffle",
         "code_switch")
CHAR_KINDS = ("char_swap", "char_drop", "char_insert", "keyboard")
_SPACE = re.compile(r"(\s+)")
# scripts written without spaces between words (Han, kana, Thai, Lao, Myanmar, Khmer): their
# runs are cut into units of two characters, about a word, so that word- and character-level
# noise touch them at the rate it touches spaced scripts
_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
_HAS_UNSPACED = re.compile(f"[{_UNSPACED}]")
_UNIT = re.compile(f"[{_UNSPACED}]{{1,2}}|[^{_UNSPACED}]+")
_PUNCT = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)
_QWERTY = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, str]:
    """Letters beside each letter on a QWERTY keyboard (same row and the rows above/below)."""
    pos = {ch: (r, c) for r, row in enumerate(_QWERTY) for c, ch in enumerate(row)}
    out = {}
    for ch, (r, c) in pos.items():
        out[ch] = "".join(o for o, (r2, c2) in pos.items() if o != ch and abs(r - r2) <= 1
                          and abs(c + 0.5 * r - (c2 + 0.5 * r2)) <= 1)
    return out


KEYBOARD = _neighbours()


@dataclass(frozen=True)
class Perturbation:
    """One setting: a kind at a rate, seeded."""

    kind: str
    rate: float
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown perturbation {self.kind!r}; known: {', '.join(KINDS)}")
        if not 0.0 < self.rate <= 1.0:
            raise ValueError(f"perturbation rate must be in (0, 1], got {self.rate!r}")

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.rate:g}"


def settings(kinds: Sequence[str], rates: Sequence[float], seed: int = 0) -> list[Perturbation]:
    """Every kind at every rate, each a setting of its own."""
    return [Perturbation(k, float(r), seed) for k in kinds for r in rates]


def rng_for(p: Perturbation, *key: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, (p.seed, p.kind, p.rate, *key))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


# ---------------------------------------------------------------- the lexicon


class Lexicon:
    """A bilingual (or multilingual) dictionary: ``concept<TAB>language<TAB>form`` rows, as
    trainer/synth/suite.py writes ``lexicon.tsv``; rows of language ``*`` (names) are ignored."""

    def __init__(self, rows: Iterable[Sequence[str]]):
        self.concept_of: dict[str, dict[str, str]] = {}  # lang -> lower-cased form -> concept
        self.form_of: dict[str, dict[str, str]] = {}  # concept -> lang -> form
        for concept, lang, form in rows:
            if lang == "*" or not form:
                continue
            self.concept_of.setdefault(lang, {}).setdefault(form.lower(), concept)
            self.form_of.setdefault(concept, {}).setdefault(lang, form)

    @classmethod
    def read(cls, path: str) -> "Lexicon":
        rows = []
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):  # n counts blank lines too: it is the file's line
                if not line.strip():
                    continue
                row = line.rstrip("\r\n").split("\t")
                if len(row) != 3 or not all(field.strip() for field in row):
                    raise ValueError(f"{path}:{n}: expected concept<TAB>language<TAB>form, all three "
                                     f"non-empty")
                rows.append(row)
        return cls(rows)

    def translate(self, word: str, lang: str, to: str) -> str | None:
        concept = self.concept_of.get(lang, {}).get(word.lower())
        form = self.form_of.get(concept, {}).get(to) if concept else None
        if form is None:
            return None
        # a capital that only marks the start of a sentence carries over; a lexical one (German
        # nouns) does not
        lexical = self.form_of[concept].get(lang, "")[:1].isupper()
        return form[:1].upper() + form[1:] if word[:1].isupper() and not lexical else form


# ---------------------------------------------------------------- words and characters


def _char_edit(word: str, kind: str, rng: random.Random) -> str:
    if kind == "char_swap":
        spots = [i for i in range(len(word) - 1) if word[i].isalpha() and word[i + 1].isalpha()
                 and word[i] != word[i + 1]]
        if not spots:
            return word
        i = rng.choice(spots)
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "char_drop":
        if len(word) < 2:
            return word
        i = rng.randrange(len(word))
        return word[:i] + word[i + 1:]
    if kind == "char_insert":
        i = rng.randrange(len(word) + 1)
        return word[:i] + rng.choice(word) + word[i:]
    spots = [i for i, ch in enumerate(word) if ch.lower() in KEYBOARD]  # keyboard
    if not spots:
        return word
    i = rng.choice(spots)
    new = rng.choice(KEYBOARD[word[i].lower()])
    return word[:i] + (new.upper() if word[i].isupper() else new) + word[i + 1:]


def perturb_word(word: str, p: Perturbation, rng: random.Random, lang: str = "",
                 lexicon: Lexicon | None = None, switch_to: str = "en", single: bool = False) -> str:
    """One word under a per-word kind (character noise or code-switching); the word itself
    when it is not touched. ``single``: only one-word replacements (tagging)."""
    if rng.random() >= p.rate:
        return word
    if p.kind in CHAR_KINDS:
        return _char_edit(word, p.kind, rng)
    if p.kind == "code_switch" and lexicon is not None:
        lead, core, trail = _PUNCT.match(word).groups()  # "tesa." switches as "tesa" + "."
        form = lexicon.translate(core, lang, switch_to) if core else None
        if form is not None and not (single and len(form.split()) != 1):
            return lead + form + trail
    return word


def _words(text: str) -> tuple[list[str], list[str]]:
    """(words, the separator after each): whitespace-separated words, with runs of unspaced
    scripts cut into two-character units joined by empty separators."""
    pieces = _SPACE.split(text)  # words at even positions, the whitespace between at odd ones
    words: list[str] = []
    seps: list[str] = []
    for word, sep in zip(pieces[0::2], pieces[1::2] + [""]):
        units = _UNIT.findall(word) if _HAS_UNSPACED.search(word) else [word]
        words += units
        seps += [""] * (len(units) - 1) + [sep]
    return words, seps


def perturb_text(text: str, p: Perturbation, key: Sequence[object], lang: str = "",
                 lexicon: Lexicon | None = None, switch_to: str = "en") -> str:
    """``text`` under setting ``p``; ``key`` names the text (task, language, id, field)."""
    rng = rng_for(p, *key)
    words, seps = _words(text)
    if p.kind == "word_drop":
        keep = [i for i, w in enumerate(words) if not w or rng.random() >= p.rate]
        if not any(words[i] for i in keep):  # never empty a text; a leading space stays
            first = next((i for i, w in enumerate(words) if w), 0)
            keep = [i for i, w in enumerate(words) if not w or i == first]
        if len(keep) == len(words):
            return text
        out = "".join(words[i] + seps[i] for i in keep)
        return out.rstrip() + text[len(text.rstrip()):]  # the text's own trailing space, if any
    if p.kind == "word_shuffle":
        chosen = [i for i, w in enumerate(words) if w and rng.random() < p.rate]
        moved = chosen[:]
        rng.shuffle(moved)
        new = words[:]
        for dst, src in zip(chosen, moved):
            new[dst] = words[src]
        words = new
    else:
        words = [perturb_word(w, p, rng, lang, lexicon, switch_to) if w else w for w in words]
    return "".join(w + s for w, s in zip(words, seps))


# ---------------------------------------------------------------- whole examples


def _span_context(ex: dict, p: Perturbation, key: tuple, text_fn: Callable) -> dict:
    """Perturb the context outside the gold answers and move ``answer_start`` along."""
    context, answers = ex["context"], ex["answers"]
    spans = sorted((s, s + len(t)) for s, t in zip(answers["answer_start"], answers["text"]))
    merged: list[list[int]] = []
    for a, b in spans:  # overlapping answers form one protected region
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, shift, cursor = [], {}, 0
    for n, (a, b) in enumerate(merged):
        out.append(text_fn(context[cursor:a], (*key, "context", n)))
        shift[a] = sum(map(len, out)) - a
        out.append(context[a:b])
        cursor = b
    out.append(text_fn(context[cursor:], (*key, "context", len(merged))))
    starts = [s + shift[next(a0 for a0, b0 in merged if a0 <= s <= b0)] for s in answers["answer_start"]]
    return {**ex, "context": "".join(out), "answers": {"text": list(answers["text"]), "answer_start": starts}}


def _tagging(ex: dict, p: Perturbation, key: tuple, lang: str, lexicon: Lexicon | None,
             switch_to: str) -> dict:
    tokens, tags = list(ex["tokens"]), list(ex["tags"])
    rng = rng_for(p, *key, "tokens")
    if p.kind == "word_shuffle" or not tokens:
        return dict(ex)
    if p.kind == "word_drop":
        droppable = [not tags or t == "O" or t[:2] not in ("B-", "I-") for t in (tags or tokens)]
        keep = [i for i in range(len(tokens)) if not (droppable[i] and rng.random() < p.rate)]
        keep = keep or [0]
        return {**ex, "tokens": [tokens[i] for i in keep], "tags": [tags[i] for i in keep] if tags else []}
    new = [perturb_word(t, p, rng, lang, lexicon, switch_to, single=True) for t in tokens]
    return {**ex, "tokens": [n if n else t for n, t in zip(new, tokens)], "tags": tags}


def perturb_example(kind: str, ex: Mapping, p: Perturbation, key: Sequence[object], lang: str,
                    lexicon: Lexicon | None = None, switch_to: str = "en",
                    keep: Sequence[str] = ()) -> dict:
    """A copy of canonical example ``ex`` of head kind ``kind`` under setting ``p``, labels kept
    valid (see the module doc). ``key`` names the example (task, language, id); the fields named
    in ``keep`` stay as they are (text that is the same in every language, such as a fixed
    English prompt)."""
    out = _perturb_fields(kind, dict(ex), p, tuple(key), lang, lexicon, switch_to)
    out.update((f, ex[f]) for f in keep if f in ex)
    return out


def _perturb_fields(kind: str, ex: dict, p: Perturbation, key: tuple, lang: str,
                    lexicon: Lexicon | None, switch_to: str) -> dict:
    if p.kind == "code_switch" and lexicon is None:
        raise ValueError("code_switch needs a lexicon (eval.perturb.lexicon)")

    def text(t: str, k: tuple) -> str:
        return perturb_text(t, p, k, lang, lexicon, switch_to) if t else t

    if kind == "classification":
        return {**ex, "text_a": text(ex["text_a"], (*key, "a")), "text_b": text(ex["text_b"], (*key, "b"))}
    if kind == "multiple_choice":
        return {**ex, "context": text(ex["context"], (*key, "context")),
                "question": text(ex["question"], (*key, "question")),
                "choices": [text(c, (*key, "choice", i)) for i, c in enumerate(ex["choices"])]}
    if kind == "span":
        ex = _span_context(ex, p, key, text)
        return {**ex, "question": text(ex["question"], (*key, "question"))}
    if kind == "tagging":
        return _tagging(ex, p, key, lang, lexicon, switch_to)
    if kind == "retrieval":  # a (id, sentence) pair of the source side
        return {**ex, "text": text(ex["text"], (*key, "text"))}
    raise ValueError(f"no perturbation for head kind {kind!r}")
