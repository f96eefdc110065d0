"""Adversarial attacks (eval/attack.py): budgets and query caps hold, labels / answers / entity
tokens stay valid per head kind, a model that never flips is not flipped, the adversarial set
depends on the seed and the example only (not on order or partition), queries are batched, a
greedy search beats random edits on a small bag-of-words classifier trained here. Pure Python
and numpy, milliseconds each (tests/test_attack_io.py: dictionaries, checks, summary, files)."""
from __future__ import annotations

import hashlib
import os
import random

import numpy as np
import pytest

from eval.attack import ATTACK_KINDS, AttackSetting, attack, attack_example
from eval.attack_results import choice_outcome, summarize
from eval.attack_views import ENTITY_PREFIXES
from eval.lexicon import Dictionary

FILL = "the movie was a it and story plot actors film this very really quite with some".split()
POS = "good great excellent happy love wonderful superb".split()
NEG = "bad awful terrible sad hate poor boring".split()
DICT = Dictionary([("en", w, "de", f"{w}_de") for w in FILL + POS + NEG]
                  + [("en", "movie", "fr", "cinema film"), ("en", "story", "es", "historia")])


def _noisy(batch: list[dict]) -> list[tuple[float, bool]]:
    """A model that scores any text the same in any batch: loss from a hash of the example."""
    out = []
    for ex in batch:
        text = repr(sorted((k, v) for k, v in ex.items() if k != "id"))
        loss = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 16 ** 8
        out.append((loss, loss < 0.85))
    return out


def _sentences(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = i % 2
        words = [rng.choice(FILL) for _ in range(rng.randint(8, 12))]
        words.insert(rng.randrange(len(words) + 1), rng.choice(POS if label else NEG))
        out.append({"id": f"s{i}", "text_a": " ".join(words) + ".", "text_b": "", "label": label})
    return out


def _correct_first(objective):
    """The objective, but every example is right before the attack (so every search runs)."""
    clean: set[str] = set()

    def wrapped(batch):
        out = objective(batch)
        for n, ex in enumerate(batch):
            if ex["id"] not in clean:
                clean.add(ex["id"])
                out[n] = (out[n][0], True)
        return out
    return wrapped


# ---------------------------------------------------------------- budgets and caps


@pytest.mark.parametrize("kind", ATTACK_KINDS)
@pytest.mark.parametrize("budget,cap", [(0.1, 500), (0.3, 12), (1.0, 40), (0.5, 1), (0.5, 3)])
def test_never_more_words_than_the_budget_nor_queries_than_the_cap(kind, budget, cap):
    calls = []
    model = _correct_first(_noisy)
    results = attack(_sentences(40), lambda b: calls.append(len(b)) or model(b),
                     AttackSetting(kind, budget, cap), "classification", "sst2", "en", DICT)
    for r in results:
        assert r.words_changed <= int(budget * r.eligible_words + 1e-9) and r.share <= budget
        assert 1 <= r.queries <= cap
        if kind == "char_greedy":  # one word stays one word: the count is what the text shows
            pairs = zip(r.original["text_a"].split(), r.perturbed["text_a"].split())
            assert sum(a != b for a, b in pairs) == r.words_changed
    assert sum(calls) == sum(r.queries for r in results)  # every candidate scored is counted
    assert cap < 3 or sum(r.words_changed for r in results) > 10


def test_a_budget_that_allows_no_word_changes_nothing():
    for kind in ATTACK_KINDS:
        results = attack(_sentences(20), _noisy, AttackSetting(kind, 0.05, 100), "classification",
                         "sst2", "en", DICT)  # 13 words at most: floor(0.05 * 13) = 0
        assert all(r.perturbed == r.original and r.words_changed == 0 and r.queries == 1 for r in results)


def test_a_perfect_margin_model_is_never_flipped():
    def confident(batch):  # the loss moves, the prediction never does
        return [(loss, True) for loss, _ in _noisy(batch)]

    for kind in ATTACK_KINDS:
        results = attack(_sentences(30), confident, AttackSetting(kind, 1.0, 300), "classification",
                         "sst2", "en", DICT)
        assert not any(r.flipped for r in results)
        assert all(r.after.correct for r in results)
        summary = summarize(results)["sst2"]["en"]
        assert summary["clean"] == summary["attacked"] == 100.0 and summary["success_rate"] == 0.0


# ---------------------------------------------------------------- label safety per head kind


def _words_of(ex: dict) -> list[str]:
    texts = [v for k, v in ex.items() if k != "id" and isinstance(v, str)]
    texts += [t for v in ex.values() if isinstance(v, list) for t in v if isinstance(t, str)]
    return " ".join(texts).split()


def _eager(batch):
    """Right on everything; the loss counts the words not in the original (the first example
    seen with that id), so every edit is taken and every eligible word changes at budget 1."""
    out = []
    for ex in batch:
        seen = _ORIGINAL.setdefault(repr(ex["id"]) + str(sorted(ex)), set(_words_of(ex)))
        out.append((sum(w not in seen for w in _words_of(ex)) + 1e-3 * _noisy([ex])[0][0], True))
    return out


_ORIGINAL: dict[str, set] = {}


def test_classification_keeps_label_and_choice_keeps_fixed_fields():
    ex = {"id": "1", "text_a": "A dog sleeps.", "text_b": "An animal rests in 1990.", "label": 2}
    r = attack_example(ex, _eager, AttackSetting("char_greedy", 1.0, 500), "classification", "xnli", "en")
    assert r.perturbed["label"] == 2 and r.perturbed["text_a"] != ex["text_a"]
    assert "1990." in r.perturbed["text_b"]  # numbers stay: they could be the point
    mc = {"id": "7", "context": "The man fell.", "question": "What was the cause?",
          "choices": ["He slipped on ice.", "He ate bread."], "label": 0}
    r = attack_example(mc, _eager, AttackSetting("char_greedy", 1.0, 500), "multiple_choice", "xcopa",
                       "et", keep=("question",))
    assert r.perturbed["question"] == mc["question"] and r.perturbed["label"] == 0
    assert len(r.perturbed["choices"]) == 2 and r.perturbed["choices"] != mc["choices"]
    kept = attack_example(mc, _eager, AttackSetting("char_greedy", 1.0, 500), "multiple_choice", "xcopa",
                          "et", keep=("question", "choices"))
    assert kept.perturbed["choices"] == mc["choices"]


def test_qa_touches_only_the_question():
    rng = random.Random(4)
    for i in range(30):
        words = [rng.choice(FILL + POS) for _ in range(20)]
        context = " ".join(words)
        start = len(" ".join(words[:5])) + 1
        ex = {"id": str(i), "context": context, "question": f"What is {words[5]} in the {words[9]}?",
              "answers": {"text": [words[5]], "answer_start": [start]}}
        for kind in ATTACK_KINDS:
            r = attack_example(ex, _eager, AttackSetting(kind, 1.0, 200), "span", "xquad", "en", DICT)
            assert r.perturbed["context"] == context and r.perturbed["answers"] == ex["answers"]
            assert context[start:start + len(words[5])] == words[5]
            assert r.perturbed["question"] != ex["question"]


def _tagging_checks(ex: dict, new: dict) -> None:
    assert len(new["tokens"]) == len(new["tags"]) == len(ex["tokens"]) and new["tags"] == ex["tags"]
    for old, tok, tag in zip(ex["tokens"], new["tokens"], ex["tags"]):
        assert tok and len(tok.split()) == 1
        if tag.startswith(ENTITY_PREFIXES):
            assert tok == old


def test_tagging_keeps_entities_and_alignment():
    lex = Dictionary([("de", "wohnt", "en", "is living"), ("de", "in", "en", "in"), ("de", "in", "fr", "à"),
                      ("de", "Anna", "en", "Ann")])
    ex = {"id": "1", "tokens": ["Anna", "wohnt", "in", "Berlin", "."], "tags": ["B-PER", "O", "O", "B-LOC", "O"]}
    for kind in ATTACK_KINDS:
        r = attack_example(ex, _eager, AttackSetting(kind, 1.0, 200), "tagging", "panx", "de", lex)
        _tagging_checks(ex, r.perturbed)
        assert r.eligible_words == 2  # wohnt, in: not the entities, not the full stop
    r = attack_example(ex, _eager, AttackSetting("codemix_greedy", 1.0, 200), "tagging", "panx", "de", lex)
    assert r.perturbed["tokens"] == ["Anna", "wohnt", "à", "Berlin", "."]  # "is living" would break alignment


def test_tagging_on_real_panx(real_data):
    from trainer.tasks import get_task
    from trainer.tasks.base import SkipCounter

    panx = get_task("panx")
    examples = list(panx.read_local(os.path.join(real_data, "panx", "dev-de.tsv"), "validation", "de",
                                    SkipCounter()))[:60]
    for kind in ("char_greedy", "random"):
        results = attack(examples, _eager, AttackSetting(kind, 0.5, 100), "tagging", "panx", "de")
        for ex, r in zip(examples, results):
            _tagging_checks(ex, r.perturbed)
        assert sum(r.words_changed for r in results) > 30


# ---------------------------------------------------------------- determinism


@pytest.mark.parametrize("kind", ATTACK_KINDS)
def test_same_seed_same_set_whatever_the_order_or_partition(kind):
    examples = _sentences(30, seed=1)
    setting = AttackSetting(kind, 0.3, 60, seed=5)

    def run(parts):
        return {r.id: (r.perturbed, r.queries) for part in parts
                for r in attack(part, _noisy, setting, "classification", "sst2", "en", DICT)}

    one_rank = run([examples])
    assert run([examples[0::2], examples[1::2]]) == one_rank  # two ranks, interleaved
    assert run([examples[15:], examples[:15]]) == one_rank
    assert run([[ex] for ex in reversed(examples)]) == one_rank
    assert any(r[0] != examples[int(i[1:])] for i, r in one_rank.items())
    if kind != "codemix_greedy":  # its candidates (two translations at most here) draw nothing
        setting = AttackSetting(kind, 0.3, 60, seed=6)
        assert run([examples]) != one_rank


# ---------------------------------------------------------------- batching


def test_queries_are_batched_per_step():
    calls: list[int] = []

    def counting(batch):
        calls.append(len(batch))
        return _eager(batch)

    ex = _sentences(1)[0]
    r = attack_example(ex, counting, AttackSetting("char_greedy", 0.3, 500), "classification", "sst2", "en")
    eligible = r.eligible_words
    assert calls[0] == 1 and calls[1] == eligible  # the original, then every word's removal at once
    assert len(calls) == 2 + r.words_changed and sum(calls) == r.queries  # then one call per word tried
    assert all(n > 1 for n in calls[2:])
    solo = []
    for ex in _sentences(6):
        calls.clear()
        attack_example(ex, counting, AttackSetting("char_greedy", 0.3, 500), "classification", "sst2", "en")
        solo.append((len(calls), sum(calls)))
    calls.clear()
    results = attack(_sentences(6), counting, AttackSetting("char_greedy", 0.3, 500), "classification", "sst2", "en")
    assert len(calls) == max(c for c, _ in solo)  # lock-step: one call per step, all examples in it
    assert sum(calls) == sum(q for _, q in solo) == sum(r.queries for r in results)


# ---------------------------------------------------------------- greedy beats random


def _bag_of_words(examples: list[dict]):
    """Logistic regression on word counts, trained here; its objective is real cross-entropy."""
    vocab = {w: i for i, w in enumerate(FILL + POS + NEG)}

    def features(batch):
        x = np.zeros((len(batch), len(vocab)))
        for n, ex in enumerate(batch):
            for w in ex["text_a"].lower().replace(".", " ").split():
                if w in vocab:
                    x[n, vocab[w]] += 1
        return x

    x, y = features(examples), np.array([ex["label"] for ex in examples])
    w, b = np.zeros((len(vocab), 2)), np.zeros(2)
    for _ in range(300):
        z = x @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = p - np.eye(2)[y]
        w -= 0.5 * (x.T @ g / len(y) + 1e-3 * w)
        b -= 0.5 * g.mean(0)

    def objective(batch):
        z = features(batch) @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return [choice_outcome(row, ex["label"]) for row, ex in zip(p, batch)]
    return objective


def test_greedy_beats_random_on_a_trained_classifier():
    model = _bag_of_words(_sentences(400, seed=2))
    test = _sentences(120, seed=3)
    rates = {}
    for kind in ATTACK_KINDS:
        results = attack(test, model, AttackSetting(kind, 0.2, 60, seed=1), "classification", "sst2",
                         "en", DICT)
        summary = summarize(results)["sst2"]["en"]
        assert summary["clean"] > 90 and all(r.queries <= 60 for r in results)
        rates[kind] = summary["success_rate"]
    assert rates["char_greedy"] > rates["random"] + 30, rates
    assert rates["codemix_greedy"] > rates["random"] + 30, rates
