"""eval/attack_report.py worked by hand: the averages per task, the markdown table line by line,
the drops of noise settings and attacks side by side, and the heat map inspected through the
figure it draws (cells, labels, colour scale, size)."""
from __future__ import annotations

import logging
import math
import sys

import numpy as np
import pytest
from tests.helpers import png_size

from eval import attack_report as A


def lang(examples, clean, attacked, success, words, queries) -> dict:
    return {"examples": examples, "clean": clean, "attacked": attacked, "drop": clean - attacked,
            "success_rate": success, "words_changed": words, "queries": queries}


ATTACKS = {"char_greedy@0.2": {"xnli": {"de": lang(10, 80.0, 50.0, 40.0, 12.0, 30.0),
                                        "fr": lang(30, 70.0, 60.0, None, 8.0, 20.0)}}}


def test_averages_by_hand_with_a_figure_null_in_some_or_all_languages():
    attacks = {"s": {"t": {"de": lang(10, 80.0, 50.0, 40.0, 12.0, 30.0),
                           "fr": lang(30, 70.0, 60.0, None, 8.0, 20.0)},
                     "u": {"de": lang(5, 10.0, 10.0, None, 0.0, 1.0)}}}
    got = A.averages(attacks)
    assert got == {"s": {
        "t": {"examples": 40, "clean": 75.0, "attacked": 55.0, "drop": 20.0, "success_rate": 40.0,
              "words_changed": 10.0, "queries": 25.0, "languages": 2},
        "u": {"examples": 5, "clean": 10.0, "attacked": 10.0, "drop": 0.0, "success_rate": None,
              "words_changed": 0.0, "queries": 1.0, "languages": 1}}}


def test_markdown_line_by_line():
    report = {"attacks": ATTACKS, "attack_config": {"seed": 7, "max_queries": 50},
              "not_attacked": [{"task": "bucc2018", "reason": "retrieval has no label to flip"}]}
    assert A.to_markdown(report).split("\n") == [
        "# Robustness under attack", "",
        "Seed 7, at most 50 queries per example; drop = clean - attacked; success = share of the "
        "examples right before the attack that it made wrong; words = mean share of the eligible "
        "words changed.", "",
        "| setting | task | language | clean | attacked | drop | success % | words % | queries |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
        "| char_greedy@0.2 | xnli | de | 80.00 | 50.00 | 30.00 | 40.0 | 12.0 | 30.0 |",
        "| char_greedy@0.2 | xnli | fr | 70.00 | 60.00 | 10.00 | n/a | 8.0 | 20.0 |",
        "| char_greedy@0.2 | xnli | **avg** | 75.00 | 55.00 | 20.00 | 40.0 | 10.0 | 25.0 |",
        "", "bucc2018: not attacked (retrieval has no label to flip).", ""]


def test_markdown_defaults_and_the_reports_own_averages():
    avg = {"char_greedy@0.2": {"xnli": lang(1, 1.0, 2.0, 3.0, 4.0, 5.0)}}
    text = A.to_markdown({"attacks": ATTACKS, "attack_averages": avg})
    assert "Seed 0, at most ? queries per example;" in text
    # the averages the report holds are printed, not recomputed
    assert "| char_greedy@0.2 | xnli | **avg** | 1.00 | 2.00 | -1.00 | 3.0 | 4.0 | 5.0 |" in text
    assert A.to_markdown({}) == "" and A.to_markdown({"attacks": {}}) == ""


def test_drops_of_noise_settings_and_attacks_side_by_side():
    report = {"tasks": {"pawsx": {"languages": {"de": {"drop": {"char_swap@0.1": 3.5, "word_drop@0.2": -1.0}},
                                                "fr": {"drop": {"char_swap@0.1": 2.0}}}}},
              "attacks": ATTACKS}
    assert A.drops(report) == {"char_swap@0.1 pawsx": {"de": 3.5, "fr": 2.0},
                               "word_drop@0.2 pawsx": {"de": -1.0},
                               "char_greedy@0.2 xnli": {"de": 30.0, "fr": 10.0}}
    assert A.drops({"tasks": None, "attacks": None}) == {}


def test_heatmap_cells_labels_scale_and_size(tmp_path, figures):
    report = {"tasks": {"pawsx": {"languages": {"fr": {"drop": {"char_swap@0.1": -6.4}},
                                                "de": {"drop": {"char_swap@0.1": 2.6}}}}},
              "attacks": {"char_greedy@0.2": {"xnli": {"de": lang(1, 80.0, 50.0, 1.0, 1.0, 1.0)}}}}
    path = tmp_path / "robustness.png"
    assert A.heatmap(report, str(path)) is True
    (fig,) = figures
    ax, bar = fig.axes
    # rows: settings in the order drops() gives them; columns: languages sorted; a cell no row has is blank
    assert [t.get_text() for t in ax.get_yticklabels()] == ["char_swap@0.1 pawsx", "char_greedy@0.2 xnli"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["de", "fr"]
    assert all(t.get_rotation() == 90 and t.get_fontsize() == 7 for t in ax.get_xticklabels())
    assert all(t.get_fontsize() == 7 for t in ax.get_yticklabels())
    (image,) = ax.get_images()
    data = image.get_array()
    assert data.tolist() == [[2.6, -6.4], [30.0, None]] and bool(data.mask[1, 1])
    # a symmetric colour scale around 0, as wide as the largest drop (at least 1 point), red for drops
    assert image.get_clim() == (-30.0, 30.0)
    assert image.get_cmap().name == "RdBu_r" and ax.get_aspect() == "auto"
    assert [(t.get_text(), t.get_position()) for t in ax.texts] == [("3", (0, 0)), ("-6", (1, 0)),
                                                                    ("30", (0, 1))]
    assert all(t.get_ha() == "center" and t.get_va() == "center" and t.get_fontsize() == 6 for t in ax.texts)
    assert bar.get_ylabel() == "drop (points)"
    # 6 x 2.5 inches at least (few languages and rows), at 120 dpi
    assert tuple(fig.get_size_inches()) == pytest.approx((6.0, 2.5))
    assert png_size(path) == (720, 300)


def test_heatmap_size_grows_with_languages_and_rows(tmp_path, figures):
    langs = [f"l{i:02d}" for i in range(20)]
    report = {"attacks": {f"s{k}": {"t": {x: lang(1, 1.0, 0.5, 1.0, 1.0, 1.0) for x in langs}}
                          for k in range(5)}}
    assert A.heatmap(report, str(tmp_path / "a.png"))
    fig = figures[0]
    assert tuple(fig.get_size_inches()) == pytest.approx((0.4 * 20 + 3, 0.45 * 5 + 1.5))
    ax = fig.axes[0]
    # every drop is 0.5: the scale is at least one point either way
    assert ax.get_images()[0].get_clim() == (-1.0, 1.0)
    assert len(ax.texts) == 100 and ax.texts[0].get_text() == "0"


def test_heatmap_writes_numbers_only_up_to_400_cells(tmp_path, figures):
    def report(n_langs):
        return {"attacks": {f"s{k}": {"t": {f"l{i:03d}": lang(1, 2.0, 1.0, 1.0, 1.0, 1.0) for i in range(n_langs)}}
                            for k in range(10)}}

    assert A.heatmap(report(40), str(tmp_path / "a.png"))  # 400 cells: numbers
    assert len(figures[-1].axes[0].texts) == 400
    assert A.heatmap(report(41), str(tmp_path / "b.png"))  # 410 cells: none
    assert len(figures[-1].axes[0].texts) == 0


def test_heatmap_of_only_blank_cells_and_of_nothing(tmp_path, figures):
    report = {"attacks": {"s": {"t": {"de": dict(lang(1, 1.0, 1.0, 1.0, 1.0, 1.0), drop=math.nan)}}}}
    assert A.heatmap(report, str(tmp_path / "a.png")) is True
    assert figures[0].axes[0].get_images()[0].get_clim() == (-1.0, 1.0)
    assert len(figures[0].axes[0].texts) == 0
    assert A.heatmap({"attacks": {}}, str(tmp_path / "b.png")) is False
    assert not (tmp_path / "b.png").exists()


def test_heatmap_without_matplotlib(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with caplog.at_level(logging.WARNING, logger="xstilts.eval"):
        assert A.heatmap({"attacks": ATTACKS}, str(tmp_path / "a.png")) is False
    assert not (tmp_path / "a.png").exists()
    (rec,) = [r for r in caplog.records if r.name == "xstilts.eval"]
    assert rec.levelno == logging.WARNING
    assert rec.getMessage() == ("robustness heat map skipped: matplotlib unavailable "
                                "(import of matplotlib halted; None in sys.modules)")


def test_heatmap_draws_nan_as_a_masked_cell_not_a_number(tmp_path, figures):
    report = {"attacks": {"s": {"t": {"de": lang(1, 3.0, 1.0, 1.0, 1.0, 1.0),
                                      "fr": dict(lang(1, 1.0, 1.0, 1.0, 1.0, 1.0), drop=np.nan)}}}}
    A.heatmap(report, str(tmp_path / "a.png"))
    ax = figures[0].axes[0]
    assert [t.get_text() for t in ax.texts] == ["2"]
    assert ax.get_images()[0].get_array().mask.tolist() == [[False, True]]
