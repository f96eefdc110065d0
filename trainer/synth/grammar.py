"""Grammars of the synthetic languages: rendering a meaning (synth_lang.NP / Clause) as tokens.

This module owns word order and the per-token annotations every tagging task reads: a
UPOS-like part of speech, a BIO entity tag, and (for English only, the language of the CCG-like
intermediate task) a CCG-like supertag. It also owns detokenization with character offsets,
which is how extractive-QA answers get their ``answer_start``.

The four grammars differ as real languages do:
  en  SVO, determiner and adjectives before the noun, negation before the verb
  de  SOV (place phrase before the object), determiner and adjectives before the noun
  fr  SVO, adjectives after the noun, two-part negation around the verb
  sw  SVO, adjectives and determiner after the noun, question words left in place
"""
from __future__ import annotations

from dataclasses import dataclass

from trainer.synth.lang import NP, Clause, Lexicon

GRAMMAR = {
    "en": {"order": "SVO", "adj": "pre", "det": "pre", "neg": "pre", "qw": "front", "org": "name"},
    "de": {"order": "SOV", "adj": "pre", "det": "pre", "neg": "pre", "qw": "front", "org": "name"},
    "fr": {"order": "SVO", "adj": "post", "det": "pre", "neg": "circum", "qw": "front", "org": "word"},
    "sw": {"order": "SVO", "adj": "post", "det": "post", "neg": "pre", "qw": "situ", "org": "word"},
}
POS_TAGS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "NOUN", "NUM", "PART", "PRON",
            "PROPN", "PUNCT", "VERB")
NER_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
# CCG-like supertags of English: the categories are CCGbank's, assigned by construction.
VP_MOD = r"(S\NP)\(S\NP)"
CCG_TAGS = ("N", "N/N", "NP/N", r"(S\NP)/NP", r"S[pss]\NP", r"(S\NP)/(S[pss]\NP)",
            r"(S\NP)/(S\NP)", r"(S[pss]\NP)/(S[pss]\NP)", f"({VP_MOD})/NP", r"(NP\NP)/NP",
            "conj", ".")
PUNCT = {".", "?"}  # attached to the word before them


@dataclass(frozen=True)
class Tok:
    """One rendered word with its tags (ccg is "" outside English declaratives)."""

    text: str
    pos: str
    ner: str = "O"
    ccg: str = ""


def _fw(lex: Lexicon, lang: str, concept: str, pos: str, ccg: str = "") -> Tok:
    return Tok(lex.word(lang, concept), pos, ccg=ccg)


def _name_toks(parts: tuple[str, ...], label: str, pos: str = "PROPN") -> list[Tok]:
    n = len(parts)
    return [Tok(p, pos, f"{'B' if i == 0 else 'I'}-{label}", "N" if i == n - 1 else "N/N")
            for i, p in enumerate(parts)]


def render_np(lex: Lexicon, lang: str, np: NP, alt: frozenset[str] = frozenset()) -> list[Tok]:
    """Tokens of a noun phrase, with its "with" companion attached after it."""
    g = GRAMMAR[lang]
    if np.kind == "person":
        toks = _name_toks(np.name, "PER")
    elif np.kind == "place":
        toks = _name_toks(np.name, "LOC")
    elif np.kind == "org":
        word = lex.word(lang, np.org_word, np.org_word in alt)
        parts = (np.name[0], word) if g["org"] == "name" else (word, np.name[0])
        toks = _name_toks(parts, "ORG")
        toks = [Tok(t.text, "NOUN" if t.text == word else "PROPN", t.ner, t.ccg) for t in toks]
    else:
        toks = _common_np(lex, lang, np, alt)
    if np.mod is not None:
        toks += [_fw(lex, lang, "with", "ADP", r"(NP\NP)/NP")] + render_np(lex, lang, np.mod, alt)
    return toks


def _common_np(lex: Lexicon, lang: str, np: NP, alt: frozenset[str]) -> list[Tok]:
    g = GRAMMAR[lang]
    noun = Tok(lex.word(lang, np.head, np.head in alt), "NOUN", ccg="N")
    adjs = [Tok(lex.word(lang, a, a in alt), "ADJ", ccg="N/N") for a in np.adjs]
    if np.num is not None:
        det = Tok(str(np.num), "NUM", ccg="N/N")
    else:
        det = _fw(lex, lang, "the" if np.definite else "a", "DET", "NP/N")
    core = adjs + [noun] if g["adj"] == "pre" else [noun] + adjs
    return [det] + core if g["det"] == "pre" or np.num is not None else core + [det]


def answer_span(toks: list[Tok]) -> tuple[int, int]:
    """[start, end) token range of an NP's answer text: the NP without its determiner and
    without its "with" companion, the way SQuAD answers leave out articles."""
    end = next((i for i, t in enumerate(toks) if t.pos == "ADP"), len(toks))
    start = 1 if toks and toks[0].pos == "DET" else 0
    if end > start and toks[end - 1].pos == "DET":
        end -= 1
    return start, end


def _verb_group(lex: Lexicon, lang: str, c: Clause) -> list[Tok]:
    """Verb with its passive auxiliary and negation, in the language's order."""
    g = GRAMMAR[lang]
    verb = Tok(lex.word(lang, c.verb, c.verb in c.alt), "VERB",
               ccg=r"S[pss]\NP" if c.passive else r"(S\NP)/NP")
    neg_ccg = r"(S[pss]\NP)/(S[pss]\NP)" if c.passive else r"(S\NP)/(S\NP)"
    neg = [_fw(lex, lang, "not", "PART", neg_ccg)] if c.neg else []
    aux = [_fw(lex, lang, "is", "AUX", r"(S\NP)/(S[pss]\NP)")] if c.passive else []
    if g["neg"] == "circum" and c.neg:
        neg2 = [_fw(lex, lang, "not2", "PART", neg_ccg)]
        return neg + aux + neg2 + [verb] if c.passive else neg + [verb] + neg2
    if g["order"] == "SOV":
        return neg + [verb] + aux
    return aux + neg + [verb]


def _pp(lex: Lexicon, lang: str, word: str, np: NP | None, alt: frozenset[str]) -> list[Tok]:
    if np is None:
        return []
    return [_fw(lex, lang, word, "ADP", f"({VP_MOD})/NP")] + render_np(lex, lang, np, alt)


def clause_parts(lex: Lexicon, lang: str, c: Clause) -> list[tuple[str, list[Tok]]]:
    """The clause's pieces in the language's order, each with the role it renders (agent,
    patient, place; "" for verbs and prepositions): QA answers are looked up by role."""
    subj = [("patient" if c.passive else "agent",
             render_np(lex, lang, c.patient if c.passive else c.agent, c.alt))]
    obj = [] if c.passive else [("patient", render_np(lex, lang, c.patient, c.alt))]
    by = ([("", [_fw(lex, lang, "by", "ADP", f"({VP_MOD})/NP")]),
           ("agent", render_np(lex, lang, c.agent, c.alt))] if c.passive else [])
    place = ([("", [_fw(lex, lang, "in", "ADP", f"({VP_MOD})/NP")]),
              ("place", render_np(lex, lang, c.place, c.alt))] if c.place else [])
    verb = [("", _verb_group(lex, lang, c))]
    if GRAMMAR[lang]["order"] == "SOV":
        return subj + by + place + obj + verb
    return subj + verb + obj + by + place


def render_clause(lex: Lexicon, lang: str, c: Clause) -> list[Tok]:
    """A declarative clause, without final punctuation."""
    return [t for _, toks in clause_parts(lex, lang, c) for t in toks]


def render_sentence(lex: Lexicon, lang: str, clauses: list[Clause]) -> list[Tok]:
    """One or more clauses joined by "and", ending with a full stop."""
    toks: list[Tok] = []
    for i, c in enumerate(clauses):
        if i:
            toks.append(_fw(lex, lang, "and", "CCONJ", "conj"))
        toks += render_clause(lex, lang, c)
    return toks + [Tok(".", "PUNCT", ccg=".")]


QUESTION_WORDS = {"agent": "who", "patient": "what", "place": "where", "num": "how_many"}


def render_question(lex: Lexicon, lang: str, c: Clause, target: str) -> list[Tok]:
    """An active-voice question asking for the clause's ``target`` (agent, patient, place or
    num, the patient's count). The word order is the clause's; the question word goes first
    or, where the grammar leaves it in place, into the slot of what it asks for."""
    front = GRAMMAR[lang]["qw"] == "front"
    qw = Tok(lex.word(lang, QUESTION_WORDS[target]),
             "PRON" if target in ("agent", "patient") else "ADV")
    gap = [] if front else [qw]
    head = c.patient.head
    noun = Tok(lex.word(lang, head, head in c.alt), "NOUN") if target == "num" else qw
    subj = [qw] if target == "agent" else render_np(lex, lang, c.agent, c.alt)
    if target == "patient":
        obj = gap
    elif target == "num":
        obj = [] if front else [noun, qw]
    else:
        obj = render_np(lex, lang, c.patient, c.alt)
    place = gap if target == "place" else _pp(lex, lang, "in", c.place, c.alt)
    verb = _verb_group(lex, lang, Clause(c.agent, c.verb, c.patient, alt=c.alt))
    body = subj + place + obj + verb if GRAMMAR[lang]["order"] == "SOV" else subj + verb + obj + place
    lead = [] if target == "agent" or not front else [qw] + ([noun] if target == "num" else [])
    return lead + body + [Tok("?", "PUNCT")]


def detokenize(toks: list[Tok]) -> tuple[str, list[int]]:
    """Text with punctuation attached to the previous word; returns the start offset of
    every token, so that spans of tokens map to character spans."""
    text, starts = "", []
    for t in toks:
        if text and t.text not in PUNCT:
            text += " "
        starts.append(len(text))
        text += t.text
    return text, starts
