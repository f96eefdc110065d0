"""The noise report (eval/robustness.py) on a hand-worked example: drops, sets the noise did not
change (n/a), averages only over complete settings and marked where they leave languages out,
and its markdown and CSV line by line: survivors of a mutation run of eval/robustness.py, each
killed here."""
from __future__ import annotations

from eval.robustness import build_report, noise_markdown, to_csv, to_markdown

CLEAN = {"xnli": {"de": {"accuracy": 80.0}, "fr": {"accuracy": 70.0}, "sw": {"accuracy": 60.0}}}
PERTURBED = {
    "a": {"xnli": {"de": {"accuracy": 75.0}, "fr": {"accuracy": 66.0}}},  # sw unchanged by a
    "b": {"xnli": {"de": {"accuracy": 70.0}}},  # fr not scored under b: no average for b
    "c": {"xnli": {"de": {"accuracy": 79.0}, "fr": {"accuracy": 69.0}, "sw": {"accuracy": 59.0}}},
    "d": {"panx": {"de": {"f1": 1.0}}},  # another task only
}
CHANGED = {"a": {"xnli": {"sw": 0}}, "b": {"xnli": {"sw": 0}}}


def test_report_by_hand():
    report = build_report(CLEAN, PERTURBED, changed=CHANGED)
    assert report["seed"] == 0 and report["settings"] == ["a", "b", "c", "d"]
    rows = report["tasks"]["xnli"]["languages"]
    assert rows["de"] == {"clean": 80.0, "perturbed": {"a": 75.0, "b": 70.0, "c": 79.0},
                          "drop": {"a": 5.0, "b": 10.0, "c": 1.0}}
    assert rows["fr"] == {"clean": 70.0, "perturbed": {"a": 66.0, "c": 69.0}, "drop": {"a": 4.0, "c": 1.0}}
    assert rows["sw"] == {"clean": 60.0, "perturbed": {"c": 59.0}, "drop": {"c": 1.0}, "n/a": ["a", "b"]}
    # a: de and fr (sw n/a) -> (75 + 66) / 2, over those two; b: fr missing -> none; c: all three
    assert report["tasks"]["xnli"]["average"] == {
        "clean": 70.0, "perturbed": {"a": 70.5, "c": 69.0}, "drop": {"a": 4.5, "c": 1.0}, "over": {"a": ["de", "fr"]}}


def test_a_given_main_metric_wins_over_the_inferred_one():
    clean = {"panx": {"de": {"f1": 50.0, "precision": 40.0, "recall": 60.0}}}
    noisy = {"s": {"panx": {"de": {"f1": 45.0, "precision": 30.0, "recall": 60.0}}}}
    report = build_report(clean, noisy, seed=3, metrics={"panx": "precision"})
    task = report["tasks"]["panx"]
    assert task["metric"] == "precision" and task["languages"]["de"]["drop"] == {"s": 10.0}
    assert build_report(clean, noisy)["tasks"]["panx"]["metric"] == "f1"


def test_noise_markdown_line_by_line():
    report = build_report(CLEAN, PERTURBED, seed=7, changed=CHANGED)
    text = noise_markdown(report)
    assert text.endswith(".\n") and "XX" not in text
    lines = text.split("\n")
    assert lines[:6] == ["# Robustness under noise", "", "Seed 7; drop = clean - perturbed.", "",
                         "| task | language | metric | clean | a (drop) | b (drop) | c (drop) | d (drop) |",
                         "|---|---|---|---:|---:|---:|---:|---:|"]
    assert lines[6:10] == [
        "| xnli | de | accuracy | 80.00 | 75.00 (+5.00) | 70.00 (+10.00) | 79.00 (+1.00) | - |",
        "| xnli | fr | accuracy | 70.00 | 66.00 (+4.00) | - | 69.00 (+1.00) | - |",
        "| xnli | sw | accuracy | 60.00 | n/a | n/a | 59.00 (+1.00) | - |",
        "| xnli | **avg** | accuracy | 70.00 | 70.50 (+4.50)* | - | 69.00 (+1.00) | - |"]
    assert lines[10:] == ["", "n/a: the setting changed no example of that set (not a measurement).",
                          "\\*: averaged over the languages the setting changed (`average.over` in robustness.json).", ""]
    assert to_markdown(report) == text  # no attacks: the noise table alone
    assert to_markdown({"settings": [], "tasks": {}}) == ""


def test_csv_rows_of_noise_and_attacks():
    report = build_report({"xnli": {"de": {"accuracy": 80.0}}}, {"a": {"xnli": {"de": {"accuracy": 75.0}}}})
    report["attacks"] = {"g@0.2": {"xnli": {"de": {"clean": 80.0, "attacked": 60.0, "drop": 20.0,
                                                   "success_rate": None, "words_changed": 1.5, "queries": 7}}}}
    text = to_csv(report)
    assert "\r" not in text
    assert text.split("\n") == [
        "kind,setting,task,language,clean,scored,drop,success_rate,words_changed,queries",
        "noise,a,xnli,de,80.0,75.0,5.0,,,",
        "attack,g@0.2,xnli,de,80.0,60.0,20.0,,1.5,7",
        ""]


def test_markdown_holds_noise_then_attacks_and_files_are_utf8(tmp_path, monkeypatch, ascii_default_open):
    from eval.robustness import write_report

    report = build_report({"ñli": {"de": {"accuracy": 80.0}}}, {"a": {"ñli": {"de": {"accuracy": 75.0}}}})
    report["attacks"] = {"g@0.2": {"ñli": {"de": {"examples": 4, "clean": 80.0, "attacked": 60.0, "drop": 20.0,
                                                  "success_rate": 0.5, "words_changed": 1.5, "queries": 7}}}}
    text = to_markdown(report)
    assert "XX" not in text
    assert text.index("# Robustness under noise") < text.index("\n# Robustness under attack")
    paths = write_report(report, str(tmp_path / "out"))
    monkeypatch.undo()  # the real open again
    with open(paths["md"], encoding="utf-8") as f:
        assert "| ñli | de | accuracy | 80.00 | 75.00 (+5.00) |" in f.read()
    with open(paths["csv"], encoding="utf-8") as f:
        assert "noise,a,ñli,de,80.0,75.0,5.0,,," in f.read()
