"""The words an attack may touch in one canonical example, and the example rebuilt from them.

A view cuts the attackable fields of an example (trainer/tasks/base.py schemas) into words as
eval/perturb.py does (whitespace kept; unspaced scripts in two-character units) and rebuilds the
example from changed words, everything else byte-identical:
  classification   text_a, text_b
  multiple_choice  context, question and every choice
  span (QA)        the question only: the context, and so every answer offset, never changes
  tagging          the tokens outside entity spans (tags B-/I-/E-/S-/L-/U-: PAN-X entities); a
                   token is replaced by exactly one token, so tokens and tags stay aligned.
                   Tags without a span prefix (``O``, POS tags) mark attackable tokens.
Fields a task keeps fixed (Task.fixed_fields, XCOPA's English prompt) are left out; ``choices``
in ``keep`` keeps every choice. A word is eligible when it holds a letter (numbers and
punctuation stay: changing them could change the answer itself).

Candidates of a word come from the original word only: character edits (eval/perturb.py's
swap, drop, insert and keyboard neighbour, on the word without its punctuation) and
translations (eval/lexicon.py).
"""
from __future__ import annotations

import random
from typing import Mapping, Sequence

from eval.lexicon import Dictionary
from eval.perturb import _PUNCT, CHAR_KINDS, _char_edit, _words

ATTACKABLE_KINDS = ("classification", "multiple_choice", "span", "tagging")
ENTITY_PREFIXES = ("B-", "I-", "E-", "S-", "L-", "U-")
Slot = tuple[str, int]  # (field, word index): "choices.1" names the second choice


def _fields(head_kind: str, ex: Mapping, keep: Sequence[str]) -> list[tuple[str, str]]:
    if head_kind == "classification":
        named = [("text_a", ex["text_a"]), ("text_b", ex["text_b"])]
    elif head_kind == "multiple_choice":
        named = [("context", ex["context"]), ("question", ex["question"])]
        if "choices" not in keep:
            named += [(f"choices.{i}", c) for i, c in enumerate(ex["choices"])]
    else:  # span: the question only
        named = [("question", ex["question"])]
    return [(name, text) for name, text in named if name not in keep]


def check_gold(head_kind: str, ex: Mapping) -> None:
    """An attack needs the gold label: raise when the example withholds it."""
    if head_kind in ("classification", "multiple_choice"):
        missing = ex.get("label", -1) is None or int(ex.get("label", -1)) < 0
    elif head_kind == "tagging":
        missing = not ex.get("tags") or len(ex["tags"]) != len(ex["tokens"])
    else:
        missing = "answers" not in ex
    if missing:
        raise ValueError(f"example {ex.get('id')!r}: no gold label ({head_kind}); an attack needs "
                         f"one (a split that withholds its labels cannot be attacked)")


class View:
    """Words of the attackable fields of one example; :meth:`build` puts an example back."""

    def __init__(self, head_kind: str, ex: Mapping, keep: Sequence[str] = ()):
        if head_kind not in ATTACKABLE_KINDS:
            raise ValueError(f"no attack for head kind {head_kind!r}; attackable: {', '.join(ATTACKABLE_KINDS)}")
        self.kind, self.ex = head_kind, dict(ex)
        self.parts: dict[str, tuple[list[str], list[str]]] = {}  # field -> (words, separators)
        if head_kind == "tagging":
            self.parts["tokens"] = (list(ex["tokens"]), [])
        else:
            self.parts = {name: _words(text) for name, text in _fields(head_kind, ex, keep)}
        self.slots: list[Slot] = [(name, i) for name, (words, _) in self.parts.items()
                                  for i, w in enumerate(words) if self._eligible(name, i, w)]

    def _eligible(self, name: str, i: int, word: str) -> bool:
        if not any(ch.isalpha() for ch in word):
            return False
        return self.kind != "tagging" or not self.ex["tags"][i].startswith(ENTITY_PREFIXES)

    def words(self) -> dict[str, list[str | None]]:
        """A fresh copy of the original words of every field."""
        return {name: list(words) for name, (words, _) in self.parts.items()}

    def word(self, slot: Slot) -> str:
        return self.parts[slot[0]][0][slot[1]]

    def build(self, words: Mapping[str, Sequence[str | None]]) -> dict:
        """The example with these words; a word ``None`` is removed (with its tag, tagging)."""
        out = dict(self.ex)
        if self.kind == "tagging":
            kept = [i for i, w in enumerate(words["tokens"]) if w is not None]
            out["tokens"] = [words["tokens"][i] for i in kept]
            out["tags"] = [self.ex["tags"][i] for i in kept]
            return out
        choices = list(self.ex.get("choices", []))
        for name, (_, seps) in self.parts.items():
            text = "".join(w + s for w, s in zip(words[name], seps) if w is not None)
            if name.startswith("choices."):
                choices[int(name.split(".")[1])] = text
            else:
                out[name] = text
        if "choices" in out:
            out["choices"] = choices
        return out


# ---------------------------------------------------------------- candidates


def char_variants(word: str, rng: random.Random, per_kind: int) -> list[str]:
    """Up to ``per_kind`` edits of each character kind, on the word without its punctuation;
    distinct, the word itself left out."""
    lead, core, trail = _PUNCT.match(word).groups()
    out: list[str] = []
    for kind in CHAR_KINDS:
        for _ in range(per_kind):
            new = lead + _char_edit(core, kind, rng) + trail
            if new != word and new not in out:
                out.append(new)
    return out


def translation_variants(word: str, lang: str, dictionary: Dictionary, rng: random.Random,
                         cap: int, to: Sequence[str] = (), single: bool = False) -> list[str]:
    """The word's translations (at most ``cap``: a seeded sample kept in dictionary order)."""
    found = dictionary.translations(word, lang, to, single)
    if len(found) <= cap:
        return found
    chosen = set(rng.sample(range(len(found)), cap))
    return [f for i, f in enumerate(found) if i in chosen]
