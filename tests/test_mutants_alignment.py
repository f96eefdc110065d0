"""Cross-lingual alignment measures and their plot (eval/alignment.py) checked against values worked
out by hand and against the kernel form of CKA, and the figure inspected element by element:
survivors of a mutation run of eval/alignment.py, each killed here."""
from __future__ import annotations

import logging
import math
import sys

import numpy as np
import pytest
from tests.helpers import png_size

from eval.alignment import (cka_matrix, language_report, layer_measures, linear_cka, pair_cosines, plot,
                            retrieval_accuracy)


def kernel_cka(x: np.ndarray, y: np.ndarray) -> float:
    """CKA in its kernel form (Kornblith et al. 2019, eq. 4 with linear kernels): HSIC of the
    centred Gram matrices, normalised; computed without the feature-space shortcut."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return float(np.sum(k * l_) / math.sqrt(np.sum(k * k) * np.sum(l_ * l_)))


def test_cka_matches_the_kernel_form_on_uncentred_data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(7, 3)) + np.array([5.0, -2.0, 9.0])  # columns far from zero mean
    y = x @ rng.normal(size=(3, 2)) + rng.normal(size=(7, 2)) + 4.0
    assert linear_cka(x, y) == pytest.approx(kernel_cka(x, y), rel=1e-12)
    assert linear_cka(y, x) == pytest.approx(kernel_cka(x, y), rel=1e-12)
    # rows of different lengths: centring is per column, not per row
    z = rng.normal(size=(7, 4)) * np.arange(1, 8)[:, None]
    assert linear_cka(x, z) == pytest.approx(kernel_cka(x, z), rel=1e-12)


def test_cka_hand_worked_on_two_rows():
    # two rows: centred, each side is a single direction, so CKA = 1 whatever the scale
    assert linear_cka([[0.0, 1.0], [2.0, 3.0]], [[5.0], [1.0]]) == pytest.approx(1.0)
    # 1-d columns: CKA is the squared Pearson correlation; int input is read as float
    assert linear_cka([[1], [2], [3], [4]], [[1], [3], [2], [4]]) == pytest.approx(0.64)


def test_cka_of_a_constant_side_is_zero_and_needs_two_rows():
    assert linear_cka([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]], [[1.0], [2.0], [4.0]]) == 0.0
    with pytest.raises(ValueError) as err:
        linear_cka([[1.0]], [[1.0]])
    assert str(err.value) == "CKA needs the same rows (at least 2) on both sides, got 1 and 1"
    with pytest.raises(ValueError) as err:
        linear_cka([[1.0], [2.0], [3.0]], [[1.0], [2.0]])
    assert str(err.value) == "CKA needs the same rows (at least 2) on both sides, got 3 and 2"


def test_cosines_ignore_the_length_of_short_rows():
    # rows far shorter than 1 are still unit vectors for the cosine; a zero row has cosine 0
    src = np.array([[1e-3, 0.0], [0.0, 0.25], [0.0, 0.0]])
    trg = np.array([[0.5, 0.0], [0.0, 1e-4], [0.3, 0.4]])
    cos = pair_cosines(src, trg)
    assert cos["cos_pairs"] == pytest.approx(2 / 3)
    # off-diagonal: (0, 1) 0, (0, 2) 0.6, (1, 0) 0, (1, 2) 0.8, row 2 zero: 1.4 / 6
    assert cos["cos_random"] == pytest.approx(1.4 / 6)
    assert cos["cos_gap"] == pytest.approx(2 / 3 - 1.4 / 6)
    assert not any(math.isnan(v) for v in cos.values())


def test_pair_cosines_hand_worked_and_refusal():
    src = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    trg = np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    s = 1 / math.sqrt(2)
    # sims rows: [1, s, 0], [0, s, 1], [s, 1, s]; diagonal 1 + s + s
    cos = pair_cosines(src, trg)
    assert cos == pytest.approx({"cos_pairs": (1 + 2 * s) / 3, "cos_random": (s + 0 + 0 + 1 + s + 1) / 6,
                                 "cos_gap": (1 + 2 * s) / 3 - (2 + 2 * s) / 6})
    two = pair_cosines(src[:2], trg[:2])
    assert two["cos_pairs"] == pytest.approx((1 + s) / 2) and two["cos_random"] == pytest.approx(s / 2)
    with pytest.raises(ValueError) as err:
        pair_cosines(src[:1], trg[:1])
    assert str(err.value) == "pair_cosines needs at least two pairs"


def test_retrieval_accuracy_hand_worked_both_ways():
    # sims rows (src -> trg): [1, s, 0], [0, s, 1], [s, 1, s] with s = 1/sqrt(2)
    src = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    trg = np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    acc = retrieval_accuracy(src, trg)
    # src -> trg: s0 -> t0 right, s1 -> t2 wrong, s2 -> t1 wrong: 1/3
    # trg -> src (columns): t0 -> s0 right, t1 -> s2 wrong, t2 -> s1 wrong: 1/3
    assert acc["accuracy_src2trg"] == pytest.approx(100 / 3)
    assert acc["accuracy_trg2src"] == pytest.approx(100 / 3)
    src2 = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    trg2 = np.array([[1.0, 0.1], [1.0, 0.9], [1.0, 1.0]])
    # src -> trg: s0 -> t0 right, s1 -> t2 (cos 1) wrong, s2 -> t2 right: 2/3
    # trg -> src: t0 -> s0 right, t1 -> s1 right, t2 -> s1 wrong: 2/3
    got = retrieval_accuracy(src2, trg2)
    assert got == pytest.approx({"accuracy": 200 / 3, "accuracy_src2trg": 200 / 3, "accuracy_trg2src": 200 / 3})
    src3 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    trg3 = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    # src -> trg: all right (s2 -> t2: cos 0.99 against 0.71); trg -> src: t2 -> s2 (0.99 against 0.8)
    assert retrieval_accuracy(src3, trg3) == {"accuracy": 100.0, "accuracy_src2trg": 100.0,
                                               "accuracy_trg2src": 100.0}
    trg4 = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # src -> trg: s0 -> t0, s1 -> t1 (tie t1/t2: lower row), s2 -> t0 (tie of all: lower row): 2/3
    # trg -> src: t0 -> s0, t1 -> s1, t2 -> s1: 2/3
    got = retrieval_accuracy(src3, trg4)
    assert got["accuracy_src2trg"] == pytest.approx(200 / 3) and got["accuracy_trg2src"] == pytest.approx(200 / 3)
    asym = retrieval_accuracy(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 1.0]]))
    assert asym == {"accuracy": 75.0, "accuracy_src2trg": 100.0, "accuracy_trg2src": 50.0}


def test_layer_measures_keys():
    src = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    got = layer_measures(src, src)
    assert set(got) == {"accuracy", "accuracy_src2trg", "accuracy_trg2src", "cos_pairs", "cos_random",
                        "cos_gap", "cka"}
    assert got["cka"] == pytest.approx(1.0) and got["cos_pairs"] == pytest.approx(1.0)


def test_language_report_best_layer_is_the_earliest_of_the_most_accurate():
    good = np.array([[1.0, 0.0], [0.0, 1.0]])
    bad = np.array([[0.0, 1.0], [1.0, 0.0]])  # every row retrieves the other one
    rep = language_report([bad, good, good], [good, good, good])
    assert rep["pairs"] == 2 and rep["best_layer"] == 1
    assert [r["layer"] for r in rep["per_layer"]] == [0, 1, 2]
    assert [r["accuracy"] for r in rep["per_layer"]] == [0.0, 100.0, 100.0]
    assert language_report([good, bad], [good, good])["best_layer"] == 0
    assert language_report([bad, bad, good], [good, good, good])["best_layer"] == 2
    three = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 2.0]])
    assert language_report([three.tolist()], [three])["pairs"] == 3
    with pytest.raises(ValueError) as err:
        language_report([good, good], [good])
    assert str(err.value) == "both sides need the same layers"


def test_cka_matrix_rows_and_columns_follow_the_languages():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(9, 3))
    by_lang = {"en": a, "sw": rng.normal(size=(9, 2)), "de": a * 2}
    m = cka_matrix(by_lang)
    assert m["languages"] == ["en", "sw", "de"]
    langs = m["languages"]
    for i, p in enumerate(langs):
        for j, q in enumerate(langs):
            assert m["matrix"][i][j] == pytest.approx(kernel_cka(by_lang[p], by_lang[q]), rel=1e-12)


# ---------------------------------------------------------------- the plot

def _report() -> dict:
    # every sixth layer only (a report may hold a subset of the layers)
    rows = lambda acc: [{"layer": 6 * i, "accuracy": a, "cos_pairs": 0.5 + i / 10,  # noqa: E731
                         "cos_random": 0.1 * i, "cos_gap": 0.5 - i / 10 + 0.1 * i, "cka": 0.2 * i}
                        for i, a in enumerate(acc)]
    return {"task": "tatoeba", "split": "test",
            "languages": {"de": {"per_layer": rows([10.0, 50.0, 40.0])},
                          "fr": {"per_layer": rows([5.0, 30.0, 60.0])}}}


def test_plot_draws_one_panel_per_measure(tmp_path, figures):
    path = tmp_path / "align.png"
    assert plot(_report(), str(path)) is True
    assert png_size(path) == (1870, 418)  # 17 x 3.8 inches at 110 dpi
    (fig,) = figures
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["retrieval accuracy (%)", "cosine: pairs (—) vs random (···)",
                                               "cosine gap", "linear CKA"]
    for ax in axes:
        assert ax.title.get_fontsize() == 9
        assert ax.get_xlabel() == "layer (0 = embeddings)" and ax.xaxis.label.get_fontsize() == 8
        grid = ax.xaxis.get_gridlines()[0]
        assert grid.get_visible() and grid.get_alpha() == 0.3
        for line in ax.get_lines():
            assert list(line.get_xdata()) == [0, 6, 12]
    acc = axes[0].get_lines()
    assert [line.get_label() for line in acc] == ["de", "fr"]
    assert [list(line.get_ydata()) for line in acc] == [[10.0, 50.0, 40.0], [5.0, 30.0, 60.0]]
    colors = [line.get_color() for line in acc]
    assert colors[0] != colors[1]
    cos = axes[1].get_lines()
    assert [line.get_linestyle() for line in cos] == ["-", ":", "-", ":"]
    assert [line.get_color() for line in cos] == [colors[0], colors[0], colors[1], colors[1]]
    assert list(cos[0].get_ydata()) == pytest.approx([0.5, 0.6, 0.7])
    assert list(cos[1].get_ydata()) == pytest.approx([0.0, 0.1, 0.2])
    assert [line.get_marker() for line in cos] == ["None"] * 4
    assert list(axes[2].get_lines()[0].get_ydata()) == pytest.approx([0.5, 0.5, 0.5])
    assert list(axes[3].get_lines()[1].get_ydata()) == pytest.approx([0.0, 0.2, 0.4])
    for ax in (axes[0], axes[2], axes[3]):
        lines = ax.get_lines()
        assert [line.get_color() for line in lines] == colors
        assert all(line.get_marker() == "o" and line.get_markersize() == 3 for line in lines)
    legend = axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["de", "fr"]
    assert legend.get_texts()[0].get_fontsize() == 7 and legend._ncols == 2
    assert all(ax.get_legend() is None for ax in axes[1:])
    assert fig._suptitle.get_text() == "tatoeba (test): alignment with English by layer"
    assert fig._suptitle.get_fontsize() == 10
    assert tuple(fig.get_size_inches()) == pytest.approx((17, 3.8))
    # one row of four panels, left to right
    boxes = [ax.get_position() for ax in axes]
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))
    assert len({round(b.y0, 6) for b in boxes}) == 1


def test_plot_title_without_task_or_split(tmp_path, figures):
    report = _report()
    del report["task"], report["split"]
    assert plot(report, str(tmp_path / "a.png"))
    assert figures[0]._suptitle.get_text() == " (): alignment with English by layer"


def test_plot_without_matplotlib(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    with caplog.at_level(logging.WARNING, logger="xstilts.eval"):
        assert plot(_report(), str(tmp_path / "a.png")) is False
    assert not (tmp_path / "a.png").exists()
    (rec,) = [r for r in caplog.records if r.name == "xstilts.eval"]
    assert rec.levelno == logging.WARNING
    assert rec.getMessage() == ("alignment plot skipped: matplotlib unavailable "
                                "(import of matplotlib halted; None in sys.modules)")


def test_measures_are_computed_in_float64_whatever_the_input():
    # float16 encoder outputs: the measures equal those of the same values held in float64
    rng = np.random.default_rng(5)
    x16 = (rng.normal(size=(12, 5)) + 3.0).astype(np.float16)
    y16 = (x16.astype(np.float64) @ rng.normal(size=(5, 4)) + rng.normal(size=(12, 4))).astype(np.float16)
    x64, y64 = x16.astype(np.float64), y16.astype(np.float64)
    assert linear_cka(x16, y16) == pytest.approx(kernel_cka(x64, y64), rel=1e-12)
    assert linear_cka(x16, y64) == pytest.approx(kernel_cka(x64, y64), rel=1e-12)
    assert linear_cka(x64, y16) == pytest.approx(kernel_cka(x64, y64), rel=1e-12)
    z16 = (x16.astype(np.float64)[:, :4] + rng.normal(0, 0.01, size=(12, 4))).astype(np.float16)
    z64 = z16.astype(np.float64)
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
    sims = unit(x64[:, :4]) @ unit(z64).T
    cos = pair_cosines(x16[:, :4], z16)
    assert cos["cos_pairs"] == pytest.approx(np.trace(sims) / 12, rel=1e-13, abs=0)
    assert cos["cos_random"] == pytest.approx((sims.sum() - np.trace(sims)) / 132, rel=1e-13, abs=0)


def test_cka_is_scale_invariant_down_to_small_values():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    assert linear_cka(1e-3 * x, 1e-3 * y) == pytest.approx(kernel_cka(x, y), rel=1e-9)
    assert linear_cka(1e-3 * x, y) == pytest.approx(kernel_cka(x, y), rel=1e-9)


def test_plot_keeps_each_languages_colour_under_any_style(tmp_path, figures):
    # a style whose cycle also sets markers and a different base font size: the colours are
    # passed on explicitly, so every panel still shows a language in one colour
    import matplotlib
    from cycler import cycler

    style = {"axes.prop_cycle": cycler(color=list("rgbcmy"), marker=list("ov^<>s")), "font.size": 7.0}
    with matplotlib.rc_context(style):
        assert plot(_report(), str(tmp_path / "a.png"))
    (fig,) = figures
    acc, cos, gap, cka = (ax.get_lines() for ax in fig.axes)
    colors = [line.get_color() for line in acc]
    assert colors == ["r", "g"]
    assert [line.get_color() for line in cos] == ["r", "r", "g", "g"]
    assert [line.get_color() for line in gap] == colors and [line.get_color() for line in cka] == colors
    assert fig._suptitle.get_fontsize() == 10 and fig.axes[0].title.get_fontsize() == 9
