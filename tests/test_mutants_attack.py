"""eval/attack.py and eval/attack_views.py worked by hand with stand-in objectives (a loss table
per text): the importance ranking (mask, ties, tiny loss gaps), the greedy choice among a word's
candidates, the random search's seeded order and its queries, the fields a view cuts into words,
the gold check, and the character and translation candidates of one word."""
from __future__ import annotations

import hashlib
import random

import pytest

from eval.attack import AttackSetting, attack, attack_example
from eval.attack_views import View, char_variants, check_gold, translation_variants
from eval.lexicon import Dictionary


def _table(losses: dict[str, float], wrong: tuple[str, ...] = (), default: float = 0.0):
    """An objective: the loss of an example is looked up by its text_a; every call is kept."""
    calls: list[list[str]] = []

    def objective(batch):
        calls.append([ex["text_a"] for ex in batch])
        return [(losses.get(ex["text_a"], default), ex["text_a"] not in wrong) for ex in batch]
    return objective, calls


def _ex(text: str, id: str = "1") -> dict:
    return {"id": id, "text_a": text, "text_b": "", "label": 1}


# ---------------------------------------------------------------- greedy: the best candidate


GOOD = Dictionary([("en", "good", "de", "gut"), ("en", "good", "fr", "bon"), ("en", "good", "es", "bueno")])


def test_greedy_keeps_the_candidate_with_the_largest_loss():
    objective, calls = _table({"good film": 0.1, "film": 0.2, "gut film": 0.5, "bon film": 0.9,
                               "bueno film": 0.3})
    r = attack_example(_ex("good film"), objective, AttackSetting("codemix_greedy", 0.5, 50),
                       "classification", "sst2", "en", GOOD)
    # "film" has no translation: only "good" is searched; one word of two at budget 0.5
    assert calls == [["good film"], ["film"], ["gut film", "bon film", "bueno film"]]
    assert r.perturbed["text_a"] == "bon film" and r.after.loss == 0.9
    assert (r.words_changed, r.eligible_words, r.queries) == (1, 2, 5)


def test_greedy_breaks_a_tie_of_losses_by_the_first_candidate():
    objective, calls = _table({"good film": 0.1, "film": 0.2, "gut film": 0.9, "bon film": 0.9,
                               "bueno film": 0.3})
    r = attack_example(_ex("good film"), objective, AttackSetting("codemix_greedy", 0.5, 50),
                       "classification", "sst2", "en", GOOD)
    assert r.perturbed["text_a"] == "gut film"


# ---------------------------------------------------------------- importance ranking


TWO = Dictionary([("en", "good", "de", "gut"), ("en", "fine", "de", "fein")])


def test_words_of_equal_importance_are_tried_in_text_order():
    # both removals move the loss alike: "good" (first in the text) is tried first, its edit
    # raises the loss and the budget (one word of two) is spent
    objective, calls = _table({"good fine": 0.1, "fine": 0.4, "good ": 0.4, "gut fine": 0.6,
                               "good fein": 0.7})
    r = attack_example(_ex("good fine"), objective, AttackSetting("codemix_greedy", 0.5, 50),
                       "classification", "sst2", "en", TWO)
    # the removals are scored in a seeded order, in one call; removing the last word keeps the
    # space before it
    assert calls[0] == ["good fine"] and sorted(calls[1]) == ["fine", "good "]
    assert calls[2:] == [["gut fine"]]
    assert r.perturbed["text_a"] == "gut fine" and r.queries == 4


def test_a_tiny_loss_gap_still_orders_the_words():
    # a loss of 1.0 before; removing "fine" gives 2**-53 more than removing "good": "fine" first
    objective, calls = _table({"good fine": 1.0, "fine": 0.0, "good ": 2.0 ** -53, "gut fine": 2.0,
                               "good fein": 2.0})
    r = attack_example(_ex("good fine"), objective, AttackSetting("codemix_greedy", 0.5, 50),
                       "classification", "sst2", "en", TWO)
    assert sorted(calls[1]) == ["fine", "good "] and calls[2:] == [["good fein"]]
    assert r.perturbed["text_a"] == "good fein"


def test_importance_replaces_a_word_by_the_mask_token_when_one_is_set():
    objective, calls = _table({"good fine": 0.1, "[M] fine": 0.2, "good [M]": 0.3, "good fein": 0.5})
    r = attack_example(_ex("good fine"), objective,
                       AttackSetting("codemix_greedy", 0.5, 50, mask="[M]"), "classification", "sst2",
                       "en", TWO)
    assert sorted(calls[1]) == ["[M] fine", "good [M]"] and calls[2:] == [["good fein"]]
    assert r.perturbed["text_a"] == "good fein"


# ---------------------------------------------------------------- random: order and queries


WORDS = "alpha beta gamma delta epsilon zeta eta theta".split()
EVERY = Dictionary([("en", w, "de", w.upper()) for w in WORDS])


def _documented_rng(kind: str, *key: str) -> random.Random:
    """The seed of the documentation: (seed 0, kind, task, language, example id, word or step)."""
    text = "\x1f".join(["0", kind, *key])
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))


def test_random_scores_the_changed_example_one_word_at_a_time():
    objective, calls = _table({"alpha beta": 0.1, "ALPHA beta": 0.3, "alpha BETA": 0.4,
                               "ALPHA BETA": 0.8})
    r = attack_example(_ex("alpha beta"), objective, AttackSetting("random_codemix", 1.0, 50),
                       "classification", "sst2", "en", EVERY)
    first = calls[1][0]
    assert first in ("ALPHA beta", "alpha BETA")
    assert calls == [["alpha beta"], [first], ["ALPHA BETA"]]
    assert r.perturbed["text_a"] == "ALPHA BETA" and r.after.loss == 0.8 and r.queries == 3


def test_random_order_is_drawn_per_example_from_the_documented_seed():
    text = " ".join(WORDS)
    examples = [_ex(text, f"e{i}") for i in range(12)]
    objective, _ = _table({}, default=0.5)
    results = attack(examples, objective, AttackSetting("random_codemix", 0.25, 50), "classification",
                     "sst2", "en", EVERY)
    changed = []
    for ex, r in zip(examples, results):
        order = list(range(len(WORDS)))
        _documented_rng("random_codemix", "sst2", "en", ex["id"], "random").shuffle(order)
        expected = [w.upper() if i in order[:2] else w for i, w in enumerate(WORDS)]
        assert r.perturbed["text_a"] == " ".join(expected), ex["id"]
        assert (r.words_changed, r.queries) == (2, 3)
        changed.append(r.perturbed["text_a"])
    assert len(set(changed)) > 3  # the draw depends on the example's id


# ---------------------------------------------------------------- views: fields and gold


MC = {"id": "7", "context": "The man fell.", "question": "Why so?", "choices": ["He slipped.", "2"],
      "label": 0}


def test_multiple_choice_fields_by_name_and_kept_fields_left_out():
    v = View("multiple_choice", MC)
    assert v.slots == [("context", 0), ("context", 1), ("context", 2), ("question", 0), ("question", 1),
                       ("choices.0", 0), ("choices.0", 1)]
    words = v.words()
    words["context"][1] = "boy"
    words["question"][0] = None
    words["choices.0"][1] = "fell."
    assert v.build(words) == {"id": "7", "context": "The boy fell.", "question": "so?",
                              "choices": ["He fell.", "2"], "label": 0}
    assert View("multiple_choice", MC, keep=("context",)).slots == [
        ("question", 0), ("question", 1), ("choices.0", 0), ("choices.0", 1)]
    assert View("multiple_choice", MC, keep=("question", "choices")).slots == [
        ("context", 0), ("context", 1), ("context", 2)]


def test_a_classification_example_without_its_label_is_refused():
    message = (r"^example 'x': no gold label \(classification\); an attack needs one \(a split that "
               r"withholds its labels cannot be attacked\)$")
    for label in (-1, None):
        with pytest.raises(ValueError, match=message):
            check_gold("classification", {"id": "x", "text_a": "a", "label": label})
    with pytest.raises(ValueError, match=message):
        check_gold("classification", {"id": "x", "text_a": "a"})
    check_gold("classification", {"id": "x", "label": 0})
    with pytest.raises(ValueError, match=r"^example 'x': no gold label \(classification\)"):
        attack_example({"id": "x", "text_a": "good", "text_b": "", "label": -1}, _table({})[0],
                       AttackSetting("char_greedy"), "classification", "sst2", "en")


# ---------------------------------------------------------------- candidates of one word


def test_char_variants_are_one_of_each_edit_kind():
    # "ab": the swap is "ba"; a drop leaves one letter; an insert makes three; a keyboard
    # neighbour keeps two letters (q, w, s, x, z, ... for a; v, g, h, n for b)
    for seed in range(5):
        out = char_variants("ab", random.Random(seed), 1)
        assert out[0] == "ba"
        assert len(out[1]) == 1 and len(out[2]) == 3 and len(out) == 4
        assert len(out[3]) == 2 and out[3] != "ba"


def test_char_variants_are_distinct_and_never_the_word_itself():
    # "aa": no swap (equal letters); both drops give "a"; inserts give "aaa"
    for seed in range(5):
        out = char_variants("aa.", random.Random(seed), 2)
        assert "aa." not in out and len(out) == len(set(out))
        assert out[:2] == ["a.", "aaa."]


LEX = Dictionary([("en", "dog", lang, f"dog_{lang}") for lang in ("de", "fr", "es", "it", "nl")])


def test_translation_variants_sample_the_cap_in_dictionary_order():
    everything = ["dog_de", "dog_fr", "dog_es", "dog_it", "dog_nl"]
    assert translation_variants("dog", "en", LEX, random.Random(0), 5) == everything
    seen = set()
    for seed in range(10):
        out = translation_variants("dog", "en", LEX, random.Random(seed), 3)
        assert len(out) == 3 and out == [f for f in everything if f in out]
        chosen = set(random.Random(seed).sample(range(5), 3))
        assert out == [f for i, f in enumerate(everything) if i in chosen]
        seen.add(tuple(out))
    assert len(seen) > 2


def test_translation_variants_only_into_the_languages_asked():
    assert translation_variants("dog", "en", LEX, random.Random(0), 8, ("fr", "it")) == ["dog_fr", "dog_it"]
    assert translation_variants("dog", "en", LEX, random.Random(0), 1, ("nl",)) == ["dog_nl"]


def test_a_span_example_without_answers_or_a_tagging_one_without_aligned_tags_is_refused():
    with pytest.raises(ValueError, match=r"^example 'q': no gold label \(span\); an attack needs one"):
        check_gold("span", {"id": "q", "context": "c", "question": "Who?"})
    check_gold("span", {"id": "q", "answers": {"text": [], "answer_start": []}})
    with pytest.raises(ValueError, match=r"^example 't': no gold label \(tagging\)"):
        check_gold("tagging", {"id": "t", "tokens": ["a", "b"], "tags": ["O"]})
    with pytest.raises(ValueError, match=r"^example None: no gold label \(tagging\)"):
        check_gold("tagging", {"tokens": ["a"], "tags": []})
    check_gold("tagging", {"id": "t", "tokens": ["a"], "tags": ["O"]})


def test_a_head_kind_without_an_attack_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^no attack for head kind 'regression'; attackable: "
                                         r"classification, multiple_choice, span, tagging$"):
        View("regression", {"text_a": "a"})


def test_a_removed_token_takes_its_tag_with_it():
    ex = {"id": "1", "tokens": ["Anna", "lives", "in", "Berlin", "now"],
          "tags": ["B-PER", "O", "O", "B-LOC", "O"]}
    v = View("tagging", ex)
    assert v.slots == [("tokens", 1), ("tokens", 2), ("tokens", 4)]
    words = v.words()
    words["tokens"][2] = None
    words["tokens"][4] = "then"
    assert v.build(words) == {"id": "1", "tokens": ["Anna", "lives", "Berlin", "then"],
                              "tags": ["B-PER", "O", "B-LOC", "O"]}
    assert ex["tokens"][2] == "in" and v.build(v.words()) == ex


# ---------------------------------------------------------------- a search's candidates


def test_a_words_character_candidates_are_seeded_by_the_example_and_the_word():
    from eval.attack import Search

    ex = _ex("alpha beta")
    for kind in ("char_greedy", "random_char"):
        s = Search(ex, AttackSetting(kind, seed=0), "classification", "sst2", "en")
        for i, word in enumerate(["alpha", "beta"]):
            rng = _documented_rng(kind, "sst2", "en", "1", "text_a", str(i))
            assert s.candidates(("text_a", i)) == char_variants(word, rng, 2)


def test_code_mix_candidates_are_a_seeded_sample_into_the_target_languages():
    from eval.attack import Search

    many = Dictionary([("en", "alpha", lang, f"alpha_{lang}") for lang in ("de", "fr", "es", "it")])
    s = Search(_ex("alpha"), AttackSetting("codemix_greedy", max_translations=2), "classification",
               "sst2", "en", many)
    got = s.candidates(("text_a", 0))
    rng = _documented_rng("codemix_greedy", "sst2", "en", "1", "text_a", "0")
    chosen = set(rng.sample(range(4), 2))
    assert got == [f for i, f in enumerate(["alpha_de", "alpha_fr", "alpha_es", "alpha_it"]) if i in chosen]
    s = Search(_ex("alpha"), AttackSetting("codemix_greedy", targets=("fr", "it")), "classification",
               "sst2", "en", many)
    assert s.candidates(("text_a", 0)) == ["alpha_fr", "alpha_it"]


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize("name,value", [("edits_per_kind", 0), ("edits_per_kind", True),
                                        ("max_translations", -1), ("max_translations", 2.0)])
def test_a_setting_with_a_bad_count_is_refused_with_its_value(name, value):
    with pytest.raises(ValueError, match=rf"^attack {name} must be a positive integer, got {value!r}$"):
        AttackSetting("char_greedy", **{name: value})
    assert getattr(AttackSetting("char_greedy", **{name: 1}), name) == 1
