"""``xstilts score`` as a user meets it: its help screen, the required options, several tasks and
languages at once, and the messages and exit codes of a failed run."""
from __future__ import annotations

import pytest

from eval import scorer as S
from eval.results import load_results
from tests.test_scorer import layout  # noqa: F401  (the fixture)


def _words(text: str) -> str:
    return " ".join(text.split())


def test_help_names_the_command_and_every_option(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as exit_:
        S.main(["--help"])
    assert exit_.value.code == 0
    out = _words(capsys.readouterr().out)
    assert out.startswith("usage: xstilts score [-h] --predictions PREDICTIONS --labels LABELS --out OUT "
                          "[--tasks TASKS [TASKS ...]] [--languages LANGUAGES [LANGUAGES ...]] [--allow-missing]")
    for text in ("Score XTREME-layout prediction files against labels.",
                 "--predictions PREDICTIONS folder with <task>/test-<lang>.{tsv,json}",
                 "--labels LABELS folder with the gold files, same layout",
                 "--out OUT results.json path (a folder: also results.csv, results.md, heatmap.png)",
                 "--allow-missing score what both folders have; skip (and list) missing, unknown or stray files"):
        assert text in out


@pytest.mark.parametrize("drop", ["--predictions", "--labels", "--out"])
def test_each_folder_option_is_required(drop, capsys):
    argv = {"--predictions": "p", "--labels": "l", "--out": "o.json"}
    argv.pop(drop)
    with pytest.raises(SystemExit) as exit_:
        S.main([x for kv in argv.items() for x in kv])
    assert exit_.value.code == 2
    assert f"the following arguments are required: {drop}" in capsys.readouterr().err


def test_several_tasks_and_languages(layout, tmp_path, capsys):  # noqa: F811
    preds, labels = layout
    out = str(tmp_path / "r.json")
    assert S.main(["--predictions", preds, "--labels", labels, "--out", out,
                   "--tasks", "xnli", "panx", "--languages", "de", "fr"]) == 0
    assert set(load_results(out)["tasks"]) == {"xnli", "panx"}
    assert S.main(["--predictions", preds, "--labels", labels, "--out", out, "--languages", "zh"]) == 0
    assert set(load_results(out)["tasks"]) == {"mlqa"}


def test_nothing_in_common_exits_2_with_its_message(tmp_path, capsys):
    (tmp_path / "p").mkdir()
    (tmp_path / "l").mkdir()
    code = S.main(["--predictions", str(tmp_path / "p"), "--labels", str(tmp_path / "l"),
                   "--out", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == "xstilts score: nothing scored (no task folder in both predictions and labels)\n"
