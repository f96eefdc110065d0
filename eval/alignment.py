"""Cross-lingual alignment of an encoder's layers, measured on parallel sentences.

Owns the measures of one layer (pure numpy, one row per sentence, row i of one language
translating row i of the other) and the report of every layer, with its plot:

  accuracy        nearest-neighbour retrieval by cosine, in percent: source -> target,
                  target -> source, and their mean (``accuracy``); ties go to the lower row
  cos_pairs       mean cosine similarity of the translation pairs (the diagonal)
  cos_random      mean cosine of non-translation pairs: the mean over every off-diagonal pair,
                  i.e. the expectation over random pairings (exact, no sampling)
  cos_gap         cos_pairs - cos_random (how much closer translations are than chance)
  cka             linear CKA (Kornblith et al. 2019) between the two languages' representation
                  matrices: ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F), columns centred;
                  1 when one is an orthogonal transform plus scaling of the other

Report (``align.json``)::

    {"task": T, "split": S, "export": E, "layers": L + 1 (0 = embeddings),
     "languages": {LANG: {"pairs": N, "per_layer": [{"layer": i, "accuracy": ..., ...}, ...],
                          "best_layer": i}},
     "cka_between_languages": {"layer": i, "languages": [...], "matrix": [[...]]}  # multi-parallel sets
    }
"""
from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numpy as np

log = logging.getLogger("xstilts.eval")


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA between two (n, d1) and (n, d2) matrices whose rows correspond."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(f"CKA needs the same rows (at least 2) on both sides, got {x.shape[0]} and {y.shape[0]}")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    num = np.linalg.norm(y.T @ x) ** 2
    den = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(num / den) if den > 0 else 0.0


def retrieval_accuracy(src: np.ndarray, trg: np.ndarray) -> dict[str, float]:
    """Percent of rows whose nearest neighbour on the other side (cosine) is their translation."""
    sims = _normalise(src) @ _normalise(trg).T
    n = sims.shape[0]
    fwd = 100.0 * float(np.mean(np.argmax(sims, axis=1) == np.arange(n)))
    bwd = 100.0 * float(np.mean(np.argmax(sims, axis=0) == np.arange(n)))
    return {"accuracy": (fwd + bwd) / 2, "accuracy_src2trg": fwd, "accuracy_trg2src": bwd}


def pair_cosines(src: np.ndarray, trg: np.ndarray) -> dict[str, float]:
    """Mean cosine of translation pairs, of all non-translation pairs, and the gap."""
    sims = _normalise(src) @ _normalise(trg).T
    n = sims.shape[0]
    if n < 2:
        raise ValueError("pair_cosines needs at least two pairs")
    pairs = float(np.trace(sims)) / n
    rand = float(sims.sum() - np.trace(sims)) / (n * n - n)
    return {"cos_pairs": pairs, "cos_random": rand, "cos_gap": pairs - rand}


def layer_measures(src: np.ndarray, trg: np.ndarray) -> dict[str, float]:
    """Every measure of one layer."""
    return {**retrieval_accuracy(src, trg), **pair_cosines(src, trg), "cka": linear_cka(src, trg)}


def language_report(src_layers: Sequence[np.ndarray], trg_layers: Sequence[np.ndarray]) -> dict:
    """Per-layer measures of one language pair; ``best_layer`` has the highest retrieval accuracy
    (the earliest on ties)."""
    if len(src_layers) != len(trg_layers):
        raise ValueError("both sides need the same layers")
    rows = [{"layer": i, **layer_measures(s, t)} for i, (s, t) in enumerate(zip(src_layers, trg_layers))]
    best = max(rows, key=lambda r: (r["accuracy"], -r["layer"]))["layer"]
    return {"pairs": int(np.asarray(src_layers[0]).shape[0]), "per_layer": rows, "best_layer": best}


def cka_matrix(by_lang: Mapping[str, np.ndarray]) -> dict:
    """Linear CKA between every two languages of a multi-parallel set (one layer)."""
    langs = list(by_lang)
    m = [[linear_cka(by_lang[a], by_lang[b]) for b in langs] for a in langs]
    return {"languages": langs, "matrix": m}


def plot(report: Mapping, path: str) -> bool:
    """One panel per measure, the layers on the x axis and one line per language; the cosine
    panel also draws translation pairs (solid) against random pairs (dotted). False when
    matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:  # plotting is optional for the numbers
        log.warning("alignment plot skipped: matplotlib unavailable (%s)", exc)
        return False
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    for lang, entry in report["languages"].items():
        rows = entry["per_layer"]
        xs = [r["layer"] for r in rows]
        line, = axes[0].plot(xs, [r["accuracy"] for r in rows], marker="o", ms=3, label=lang)
        axes[1].plot(xs, [r["cos_pairs"] for r in rows], color=line.get_color())
        axes[1].plot(xs, [r["cos_random"] for r in rows], color=line.get_color(), ls=":")
        axes[2].plot(xs, [r["cos_gap"] for r in rows], color=line.get_color(), marker="o", ms=3)
        axes[3].plot(xs, [r["cka"] for r in rows], color=line.get_color(), marker="o", ms=3)
    titles = ("retrieval accuracy (%)", "cosine: pairs (—) vs random (···)", "cosine gap", "linear CKA")
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("layer (0 = embeddings)", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"{report.get('task', '')} ({report.get('split', '')}): alignment with English by layer",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
