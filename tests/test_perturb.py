"""Robustness under noise: the perturbations on hand-checked inputs, their determinism, label
safety per head kind (QA answers stay at their offsets, tags stay aligned) on generated and
real examples, the report arithmetic, and `xstilts evaluate --perturb` end to end on a tiny
export."""
from __future__ import annotations

import json
import os
import random

import pytest

from eval.perturb import (KEYBOARD, KINDS, Lexicon, Perturbation, _words, perturb_example, perturb_text,
                          settings)
from eval.robustness import build_report, to_markdown

LEX = Lexicon([("dog", "de", "Hund"), ("dog", "en", "dog"), ("the", "de", "der"), ("the", "en", "the"),
               ("house", "de", "Haus"), ("house", "en", "big house"), ("Anna", "*", "Anna")])
TEXT = "The quick brown fox jumps over the lazy dog near the river bank."
WORD_KINDS = [k for k in KINDS if k != "code_switch"]


def test_hand_checked_edits():
    assert set(KEYBOARD["a"]) == set("qwsz") and set(KEYBOARD["g"]) == set("tyfhvb")
    every = lambda kind: Perturbation(kind, 1.0, 0)  # noqa: E731
    dropped = perturb_text("ab cd efg", every("char_drop"), ("k",))
    assert [len(w) for w in dropped.split()] == [1, 1, 2]
    swapped = perturb_text("ab", every("char_swap"), ("k",))
    assert swapped == "ba"
    typo = perturb_text("g", every("keyboard"), ("k",))
    assert typo in KEYBOARD["g"]
    inserted = perturb_text("xyz", every("char_insert"), ("k",))
    assert len(inserted) == 4 and set(inserted) <= set("xyz")
    assert perturb_text("one two three", every("word_drop"), ("k",)) == "one"  # never empty
    shuffled = perturb_text(TEXT, every("word_shuffle"), ("k",))
    assert sorted(shuffled.split()) == sorted(TEXT.split())
    assert perturb_text("Der Hund  bellt.", every("code_switch"), ("k",), "de", LEX) == "The dog  bellt."
    assert perturb_text("ein Haus", every("code_switch"), ("k",), "de", LEX) == "ein big house"


@pytest.mark.parametrize("kind", WORD_KINDS)
def test_deterministic_by_seed_and_key_not_by_order(kind):
    p = Perturbation(kind, 0.3, seed=5)
    texts = [f"{TEXT} {i}" for i in range(20)]
    forward = {i: perturb_text(t, p, ("xnli", "de", i)) for i, t in enumerate(texts)}
    backward = {i: perturb_text(texts[i], p, ("xnli", "de", i)) for i in reversed(range(20))}
    assert forward == backward
    other = {i: perturb_text(t, Perturbation(kind, 0.3, seed=6), ("xnli", "de", i)) for i, t in enumerate(texts)}
    assert other != forward and any(forward[i] != texts[i] for i in forward)


def test_rate_is_the_share_of_words_touched():
    words = " ".join(f"word{i}" for i in range(4000))
    out = perturb_text(words, Perturbation("word_drop", 0.25, 1), ("k",))
    assert abs(len(out.split()) / 4000 - 0.75) < 0.03
    assert perturb_text(words, Perturbation("char_swap", 0.1, 1), ("k",)) != words


def _squad(rng: random.Random, n: int) -> list[dict]:
    out = []
    for i in range(n):
        words = [rng.choice(["river", "Paris", "1990", "a", "bank", "old"]) for _ in range(rng.randint(5, 30))]
        context = " ".join(words)
        a = rng.randrange(len(words))
        b = min(len(words), a + rng.randint(1, 3))
        start = len(" ".join(words[:a])) + (1 if a else 0)
        text = " ".join(words[a:b])
        starts, texts = [start], [text]
        if rng.random() < 0.5:  # a second, overlapping answer
            starts.append(start)
            texts.append(words[a])
        out.append({"id": str(i), "context": context, "question": "Where is the bank?",
                    "answers": {"text": texts, "answer_start": starts}})
    return out


@pytest.mark.parametrize("kind", WORD_KINDS)
def test_qa_answers_stay_at_their_offsets(kind):
    for ex in _squad(random.Random(3), 60):
        new = perturb_example("span", ex, Perturbation(kind, 0.5, 2), ("xquad", "de", ex["id"]), "de")
        assert new["answers"]["text"] == ex["answers"]["text"]
        for s, t in zip(new["answers"]["answer_start"], new["answers"]["text"]):
            assert new["context"][s:s + len(t)] == t


def test_real_xquad_answers_survive_every_kind(real_data):
    from trainer.tasks.base import SkipCounter
    from trainer.tasks.squad_format import read_squad

    examples = list(read_squad(os.path.join(real_data, "xquad", "xquad.de.json"), SkipCounter()))[:80]
    for kind in WORD_KINDS:
        changed = 0
        for ex in examples:
            new = perturb_example("span", ex, Perturbation(kind, 0.2, 0), ("xquad", "de", ex["id"]), "de")
            for s, t in zip(new["answers"]["answer_start"], new["answers"]["text"]):
                assert new["context"][s:s + len(t)] == t, (kind, ex["id"])
            changed += new["context"] != ex["context"]
        assert changed > 40, kind


def test_tagging_keeps_tokens_and_tags_aligned(real_data):
    from trainer.tasks import get_task
    from trainer.tasks.base import SkipCounter

    panx = get_task("panx")
    examples = list(panx.read_local(os.path.join(real_data, "panx", "dev-de.tsv"), "validation", "de", SkipCounter()))
    for kind in WORD_KINDS:
        for ex in examples:
            new = perturb_example("tagging", ex, Perturbation(kind, 0.5, 0), ("panx", "de", ex["id"]), "de")
            assert len(new["tokens"]) == len(new["tags"]) and all(new["tokens"])
            spans = [t for t in ex["tags"] if t != "O"]
            assert [t for t in new["tags"] if t != "O"] == spans, kind  # no span token lost or moved
            if kind == "word_shuffle":
                assert new == ex


def test_classification_and_choice_fields_are_all_perturbed():
    p = Perturbation("char_drop", 1.0, 0)
    ex = perturb_example("classification", {"id": "1", "text_a": "alpha beta", "text_b": "gamma", "label": 2},
                         p, ("xnli", "de", "1"), "de")
    assert ex["label"] == 2 and ex["text_a"] != "alpha beta" and ex["text_b"] != "gamma"
    mc = perturb_example("multiple_choice", {"id": "1", "context": "cc dd", "question": "qq", "choices": ["aa", "bb"],
                                             "label": 1}, p, ("xcopa", "et", "1"), "et")
    assert mc["label"] == 1 and all(len(c) == 1 for c in mc["choices"])
    with pytest.raises(ValueError, match="lexicon"):
        perturb_example("classification", {"text_a": "a", "text_b": ""}, Perturbation("code_switch", 0.5), ("k",), "de")
    with pytest.raises(ValueError):
        settings(["char_swap"], [0.0])


def test_report_arithmetic():
    clean = {"xnli": {"de": {"accuracy": 80.0}, "fr": {"accuracy": 70.0}},
             "xquad": {"de": {"exact_match": 40.0, "f1": 60.0}}}
    noisy = {"char_swap@0.1": {"xnli": {"de": {"accuracy": 75.0}, "fr": {"accuracy": 61.0}},
                               "xquad": {"de": {"exact_match": 30.0, "f1": 50.0}}}}
    rep = build_report(clean, noisy, seed=3)
    assert rep["tasks"]["xnli"]["languages"]["fr"] == {"clean": 70.0, "perturbed": {"char_swap@0.1": 61.0},
                                                       "drop": {"char_swap@0.1": 9.0}}
    assert rep["tasks"]["xnli"]["average"]["drop"]["char_swap@0.1"] == pytest.approx(7.0)
    assert rep["tasks"]["xquad"]["metric"] == "em_f1"
    assert rep["tasks"]["xquad"]["languages"]["de"]["drop"]["char_swap@0.1"] == pytest.approx(10.0)
    assert "| xnli | fr | accuracy | 70.00 | 61.00 (+9.00) |" in to_markdown(rep)


def test_a_setting_that_changes_nothing_is_marked_na():
    import datasets

    from trainer.evaluation.noise import Noise
    from trainer.tasks import get_task

    # word shuffling is not applied to tagging (it would break spans): nothing changes
    rows = [{"id": str(i), "tokens": ["Ana", "lebt", "in", "Köln"], "tags": ["B-PER", "O", "O", "B-LOC"]}
            for i in range(3)]
    shuffle = Noise(Perturbation("word_shuffle", 1.0, 0))
    shuffle.apply(get_task("panx"), "de", datasets.Dataset.from_list(rows))
    swap = Noise(Perturbation("char_swap", 1.0, 0))
    swap.apply(get_task("panx"), "de", datasets.Dataset.from_list(rows))
    assert shuffle.changed == {("panx", "de"): 0} and swap.changed == {("panx", "de"): 3}
    # the counts never reach the datasets cache key: the same set perturbed again is a cache hit
    again = datasets.Dataset.from_list(rows)
    first = swap._map(get_task("panx"), "de", again)._fingerprint
    swap.changed[("xnli", "fr")] = 7
    assert swap._map(get_task("panx"), "de", again)._fingerprint == first
    # keyboard noise touches ASCII letters only: a Russian sentence stays as it is
    keyboard = Noise(Perturbation("keyboard", 1.0, 0))
    keyboard.apply_pairs(get_task("tatoeba"), "", "test", "ru", [("1", "Мама мыла раму")])
    assert keyboard.changed == {("tatoeba", "ru"): 0}

    clean = {"panx": {"de": {"f1": 80.0}, "fr": {"f1": 70.0}}}
    noisy = {"word_shuffle@1": {"panx": {"de": {"f1": 80.0}, "fr": {"f1": 70.0}}},
             "char_swap@1": {"panx": {"de": {"f1": 60.0}, "fr": {"f1": 40.0}}}}
    changed = {"word_shuffle@1": {"panx": {"de": 0, "fr": 0}}, "char_swap@1": {"panx": {"de": 3, "fr": 0}}}
    rep = build_report(clean, noisy, changed=changed)
    de, fr, avg = (rep["tasks"]["panx"]["languages"]["de"], rep["tasks"]["panx"]["languages"]["fr"],
                   rep["tasks"]["panx"]["average"])
    assert de["n/a"] == ["word_shuffle@1"] and de["drop"] == {"char_swap@1": 20.0}
    assert fr["n/a"] == ["word_shuffle@1", "char_swap@1"] and fr["drop"] == {}
    assert avg["drop"] == {"char_swap@1": 20.0} and avg["over"] == {"char_swap@1": ["de"]}
    md = to_markdown(rep)
    assert "| panx | de | f1 | 80.00 | n/a | 60.00 (+20.00) |" in md
    assert "| panx | fr | f1 | 70.00 | n/a | n/a |" in md
    assert "| panx | **avg** | f1 | 75.00 | - | 60.00 (+20.00)* |" in md and "averaged over the languages" in md
    # without counts (or with every set changed) the report is as before
    assert "n/a" not in build_report(clean, noisy)["tasks"]["panx"]["languages"]["de"]


def test_evaluate_with_perturb_end_to_end(tmp_path, monkeypatch, capsys):
    import eval_helpers as H

    from trainer.cli import main
    from trainer.evaluation import noise as robustness

    changed: dict[tuple, int] = {}  # (task, setting) -> examples the noise actually changed

    def counting(kind, row, p, key, *args, **kwargs):
        out = perturb_example(kind, row, p, key, *args, **kwargs)
        k = (key[0], p.name)
        changed[k] = changed.get(k, 0) + (out != dict(row))
        return out

    monkeypatch.setattr(robustness, "perturb_example", counting)

    ws = H.make_workspace(str(tmp_path), {"xnli": {"en": 12, "de": 10}, "panx": {"de": 10}, "xquad": {"de": 6}})
    tree = H.config_tree(ws["data"], ws["tok"], str(tmp_path / "run"), languages=["de"])
    export = H.make_export(str(tmp_path / "export"), tree)
    out = str(tmp_path / "eval")
    rc = main(["evaluate", export, "--out", out, "--tasks", "xnli", "panx", "xquad", "--languages", "de",
               "--split", "dev", "--perturb", "char_swap", "word_drop", "word_shuffle", "--perturb-rates", "0.5"])
    assert rc == 0
    with open(os.path.join(out, "robustness.json")) as f:
        rep = json.load(f)
    with open(os.path.join(out, "results.json")) as f:
        res = json.load(f)
    assert rep["settings"] == ["char_swap@0.5", "word_drop@0.5", "word_shuffle@0.5"]
    for task in ("xnli", "panx", "xquad"):
        row = rep["tasks"][task]["languages"]["de"]
        assert row["clean"] == pytest.approx(res["tasks"][task]["languages"]["de"][res["tasks"][task]["metric"]])
        for s in row["perturbed"]:
            assert row["drop"][s] == pytest.approx(row["clean"] - row["perturbed"][s])
    # word shuffling is not applied to tagging: PAN-X is n/a under it, not a drop of zero
    assert rep["tasks"]["panx"]["languages"]["de"]["n/a"] == ["word_shuffle@0.5"]
    assert "word_shuffle@0.5" in rep["tasks"]["xnli"]["languages"]["de"]["perturbed"]
    assert os.path.getsize(os.path.join(out, "robustness.md")) > 0
    for task in ("xnli", "panx", "xquad"):  # the perturbed scores come from changed inputs
        for s in rep["tasks"][task]["languages"]["de"]["perturbed"]:
            assert changed.get((task, s), 0) > 0, (task, s, changed)
    capsys.readouterr()
    rc = main(["evaluate", export, "--out", out, "--tasks", "xnli", "--perturb", "code_switch"])
    assert rc == 2  # code-switching without a lexicon is refused before any model is loaded
    assert "lexicon" in capsys.readouterr().err


def test_code_switch_with_the_synthetic_lexicon(tmp_path):
    from trainer.synth.suite import generate

    generate(str(tmp_path), 0, {"train": 20, "dev": 10, "test": 10, "mlm": 10, "retrieval": 10})
    lex = Lexicon.read(str(tmp_path / "synth" / "lexicon.tsv"))
    english = {f.lower() for forms in lex.form_of.values() for lang, f in forms.items() if lang == "en"}
    german = set(lex.concept_of["de"])
    with open(tmp_path / "synth" / "pawsx" / "dev-de.tsv", encoding="utf-8") as f:
        sentences = [line.split("\t")[0] for line in f]
    p = Perturbation("code_switch", 1.0, 0)
    switched = 0
    for i, s in enumerate(sentences):
        out = perturb_text(s, p, ("synth_pawsx", "de", i), "de", lex, "en")
        assert len(out.split()) >= len(s.split())  # one word in, one (or a multi-word form) out
        for before, after in zip(s.split(), out.split()):
            if before.lower().strip(".") in german and before != after:
                assert after.lower().strip(".") in english
                switched += 1
    assert switched > 10


def test_unspaced_scripts_are_perturbed_at_the_rate_of_spaced_ones():
    zh = "辽宁省，简称辽，舊稱奉天省，中國的一个省，省會位于沈阳市。"
    assert "".join(w + s for w, s in zip(*_words(zh))) == zh
    assert _words("Hi 世界你好 ok") == (["Hi", "世界", "你好", "ok"], [" ", "", " ", ""])
    for kind in ("word_drop", "char_drop", "char_swap", "word_shuffle", "char_insert"):
        p = Perturbation(kind, 0.5, 0)
        out = perturb_text(zh, p, ("xnli", "zh", 1, "a"), "zh")
        assert out != zh and out == perturb_text(zh, p, ("xnli", "zh", 1, "a"), "zh"), kind
    dropped = perturb_text(zh, Perturbation("word_drop", 0.5, 0), ("xnli", "zh", 1, "a"), "zh")
    assert 0.2 * len(zh) < len(zh) - len(dropped) < 0.8 * len(zh)  # about half the units gone


def test_empty_answers_and_empty_sentences_keep_their_labels():
    ex = {"id": "1", "context": "ab cd", "question": "q", "answers": {"text": [""], "answer_start": [2]}}
    out = perturb_example("span", ex, Perturbation("char_drop", 1.0, 0), ("xquad", "de", "1"), "de")
    assert out["context"] == "a c" and out["answers"] == {"text": [""], "answer_start": [1]}
    empty = {"id": "2", "tokens": [], "tags": []}
    assert perturb_example("tagging", empty, Perturbation("word_drop", 1.0, 0), ("udpos", "de", "2"), "de") == empty


@pytest.mark.parametrize("body, line", [("a\tde\tHaus\n\nb\tde\n", 3), ("a\tde\tHaus\nb\tde\t \n", 2)])
def test_lexicon_errors_name_the_file_line(tmp_path, body, line):
    path = tmp_path / "lex.tsv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match=f"lex.tsv:{line}: expected concept"):
        Lexicon.read(str(path))
