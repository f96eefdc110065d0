"""Attacks around the search: dictionaries on disk (MUSE pair files, concept lexicons, bad lines
named by file and line), the checks that refuse a bad kind, budget, query cap or task before any
model loads, the report (averages, table, CSV, heat map), and the model's objective (outcomes
equal to a direct computation from the logits, the same alone or in any batch)."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

import eval_helpers as H
from eval.attack import AttackSetting, attack
from eval.attack_report import averages, csv_rows, drops
from eval.attack_report import to_markdown as attack_markdown
from eval.lexicon import Dictionary
from eval.robustness import to_csv, write_report


# ---------------------------------------------------------------- dictionaries


def test_muse_files_are_read_both_ways_with_space_or_tab(tmp_path):
    path = H.write(str(tmp_path / "en-de.0-5000.txt"), "dog Hund\n\ncat\tKatze\ndog Köter\n")
    d = Dictionary.read([path])
    assert d.translations("dog", "en") == ["Hund", "Köter"]  # file order, both forms
    assert d.translations("Katze", "de") == ["cat"]  # the reverse direction
    assert d.translations("Dog.", "en") == ["Hund.", "Köter."]  # punctuation kept
    assert d.translations("dog", "en", to=["fr"]) == []


def test_a_malformed_muse_line_names_file_and_line(tmp_path):
    path = H.write(str(tmp_path / "en-de.txt"), "dog Hund\n\ncat\n")
    with pytest.raises(ValueError, match=r"en-de\.txt:3: expected 'source target'"):
        Dictionary.read([path])
    bad = H.write(str(tmp_path / "dictionary.txt"), "dog Hund\n")  # neither a MUSE name nor TSV
    with pytest.raises(ValueError, match="dictionary.txt"):
        Dictionary.read([bad])


def test_concept_lexicon_translates_every_form(tmp_path):
    path = H.write(str(tmp_path / "lexicon.tsv"), "c1\ten\tdog\nc1\tde\tHund\nc1\tfr\tchien\n")
    d = Dictionary.read([path])
    assert sorted(d.translations("dog", "en")) == ["Hund", "chien"]
    assert d.translations("chien", "fr", to=["de"]) == ["Hund"]


# ---------------------------------------------------------------- refusals before any model


@pytest.mark.parametrize("key,value,needle", [
    ("kinds", ["char_greedy", "flip_everything"], "unknown attack 'flip_everything'"),
    ("budgets", [0.0], "must be in (0, 1]"),
    ("budgets", [1.5], "must be in (0, 1]"),
    ("budgets", [True], "must be in (0, 1]"),
    ("max_queries", 0, "max_queries must be a positive integer"),
    ("max_queries", True, "max_queries must be a positive integer"),
    ("kinds", ["codemix_greedy"], "needs a bilingual dictionary"),
    ("kinds", ["random_codemix"], "needs a bilingual dictionary"),
    ("chunk_examples", 0, "eval.attack.chunk_examples"),
    ("min_f1", 0, "eval.attack.min_f1"),
])
def test_bad_attack_settings_are_refused_by_the_config(key, value, needle):
    from trainer.config import Config, ConfigError, check_attack

    cfg = Config()
    cfg.eval.attack.kinds = ["char_greedy"]
    setattr(cfg.eval.attack, key, value)
    with pytest.raises(ConfigError) as err:
        check_attack(cfg)
    assert needle in str(err.value) and "eval.attack" in str(err.value)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> dict:
    root = str(tmp_path_factory.mktemp("attack_io"))
    ws = H.make_workspace(root, {"xnli": {"en": 6, "de": 6}, "panx": {"de": 6}, "xquad": {"de": 4},
                                 "tatoeba": {"de": 6}})
    tree = H.config_tree(ws["data"], ws["tok"], os.path.join(root, "run"), languages=["de"])
    path = H.make_export(os.path.join(root, "export"), tree, tasks=("xnli", "panx", "xquad"))
    return {"root": root, "export": path, "data": ws["data"]}


@pytest.mark.parametrize("args,needle", [
    (["--attack", "bogus"], "unknown attack 'bogus'"),
    (["--attack", "char_greedy", "--attack-budget", "0"], "must be in (0, 1]"),
    (["--attack", "codemix_greedy"], "needs a bilingual dictionary"),
    (["--tasks", "tatoeba", "--attack", "char_greedy"], "task tatoeba (head kind retrieval) cannot be attacked"),
])
def test_evaluate_refuses_a_bad_attack_before_loading_a_model(export, monkeypatch, capsys, args, needle):
    from trainer.cli import main
    from trainer.evaluation import driver

    def no_model(*_a, **_k):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(driver, "load_export", no_model)
    rc = main(["evaluate", export["export"], "--out", os.path.join(export["root"], "refused"), *args])
    assert rc == 2
    assert needle in capsys.readouterr().err


def test_evaluate_refuses_a_malformed_lexicon_naming_its_line(export, capsys):
    from trainer.cli import main

    bad = H.write(os.path.join(export["root"], "de-en.txt"), "river Fluss\nriver\n")
    rc = main(["evaluate", export["export"], "--tasks", "xnli", "--attack", "codemix_greedy", "--lexicon", bad])
    assert rc == 2
    assert "de-en.txt:2" in capsys.readouterr().err


# ---------------------------------------------------------------- the report


def _figures(clean, attacked, success, words=10.0, queries=5.0, n=4):
    return {"examples": n, "clean": clean, "attacked": attacked, "drop": clean - attacked,
            "success_rate": success, "words_changed": words, "queries": queries}


def test_report_averages_table_csv_and_heatmap(tmp_path):
    attacks = {"char_greedy@0.2": {"xnli": {"de": _figures(60.0, 20.0, 66.0), "fr": _figures(40.0, 30.0, None)}}}
    avg = averages(attacks)["char_greedy@0.2"]["xnli"]
    assert avg["clean"] == 50.0 and avg["attacked"] == 25.0 and avg["drop"] == 25.0
    assert avg["success_rate"] == 66.0  # null in fr: the mean of the languages that have it
    assert avg["examples"] == 8 and avg["languages"] == 2
    report = {"settings": [], "seed": 0, "tasks": {}, "attacks": attacks, "attack_averages": averages(attacks),
              "attack_config": {"seed": 3, "max_queries": 50}, "not_attacked": [{"task": "tatoeba", "reason": "r"}]}
    md = attack_markdown(report)
    assert "| char_greedy@0.2 | xnli | de | 60.00 | 20.00 | 40.00 | 66.0 | 10.0 | 5.0 |" in md
    assert "| char_greedy@0.2 | xnli | fr | 40.00 | 30.00 | 10.00 | n/a |" in md
    assert "| char_greedy@0.2 | xnli | **avg** | 50.00 | 25.00 | 25.00 |" in md
    assert "tatoeba: not attacked (r)" in md and "Seed 3, at most 50 queries" in md
    assert csv_rows(report)[0] == ["attack", "char_greedy@0.2", "xnli", "de", 60.0, 20.0, 40.0, 66.0, 10.0, 5.0]
    assert drops(report) == {"char_greedy@0.2 xnli": {"de": 40.0, "fr": 10.0}}
    lines = to_csv(report).splitlines()
    assert lines[0].startswith("kind,setting,task,language,clean,scored,drop") and len(lines) == 3
    paths = write_report(report, str(tmp_path))
    assert set(paths) == {"json", "md", "csv", "heatmap"}
    with open(paths["heatmap"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(paths["json"]) as f:
        assert json.load(f)["attacks"] == attacks


# ---------------------------------------------------------------- the model's objective


@pytest.fixture(scope="module")
def attacker(export):
    from trainer.config import from_dict
    from trainer.data.tokenizer import load_tokenizer_from
    from trainer.evaluation.attack import Attacker
    from trainer.evaluation.predict import Predictor
    from trainer.model.export import load_export, read_export_meta
    from trainer.tasks import get_task

    cfg = from_dict(read_export_meta(export["export"])["config"])
    cfg.data.cache_dir = os.path.join(export["root"], "cache")
    model = load_export(export["export"]).eval()
    tasks = {n: get_task(n) for n in ("xnli", "panx", "xquad")}
    predictor = Predictor(model, load_tokenizer_from(export["export"]), cfg, tasks, "dev")
    for task in tasks.values():
        predictor.prepare(task, "de")
    return Attacker(predictor, [AttackSetting("char_greedy", 0.3, 30)], None, 0.5)


def _rows(attacker, task):
    data = attacker.predictor.examples(task, "de")
    return [data[i] for i in range(len(data))]


def test_classification_outcome_is_the_cross_entropy_of_the_gold_label(attacker):
    import torch

    task = attacker.predictor.tasks["xnli"]
    rows = _rows(attacker, "xnli")
    got = attacker.outcomes(task, rows)
    tok = attacker.predictor.tokenizer
    for row, out in zip(rows, got):
        enc = tok(row["text_a"], row["text_b"], truncation=True, max_length=48, return_tensors="pt")
        with torch.no_grad():
            _, logits = attacker.predictor.model("xnli", dict(enc))
        logp = torch.log_softmax(logits[0].double(), -1)
        assert out.loss == pytest.approx(-float(logp[row["label"]]), abs=1e-4)
        assert out.correct == (int(logits[0].argmax()) == row["label"]) and out.prediction == int(logits[0].argmax())


@pytest.mark.parametrize("task", ["xnli", "panx", "xquad"])
def test_outcomes_do_not_depend_on_the_batch(attacker, task):
    t = attacker.predictor.tasks[task]
    rows = _rows(attacker, task)
    together = attacker.outcomes(t, rows)
    alone = [attacker.outcomes(t, [r])[0] for r in rows]
    reversed_ = attacker.outcomes(t, rows[::-1])[::-1]
    for a, b, c in zip(together, alone, reversed_):
        assert a.correct == b.correct == c.correct and a.prediction == b.prediction == c.prediction
        assert math.isclose(a.loss, b.loss, abs_tol=1e-4) and math.isclose(a.loss, c.loss, abs_tol=1e-4)


def test_tagging_outcome_counts_every_word(attacker):
    t = attacker.predictor.tasks["panx"]
    rows = _rows(attacker, "panx")
    for row, out in zip(rows, attacker.outcomes(t, rows)):
        assert len(out.prediction) == len(row["tokens"])
        assert out.correct == (out.prediction == list(row["tags"]))
        assert out.loss > 0


def test_attacker_runs_a_work_item_within_its_budget(attacker):
    from eval.evaluator import WorkItem

    rows = _rows(attacker, "xnli")
    got = attacker(WorkItem(1.0, "xnli", "de", 0, len(rows), "char_greedy@0.3"))
    assert [r.id for r in got] == [r["id"] for r in rows]
    for r in got:
        assert r.queries <= 30 and r.words_changed <= math.floor(0.3 * r.eligible_words + 1e-9)
        assert r.perturbed["label"] == r.original["label"]
        if not r.before.correct:  # a wrong prediction is not searched
            assert r.queries == 1 and r.perturbed == r.original
    again = attack(rows, lambda b: attacker.outcomes(attacker.predictor.tasks["xnli"], b),
                   AttackSetting("char_greedy", 0.3, 30), "classification", "xnli", "de")
    assert [r.perturbed for r in again] == [r.perturbed for r in got]
    assert np.isfinite([r.after.loss for r in got]).all()
