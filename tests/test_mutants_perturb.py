"""The perturbations (eval/perturb.py) checked against rules worked out by hand: the settings and
their refusals, the documented seeding, the QWERTY neighbours, every character edit over many
seeds (exactly the edits the kind allows, every place reachable), the touch rule at its edge,
the lexicon and its capitals, words and separators, whitespace kept, and label safety per head
kind: survivors of a mutation run of eval/perturb.py, each killed here."""
from __future__ import annotations

import builtins
import hashlib
import random

import pytest

from eval.perturb import (CHAR_KINDS, KEYBOARD, KINDS, Lexicon, Perturbation, _neighbours, _words,
                          perturb_example, perturb_text, perturb_word, rng_for, settings)

LEX = Lexicon([("dog", "de", "Hund"), ("dog", "en", "dog"), ("house", "de", "Haus"), ("house", "en", "house"),
               ("big", "de", "groß"), ("big", "en", "very big"), ("Anna", "*", "Anna"), ("cat", "en", "")])


# ---------------------------------------------------------------- settings and seeding

def test_perturbation_refusals_and_names():
    with pytest.raises(ValueError) as err:
        Perturbation("typo", 0.1)
    assert str(err.value) == ("unknown perturbation 'typo'; known: char_swap, char_drop, char_insert, "
                              "keyboard, word_drop, word_shuffle, code_switch")
    for rate in (0.0, -0.1, 1.0000001, 2):
        with pytest.raises(ValueError) as err:
            Perturbation("char_swap", rate)
        assert str(err.value) == f"perturbation rate must be in (0, 1], got {rate!r}"
    assert Perturbation("char_swap", 1.0).rate == 1.0 and Perturbation("char_swap", 1e-9).seed == 0
    assert Perturbation("word_drop", 0.1).name == "word_drop@0.1"
    assert Perturbation("keyboard", 1.0).name == "keyboard@1"
    assert Perturbation("keyboard", 0.25, 3).name == "keyboard@0.25"


def test_settings_every_kind_at_every_rate():
    got = settings(["char_swap", "word_drop"], [0.1, 1], seed=4)
    assert got == [Perturbation("char_swap", 0.1, 4), Perturbation("char_swap", 1.0, 4),
                   Perturbation("word_drop", 0.1, 4), Perturbation("word_drop", 1.0, 4)]
    assert all(isinstance(p.rate, float) for p in got)
    assert settings(["keyboard"], [0.5]) == [Perturbation("keyboard", 0.5, 0)]


def test_rng_is_seeded_by_the_documented_key():
    p = Perturbation("char_swap", 0.5, 7)
    digest = hashlib.sha256("7\x1fchar_swap\x1f0.5\x1fxnli\x1fde\x1f12\x1fa".encode()).digest()
    want = random.Random(int.from_bytes(digest[:8], "big"))
    got = rng_for(p, "xnli", "de", 12, "a")
    assert [got.random() for _ in range(5)] == [want.random() for _ in range(5)]


@pytest.mark.parametrize("rebuilt", [False, True])
def test_keyboard_neighbours_hand_checked(rebuilt):
    table = _neighbours() if rebuilt else KEYBOARD
    # rows offset by half a key: q w e ... / a s d ... / z x c ...
    assert set(table) == set("abcdefghijklmnopqrstuvwxyz")
    assert table["q"] == "wa" and table["p"] == "ol" and table["z"] == "asx"
    assert table["m"] == "jkn" and table["a"] == "qwsz" and table["g"] == "tyfhvb"
    assert table["t"] == "ryfg" and table["b"] == "ghvn" and table["l"] == "opk"
    assert all(ch in table[o] for ch, near in table.items() for o in near)  # symmetric
    assert table == KEYBOARD


# ---------------------------------------------------------------- one word

def outcomes(word: str, kind: str, seeds: int = 300) -> set[str]:
    p = Perturbation(kind, 1.0)
    return {perturb_word(word, p, random.Random(s)) for s in range(seeds)}


def test_char_swap_swaps_two_different_adjacent_letters():
    assert outcomes("abc", "char_swap") == {"bac", "acb"}
    assert outcomes("ab", "char_swap") == {"ba"}
    assert outcomes("abb", "char_swap") == {"bab"}  # equal letters do not swap
    for word in ("a", "aa", "a1", "1a2", "a-b", ""):
        assert outcomes(word, "char_swap", 20) == {word}


def test_char_drop_deletes_one_character_anywhere():
    assert outcomes("abc", "char_drop") == {"bc", "ac", "ab"}
    assert outcomes("ab", "char_drop") == {"a", "b"}
    assert outcomes("a", "char_drop", 20) == {"a"}


def test_char_insert_repeats_a_character_of_the_word_anywhere():
    # positions 0..2, characters x or y
    assert outcomes("xy", "char_insert") == {"xxy", "yxy", "xyy", "xyx"}
    assert outcomes("a", "char_insert", 50) == {"aa"}


def test_keyboard_replaces_one_letter_by_a_neighbour_keeping_its_case():
    assert outcomes("q", "keyboard") == {"w", "a"}
    assert outcomes("Qp", "keyboard") == {"Wp", "Ap", "Qo", "Ql"}
    assert outcomes("1q!", "keyboard") == {"1w!", "1a!"}
    for word in ("123", "é", "ß-"):
        assert outcomes(word, "keyboard", 20) == {word}


class Fixed(random.Random):
    """A generator whose first ``random()`` is ``first``; the rest as seeded."""

    def __init__(self, first: float):
        super().__init__(0)
        self.first = first

    def random(self) -> float:
        if self.first is not None:
            value, self.first = self.first, None
            return value
        return super().random()


def test_a_word_is_touched_when_the_draw_is_below_the_rate():
    p = Perturbation("char_drop", 0.5)
    assert perturb_word("ab", p, Fixed(0.5)) == "ab"
    assert perturb_word("ab", p, Fixed(0.4999)) in {"a", "b"}
    assert perturb_word("ab", Perturbation("char_drop", 1.0), Fixed(0.9999)) in {"a", "b"}


def test_code_switch_words():
    p = Perturbation("code_switch", 1.0)
    rng = random.Random(0)
    assert perturb_word("Hund", p, rng, "de", LEX) == "dog"  # a lexical capital (German noun) goes
    assert perturb_word("dog.", p, rng, "en", LEX, "de") == "Hund."
    assert perturb_word("(Dog),", p, rng, "en", LEX, "de") == "(Hund),"
    assert perturb_word("house", p, rng, "en", LEX, "de") == "Haus"
    assert perturb_word("Groß!", p, rng, "de", LEX) == "Very big!"  # a sentence-initial capital stays
    assert perturb_word("groß", p, rng, "de", LEX) == "very big"
    assert perturb_word("groß", p, rng, "de", LEX, single=True) == "groß"  # tagging: one word only
    assert perturb_word("Hund", p, rng, "de", LEX, single=True) == "dog"
    assert perturb_word("...", p, rng, "de", LEX) == "..."
    assert perturb_word("Katze", p, rng, "de", LEX) == "Katze"  # unknown word
    assert perturb_word("Hund", p, rng, "fr", LEX) == "Hund"  # unknown language
    assert perturb_word("Hund", p, rng, "de", LEX, "sw") == "Hund"  # no form in the target
    assert perturb_word("Hund", p, rng, "de", None) == "Hund"  # no lexicon
    assert perturb_word("Hund", Perturbation("word_drop", 1.0), rng, "de", LEX) == "Hund"


def test_lexicon_rows():
    lex = Lexicon([("a", "de", "Eins"), ("b", "de", "eins"), ("a", "de", "Ein"), ("a", "en", "one"),
                   ("n", "*", "Anna"), ("c", "en", ""), ("z", "de", "zwei"), ("z", "en", "two")])
    assert lex.concept_of == {"de": {"eins": "a", "ein": "a", "zwei": "z"}, "en": {"one": "a", "two": "z"}}
    assert lex.form_of == {"a": {"de": "Eins", "en": "one"}, "b": {"de": "eins"}, "z": {"de": "zwei", "en": "two"}}
    assert lex.translate("EINS", "de", "en") == "one"  # the first form's capital is lexical
    assert lex.translate("eins", "de", "en") == "one"
    assert lex.translate("Zwei", "de", "en") == "Two" and lex.translate("zwei", "de", "en") == "two"
    assert lex.translate("one", "en", "de") == "Eins"
    assert lex.translate("Anna", "*", "en") is None


def test_lexicon_read(tmp_path):
    path = tmp_path / "lex.tsv"
    path.write_bytes("dog\tde\tHund\r\n\n  \ndog\ten\tdog\nhouse\tde\tHaus\n".encode("utf-8"))
    lex = Lexicon.read(str(path))
    assert lex.form_of == {"dog": {"de": "Hund", "en": "dog"}, "house": {"de": "Haus"}}
    for body, line in [("a\tde\tx\n\nb\tde\n", 3), ("a\tde\tx\tz\n", 1), ("a\t \tx\n", 1), ("\tde\tx\n", 1)]:
        path.write_text(body, encoding="utf-8")
        with pytest.raises(ValueError) as err:
            Lexicon.read(str(path))
        assert str(err.value) == f"{path}:{line}: expected concept<TAB>language<TAB>form, all three non-empty"


# ---------------------------------------------------------------- texts

def test_words_and_separators():
    assert _words("a  b\tc") == (["a", "b", "c"], ["  ", "\t", ""])
    assert _words(" a ") == (["", "a", ""], [" ", " ", ""])
    assert _words("我爱北京 ok") == (["我爱", "北京", "ok"], ["", " ", ""])
    assert _words("abc我爱北") == (["abc", "我爱", "北"], ["", "", ""])
    assert _words("ไทย") == (["ไท", "ย"], ["", ""])
    assert _words("") == ([""], [""])


def test_text_under_character_noise_is_its_words_each_under_the_same_stream():
    p = Perturbation("char_drop", 0.5, 2)
    text = " alpha  beta\tgamma delta\n"
    rng = rng_for(p, "t", 1)
    words, seps = _words(text)
    want = "".join((perturb_word(w, p, rng) if w else w) + s for w, s in zip(words, seps))
    assert perturb_text(text, p, ("t", 1)) == want
    out = perturb_text(text, Perturbation("char_drop", 1.0), ("t", 1))
    assert out.startswith(" ") and out.endswith("\n") and out.count("  ") == 1 and "\t" in out


def test_word_drop_keeps_the_first_word_and_the_whitespace():
    p = Perturbation("word_drop", 1.0)
    assert perturb_text("one two three", p, ("k",)) == "one"
    assert perturb_text("one two three \n", p, ("k",)) == "one \n"
    assert perturb_text("one", p, ("k",)) == "one"
    assert perturb_text(" c d", p, ("k",)) == " c"  # the leading space stays with the kept word
    assert perturb_text("  ", p, ("k",)) == "  " and perturb_text("", p, ("k",)) == ""
    assert perturb_text(" \n", p, ("k",)) == " \n"


def test_word_drop_follows_the_draws():
    p = Perturbation("word_drop", 0.5, 1)
    text = "w0 w1 w2 w3 w4 w5 w6 w7"
    rng = rng_for(p, "k")
    kept = [w for w in text.split() if rng.random() >= 0.5]
    assert perturb_text(text, p, ("k",)) == " ".join(kept)
    assert 0 < len(kept) < 8


def test_word_shuffle_moves_only_the_chosen_words():
    p = Perturbation("word_shuffle", 0.5, 3)
    text = "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9"
    rng = rng_for(p, "k")
    words = text.split()
    chosen = [i for i in range(10) if rng.random() < 0.5]
    moved = chosen[:]
    rng.shuffle(moved)
    want = words[:]
    for dst, src in zip(chosen, moved):
        want[dst] = words[src]
    assert perturb_text(text, p, ("k",)) == " ".join(want)
    assert 1 < len(chosen) < 10
    every = perturb_text(" a  b\tc ", Perturbation("word_shuffle", 1.0, 0), ("k",))
    assert every[0] == " " and every[2:4] == "  " and every[5] == "\t" and every[-1] == " "
    assert sorted(every.split()) == ["a", "b", "c"]


# ---------------------------------------------------------------- examples

def test_span_context_outside_the_answers_only():
    ex = {"id": "1", "context": "a b ANSWER c d", "question": "q r s",
          "answers": {"text": ["ANSWER"], "answer_start": [4]}}
    p = Perturbation("word_drop", 1.0)
    out = perturb_example("span", ex, p, ("t", "en", "1"), "en")
    # each stretch of context keeps its first word and the space next to the answer
    assert out["context"] == "a ANSWER c" and out["answers"] == {"text": ["ANSWER"], "answer_start": [2]}
    assert out["question"] == "q" and out["id"] == "1"
    assert ex["context"] == "a b ANSWER c d"  # the input is not changed


def test_span_overlapping_and_repeated_answers():
    ctx = "x1 x2 AB CD y1 y2 EF z1 z2"
    ex = {"id": "1", "context": ctx, "question": "q",
          "answers": {"text": ["AB CD", "CD", "EF", "AB"], "answer_start": [6, 9, 18, 6]}}
    p = Perturbation("char_insert", 1.0, 1)
    out = perturb_example("span", ex, p, ("t", "en", "1"), "en")
    new = out["context"]
    for text, start in zip(out["answers"]["text"], out["answers"]["answer_start"]):
        assert new[start:start + len(text)] == text
    assert out["answers"]["text"] == ["AB CD", "CD", "EF", "AB"]
    assert out["answers"]["answer_start"][3] == out["answers"]["answer_start"][0]
    # the protected regions: "AB CD" (merged with "CD") and "EF"; the rest is perturbed
    assert len(new) == len(ctx) + 6
    # the stretches are seeded by their place: context 0, 1 and 2
    stretch = lambda text, n: perturb_text(text, p, ("t", "en", "1", "context", n), "en")  # noqa: E731
    assert new == stretch("x1 x2 ", 0) + "AB CD" + stretch(" y1 y2 ", 1) + "EF" + stretch(" z1 z2", 2)


def test_span_touching_answers_form_one_region():
    ex = {"id": "1", "context": "aa ABCD wxyz", "question": "q",
          "answers": {"text": ["AB", "CD"], "answer_start": [3, 5]}}
    p = Perturbation("char_insert", 1.0, 0)
    out = perturb_example("span", ex, p, ("t", "en", "1"), "en")
    a, b = out["answers"]["answer_start"]
    assert out["context"][a:a + 2] == "AB" and out["context"][b:b + 2] == "CD" and b == a + 2
    # one region: the stretch after it is the second stretch of the context
    stretch = lambda text, n: perturb_text(text, p, ("t", "en", "1", "context", n), "en")  # noqa: E731
    assert stretch(" wxyz", 1) != stretch(" wxyz", 2)
    assert out["context"] == stretch("aa ", 0) + "ABCD" + stretch(" wxyz", 1)


def seeded_apart(p: Perturbation, text: str, key: tuple, other: tuple) -> None:
    """The test text comes out differently under the two keys, so a wrong key shows."""
    assert perturb_text(text, p, key, "de") != perturb_text(text, p, other, "de")


def test_classification_choice_and_retrieval_fields():
    p = Perturbation("char_insert", 1.0, 0)
    key = ("t", "de", "7")
    cls = {"id": "7", "text_a": "alpha beta", "text_b": "gamma delta epsilon", "label": 2}
    out = perturb_example("classification", cls, p, key, "de")
    assert out == {"id": "7", "text_a": perturb_text("alpha beta", p, (*key, "a"), "de"),
                   "text_b": perturb_text("gamma delta epsilon", p, (*key, "b"), "de"), "label": 2}
    seeded_apart(p, "gamma delta epsilon", (*key, "b"), (*key, "a"))
    one = perturb_example("classification", {**cls, "text_b": ""}, p, key, "de")
    assert one["text_b"] == "" and one["text_a"] == out["text_a"]
    mc = {"id": "7", "context": "ctx words", "question": "why not", "label": 1,
          "choices": ["alpha beta gamma", "delta epsilon zeta"]}
    out = perturb_example("multiple_choice", mc, p, key, "de")
    assert out["context"] == perturb_text("ctx words", p, (*key, "context"), "de")
    assert out["question"] == perturb_text("why not", p, (*key, "question"), "de")
    assert out["choices"] == [perturb_text("alpha beta gamma", p, (*key, "choice", 0), "de"),
                              perturb_text("delta epsilon zeta", p, (*key, "choice", 1), "de")]
    seeded_apart(p, "alpha beta gamma", (*key, "choice", 0), (*key, "choice", 1))
    kept = perturb_example("multiple_choice", mc, p, key, "de", keep=("question", "absent"))
    assert kept["question"] == "why not" and kept["context"] == out["context"] and "absent" not in kept
    ret = perturb_example("retrieval", {"id": "s1", "text": "quelque chose"}, p, key, "fr")
    assert ret == {"id": "s1", "text": perturb_text("quelque chose", p, (*key, "text"), "fr")}
    ex = {"id": "7", "context": "alpha beta", "question": "which gamma delta",
          "answers": {"text": [], "answer_start": []}}
    span = perturb_example("span", ex, p, key, "de")
    assert span["question"] == perturb_text("which gamma delta", p, (*key, "question"), "de")
    assert span["context"] == perturb_text("alpha beta", p, (*key, "context", 0), "de")
    seeded_apart(p, "which gamma delta", (*key, "question"), (*key, "context", 0))


def test_refusals_of_whole_examples():
    with pytest.raises(ValueError) as err:
        perturb_example("mlm", {"id": "1", "text": "a"}, Perturbation("char_drop", 0.5), ("k",), "de")
    assert str(err.value) == "no perturbation for head kind 'mlm'"
    with pytest.raises(ValueError) as err:
        perturb_example("retrieval", {"id": "1", "text": "a"}, Perturbation("code_switch", 0.5), ("k",), "de")
    assert str(err.value) == "code_switch needs a lexicon (eval.perturb.lexicon)"
    out = perturb_example("retrieval", {"id": "1", "text": "Hund"}, Perturbation("code_switch", 1.0), ("k",),
                          "de", LEX)
    assert out["text"] == "dog"
    assert perturb_example("retrieval", {"id": "1", "text": "Hund"}, Perturbation("code_switch", 1.0), ("k",),
                           "de", LEX, "de")["text"] == "Hund"


def test_tagging_word_drop_keeps_spans():
    ex = {"id": "1", "tokens": ["Anna", "Meier", "lives", "in", "Rome", "."],
          "tags": ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]}
    out = perturb_example("tagging", ex, Perturbation("word_drop", 1.0), ("t", "de", "1"), "de")
    assert out == {"id": "1", "tokens": ["Anna", "Meier", "Rome"], "tags": ["B-PER", "I-PER", "B-LOC"]}
    pos = {"id": "2", "tokens": ["a", "b"], "tags": ["NOUN", "VERB"]}
    assert perturb_example("tagging", pos, Perturbation("word_drop", 1.0), ("k",), "de")["tokens"] == ["a"]
    withheld = {"id": "3", "tokens": ["a", "B-52", "I-x", "O"], "tags": []}  # every token may go
    assert perturb_example("tagging", withheld, Perturbation("word_drop", 1.0), ("k",), "de") == \
        {"id": "3", "tokens": ["a"], "tags": []}
    few = {"id": "4", "tokens": ["O", "B-52", "I-x"], "tags": []}
    p = Perturbation("word_drop", 0.5, 0)
    rng = rng_for(p, "k", "tokens")
    keep = [i for i in range(3) if not rng.random() < 0.5] or [0]
    assert perturb_example("tagging", few, p, ("k",), "de")["tokens"] == [few["tokens"][i] for i in keep]


def test_tagging_word_drop_follows_the_draws():
    ex = {"id": "1", "tokens": [f"t{i}" for i in range(12)], "tags": ["O", "B-X"] * 6}
    p = Perturbation("word_drop", 0.5, 2)
    rng = rng_for(p, "t", "de", "1", "tokens")
    keep = [i for i in range(12) if not (i % 2 == 0 and rng.random() < 0.5)]
    out = perturb_example("tagging", ex, p, ("t", "de", "1"), "de")
    assert out["tokens"] == [f"t{i}" for i in keep] and out["tags"] == [ex["tags"][i] for i in keep]
    assert 6 < len(keep) < 12


def test_tagging_character_noise_and_code_switching_token_by_token():
    ex = {"id": "1", "tokens": ["Hund", "groß", "x"], "tags": ["NOUN", "ADJ", "X"]}
    out = perturb_example("tagging", ex, Perturbation("code_switch", 1.0), ("k",), "de", LEX)
    assert out == {"id": "1", "tokens": ["dog", "groß", "x"], "tags": ["NOUN", "ADJ", "X"]}
    p = Perturbation("char_drop", 0.5, 1)
    rng = rng_for(p, "k", "tokens")
    toks = ["alpha", "beta", "gamma", "delta", "eps"]
    want = [perturb_word(t, p, rng, "de", None, "en", single=True) for t in toks]
    got = perturb_example("tagging", {"id": "1", "tokens": toks, "tags": ["X"] * 5}, p, ("k",), "de")
    assert got["tokens"] == want and want != toks
    assert perturb_example("tagging", ex, Perturbation("word_shuffle", 1.0), ("k",), "de") == ex
    en = {"id": "1", "tokens": ["dog", "house"], "tags": ["NOUN", "NOUN"]}
    assert perturb_example("tagging", en, Perturbation("code_switch", 1.0), ("k",), "en", LEX, "de")["tokens"] == \
        ["Hund", "Haus"]
    single = {"id": "1", "tokens": ["a"], "tags": ["X"]}
    assert perturb_example("tagging", single, Perturbation("char_drop", 1.0), ("k",), "de") == single


def test_char_kinds_are_the_per_word_kinds():
    assert CHAR_KINDS == ("char_swap", "char_drop", "char_insert", "keyboard")
    assert KINDS[-1] == "code_switch" and len(KINDS) == 7


def test_lexicon_read_fields_and_encoding(tmp_path, monkeypatch):
    real = builtins.open

    def ascii_locale_open(file, mode="r", *args, encoding=None, **kw):  # a process under LC_ALL=C
        if "b" not in mode and encoding is None:
            encoding = "ascii"
        return real(file, mode, *args, encoding=encoding, **kw)

    monkeypatch.setattr(builtins, "open", ascii_locale_open)
    path = tmp_path / "lex.tsv"
    path.write_bytes("big\tde\tgroß\nbig\ten\tvery big\nfax\ten\tFAX\nfax\tde\tFax \n".encode("utf-8"))
    lex = Lexicon.read(str(path))
    assert lex.form_of == {"big": {"de": "groß", "en": "very big"}, "fax": {"en": "FAX", "de": "Fax "}}
    path.write_text("a\tde\tx\t\n", encoding="utf-8")  # a fourth, empty field
    with pytest.raises(ValueError) as err:
        Lexicon.read(str(path))
    assert str(err.value) == f"{path}:1: expected concept<TAB>language<TAB>form, all three non-empty"


def test_rows_without_a_concept_are_never_translated():
    lex = Lexicon([("", "de", "x"), ("", "en", "y")])
    assert lex.translate("x", "de", "en") is None


def test_without_a_language_nothing_is_code_switched():
    lex = Lexicon([("dog", "de", "Hund"), ("dog", "en", "dog"), ("dog", "XXXX", "Hund"), ("dog", "x", "Hund")])
    p = Perturbation("code_switch", 1.0)
    assert perturb_text("Hund", p, ("k",), lexicon=lex) == "Hund"
    assert perturb_word("Hund", p, random.Random(0), lexicon=lex) == "Hund"
    assert perturb_text("Hund", p, ("k",), "de", lex) == "dog"


def test_char_insert_places_are_uniform():
    # "xyz" + x or "xyz" + y only come from an insertion after the last character: 1 place of
    # 4, then 2 characters of 3: 1/6 of the draws
    p = Perturbation("char_insert", 1.0)
    outs = [perturb_word("xyz", p, random.Random(s)) for s in range(3000)]
    share = sum(o in ("xyzx", "xyzy") for o in outs) / len(outs)
    assert abs(share - 1 / 6) < 0.025
