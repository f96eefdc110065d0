"""Bilingual dictionaries for code-mixing: every translation of a word into other languages.

Two on-disk formats are read:
  MUSE      one file per language pair, named ``SRC-TGT.txt`` (or ``SRC-TGT.0-5000.txt`` and the
            like, as MUSE ships its splits); each line ``source<space or tab>target``; a word
            with several translations has several lines, the first the most frequent
  concepts  ``concept<TAB>language<TAB>form`` rows, the lexicon of eval/perturb.py: every form
            of a concept translates to the form of that concept in each other language

Look-ups are by lower-cased word; punctuation around a word stays (``Hund.`` -> ``dog.``); a
capital that only starts a sentence carries over to the translation, a lexical one (German
nouns) does not. Translations keep the order of the files and each appears once.
Malformed lines raise ``ValueError`` naming the file and the line.
"""
from __future__ import annotations

import os
import re
from typing import Iterable, Sequence

from eval.perturb import _PUNCT, Lexicon

# SRC-TGT, then anything (MUSE's ".0-5000"), then the extension
MUSE_NAME = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})(?:[._].*)?\.txt$")


class Dictionary:
    """Translations of words, by source language and lower-cased word."""

    def __init__(self, entries: Iterable[tuple[str, str, str, str]] = ()):
        # lang -> lower-cased word -> [(source form, target language, target form)]
        self._entries: dict[str, dict[str, list[tuple[str, str, str]]]] = {}
        for entry in entries:
            self.add(*entry)

    def add(self, lang: str, word: str, to: str, form: str) -> None:
        """``word`` in ``lang`` translates to ``form`` in ``to``."""
        if lang == to or not word or not form:
            return
        found = self._entries.setdefault(lang, {}).setdefault(word.lower(), [])
        if all((t, f) != (to, form) for _, t, f in found):
            found.append((word, to, form))

    def __len__(self) -> int:
        return sum(len(words) for words in self._entries.values())

    @property
    def languages(self) -> set[str]:
        """Every language a word is looked up in or translated to."""
        out = set(self._entries)
        for words in self._entries.values():
            out.update(to for found in words.values() for _, to, _ in found)
        return out

    def translations(self, word: str, lang: str, to: Sequence[str] = (),
                     single: bool = False) -> list[str]:
        """``word`` (punctuation around it kept) in every other language the dictionary knows,
        or only in the languages ``to``; ``single``: one-word translations only (tagging)."""
        lead, core, trail = _PUNCT.match(word).groups()
        out: list[str] = []
        for source, target, form in self._entries.get(lang, {}).get(core.lower(), []) if core else []:
            if (to and target not in to) or (single and len(form.split()) != 1):
                continue
            # a capital that only starts the sentence carries over; a lexical one does not
            if core[:1].isupper() and not source[:1].isupper():
                form = form[:1].upper() + form[1:]
            new = lead + form + trail
            if new != word and new not in out:
                out.append(new)
        return out

    # ------------------------------------------------------------ readers

    @classmethod
    def read(cls, paths: str | Sequence[str]) -> "Dictionary":
        """One dictionary from MUSE pair files (recognized by their ``SRC-TGT...txt`` name) and
        concept lexicons (any other name), in the order given."""
        out = cls()
        for path in [paths] if isinstance(paths, str) else paths:
            if MUSE_NAME.match(os.path.basename(path)):
                out.read_muse(path)
            else:
                out.read_concepts(path)
        return out

    def read_muse(self, path: str, pair: tuple[str, str] | None = None) -> "Dictionary":
        """Add the lines of a MUSE file; ``pair`` (source, target languages) defaults to the
        one in the file's name. Each pair is added both ways."""
        src, tgt = pair or _pair_of(path)
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):  # n counts blank lines too: it is the file's line
                if not line.strip():
                    continue
                fields = line.split()
                if len(fields) != 2:
                    raise ValueError(f"{path}:{n}: expected 'source target' (two words separated by "
                                     f"a space or a tab), got {line.rstrip()!r}")
                self.add(src, fields[0], tgt, fields[1])
                self.add(tgt, fields[1], src, fields[0])
        return self

    def read_concepts(self, path: str) -> "Dictionary":
        """Add a ``concept<TAB>language<TAB>form`` lexicon (eval.perturb.Lexicon's format)."""
        return self.add_lexicon(Lexicon.read(path))

    def add_lexicon(self, lexicon: Lexicon) -> "Dictionary":
        """Add every translation an eval.perturb.Lexicon knows."""
        for lang, words in lexicon.concept_of.items():
            for word, concept in words.items():
                forms = lexicon.form_of[concept]
                source = forms.get(lang, word) if forms.get(lang, "").lower() == word else word
                for to, form in forms.items():
                    self.add(lang, source, to, form)
        return self


def _pair_of(path: str) -> tuple[str, str]:
    match = MUSE_NAME.match(os.path.basename(path))
    if not match:
        raise ValueError(f"{path}: a MUSE dictionary is named SRC-TGT.txt (e.g. en-de.txt); "
                         f"name the language pair")
    return match.group(1), match.group(2)
