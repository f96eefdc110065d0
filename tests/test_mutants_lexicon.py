"""eval/lexicon.py worked by hand: which entries a dictionary keeps, translations with their
punctuation and capitals, MUSE pair files read both ways (UTF-8 under any locale), concept
lexicons keeping a lexical capital, and the exact refusals."""
from __future__ import annotations

import pytest

from eval.lexicon import Dictionary


def put(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def test_an_entry_needs_two_languages_a_word_and_a_form():
    d = Dictionary([("en", "dog", "en", "hound"),  # same language
                    ("en", "", "de", "Hund"),  # no word
                    ("en", "cat", "de", "")])  # no form
    assert len(d) == 0 and d.languages == set()
    d.add("en", "dog", "de", "Hund")
    assert len(d) == 1 and d.translations("dog", "en") == ["Hund"]


def test_translations_keep_punctuation_and_a_sentence_initial_capital():
    d = Dictionary([("en", "dog", "fr", "chien"), ("en", "dog", "de", "Hund"), ("de", "Hund", "en", "dog")])
    assert d.translations("Dog.", "en") == ["Chien.", "Hund."]
    assert d.translations("(dog)", "en", to=["fr"]) == ["(chien)"]
    # a lexical capital (the German noun) does not carry over
    assert d.translations("Hund", "de") == ["dog"]
    # a language or word the dictionary does not have, or no word at all
    assert d.translations("dog", "it") == [] and d.translations("cat", "en") == []
    assert d.translations("...", "en") == []


def test_a_translation_appears_once_and_never_as_the_word_itself():
    d = Dictionary([("en", "dog", "fr", "chien"), ("en", "dog", "fr", "Chien"), ("en", "taxi", "de", "taxi")])
    assert d.translations("Dog", "en") == ["Chien"]  # "chien" capitalised is the second entry
    assert d.translations("dog", "en") == ["chien", "Chien"]
    assert d.translations("taxi", "en") == []


def test_multi_word_translations_unless_single_words_are_asked_for():
    d = Dictionary([("en", "dog", "fr", "chien de garde"), ("en", "dog", "de", "Hund")])
    assert d.translations("dog", "en") == ["chien de garde", "Hund"]
    assert d.translations("dog", "en", single=True) == ["Hund"]


def test_muse_pairs_are_read_both_ways_in_utf8_under_an_ascii_default(tmp_path, ascii_default_open):
    path = put(tmp_path, "de-en.0-5000.txt", "Fluß river\n\nÜber over\n")
    d = Dictionary.read(path)  # one path as a string
    assert d.translations("Fluß", "de") == ["river"]
    assert d.translations("river", "en") == ["Fluß"]
    assert d.translations("over", "en", to=["de"]) == ["Über"]
    assert d.languages == {"de", "en"}


def test_a_muse_line_that_is_not_two_words_names_file_and_line(tmp_path):
    path = put(tmp_path, "en-de.txt", "dog Hund\n\n  big dog  großer\n")
    with pytest.raises(ValueError) as err:
        Dictionary.read([path])
    assert str(err.value) == (f"{path}:3: expected 'source target' (two words separated by a space or "
                              f"a tab), got '  big dog  großer'")


def test_a_muse_file_needs_the_pair_in_its_name(tmp_path):
    path = put(tmp_path, "english-german.dic", "dog Hund\n")
    d = Dictionary()
    with pytest.raises(ValueError) as err:
        d.read_muse(path)
    assert str(err.value) == (f"{path}: a MUSE dictionary is named SRC-TGT.txt (e.g. en-de.txt); "
                              f"name the language pair")
    assert d.read_muse(path, pair=("en", "de")).translations("dog", "en") == ["Hund"]


def test_a_concept_lexicon_keeps_each_forms_own_capital(tmp_path):
    path = put(tmp_path, "lexicon.tsv", "c1\ten\tdog\nc1\tde\tHund\nc1\tfr\tchien\n")
    d = Dictionary.read([path])
    # "Hund" is capitalised in its own language: at the start of a sentence nothing carries over
    assert d.translations("Hund", "de") == ["dog", "chien"]
    assert d.translations("hund", "de") == ["dog", "chien"]
    assert d.translations("Dog", "en") == ["Hund", "Chien"]
    assert d.translations("chien", "fr", to=["de"]) == ["Hund"]


def test_a_second_form_of_a_concept_in_one_language_is_its_own_source(tmp_path):
    # "Köter" is a second German form of c1: it is looked up as written (lower-cased in the file's
    # own entry), so a capital at the start of a sentence carries over, unlike the noun "Hund"
    path = put(tmp_path, "lexicon.tsv", "c1\ten\tdog\nc1\tde\tHund\nc1\tde\tköter\n")
    d = Dictionary.read([path])
    assert d.translations("Köter", "de") == ["Dog"]
    assert d.translations("Hund", "de") == ["dog"]
