"""Is a difference between two settings more than noise? Paired bootstrap tests and intervals.

Two pairings, the same test:

* over test items: both settings predicted the same items, so each resample of item indices
  scores both on the same items (Koehn 2004; Berg-Kirkpatrick et al. 2012). ``score(indices,
  side)`` computes a setting's metric on a resample, so corpus-level metrics (span F1 of a
  tagging set, where an item is a sentence) are recomputed, not averaged per item;
* over seeds: the settings ran with the same seeds, and each seed's pair of scores is one item
  (``paired_seed_test``); seeds present on one side only are dropped from the pairing.

For a difference ``delta = metric(b) - metric(a)`` on the full set, the bootstrap draws index
resamples with replacement and recomputes the difference on each. Reported: ``delta``, the 95%
percentile interval ``[ci_low, ci_high]`` of the resampled differences, and the two-sided
p-value of "no difference" by the shift method: the share of resampled differences at least
``|delta|`` away from ``delta`` (they estimate the spread under the null). Identical predictions
give ``delta = 0`` and p = 1. When the set is small enough (``n ** n <= resamples``) every
resample is enumerated and the figures are exact, which the tests check by hand.
"""
from __future__ import annotations

import itertools
import math
import random
from typing import Callable, Mapping, Sequence

RESAMPLES = 2000
ALPHA = 0.05


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """The smallest value with at least a share ``q`` of the values at or below it."""
    k = max(0, math.ceil(q * len(sorted_values)) - 1)
    return sorted_values[min(k, len(sorted_values) - 1)]


def _resamples(n: int, count: int, seed: int) -> tuple[list[tuple[int, ...]], bool]:
    """Index resamples of ``range(n)``: all of them when there are at most ``count`` (exact),
    else ``count`` seeded draws with replacement."""
    if n ** n <= count:
        return list(itertools.product(range(n), repeat=n)), True
    rng = random.Random(seed)
    return [tuple(rng.randrange(n) for _ in range(n)) for _ in range(count)], False


def paired_bootstrap(n: int, score: Callable[[Sequence[int], str], float], resamples: int = RESAMPLES,
                     seed: int = 0, alpha: float = ALPHA) -> dict:
    """Paired bootstrap of ``score(idx, "b") - score(idx, "a")`` over ``n`` paired items."""
    if n < 1:
        raise ValueError("paired_bootstrap: no paired items")
    full = list(range(n))
    delta = score(full, "b") - score(full, "a")
    draws, exact = _resamples(n, resamples, seed)
    diffs = sorted(score(idx, "b") - score(idx, "a") for idx in draws)
    far = sum(1 for d in diffs if abs(d - delta) >= abs(delta) - 1e-12)
    p = far / len(diffs) if exact else (far + 1) / (len(diffs) + 1)
    return {"delta": delta, "ci_low": _percentile(diffs, alpha / 2), "ci_high": _percentile(diffs, 1 - alpha / 2),
            "p_value": min(1.0, p), "n": n, "resamples": len(diffs), "exact": exact}


def paired_item_test(a: Sequence[float], b: Sequence[float], **kw) -> dict:
    """Per-item scores of two settings on the same items (accuracy: 1/0; QA: each question's
    F1), compared by their means."""
    if len(a) != len(b):
        raise ValueError(f"paired_item_test: {len(a)} items against {len(b)}")

    def score(idx: Sequence[int], side: str) -> float:
        values = a if side == "a" else b
        return 100.0 * sum(values[i] for i in idx) / len(idx)

    return paired_bootstrap(len(a), score, **kw)


def paired_seed_test(a: Mapping[int, float], b: Mapping[int, float], **kw) -> dict | None:
    """Scores per seed of two settings, paired by seed (None without a shared seed)."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    xs, ys = [a[s] for s in seeds], [b[s] for s in seeds]

    def score(idx: Sequence[int], side: str) -> float:
        values = xs if side == "a" else ys
        return sum(values[i] for i in idx) / len(idx)

    out = paired_bootstrap(len(seeds), score, **kw)
    out["seeds"] = seeds
    return out


def beats(test: Mapping | None) -> bool:
    """Better than the reference by more than the interval: the whole 95% interval above 0."""
    return bool(test) and test["ci_low"] > 0
