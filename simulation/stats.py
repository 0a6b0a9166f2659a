"""Every interval and test of the project, on ``scipy.stats``: one place, one set of rules.

Rules, stated once:

- Confidence intervals are Student t intervals of a mean (of replications, or of paired differences).
- A verdict (better / worse) needs at least :data:`MIN_PAIRS` pairs. Fewer give "too few pairs": with
  2-4 replications a difference that happens to be the same in every pair gets a zero-width interval,
  which says nothing about the next replication.
- A test's p-value is the two-sided one-sample t test of the paired differences against 0. A zero
  spread gives p = 0 for a non-zero mean and p = 1 for a zero mean (scipy's own answer is NaN there).
- Optional multiple-comparison correction across one comparison's KPIs: Holm's step-down method
  (controls the family-wise error rate without assuming independence).
- With ``m`` KPIs tested at level ``alpha`` and no real change anywhere, ``m × alpha`` of them are
  expected to look significant by chance (:func:`chance_findings`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MIN_PAIRS",
    "PairedTest",
    "chance_findings",
    "half_width",
    "holm",
    "mean_ci",
    "paired_t",
    "paired_test",
    "replications_needed",
    "se_from_ci",
    "summarise",
    "t_quantile",
    "verdict",
]

#: Pairs (replications of both scenarios with the same seeds) a verdict needs.
MIN_PAIRS = 5
#: Largest replication count :func:`replications_needed` searches.
MAX_REPLICATIONS = 100_000


def t_quantile(df: float | np.ndarray, confidence: float = 0.95) -> float | np.ndarray:
    """Two-sided Student t quantile for ``df`` degrees of freedom (NaN where ``df < 1``)."""
    d = np.asarray(df, dtype=float)
    out = np.full(d.shape, np.nan)
    ok = d >= 1
    from scipy import stats  # here, not at the top: a page that shows no interval does not load it

    out[ok] = stats.t.ppf(0.5 + confidence / 2, d[ok])
    return float(out) if out.ndim == 0 else out


def half_width(sd: float | np.ndarray, n: float | np.ndarray, confidence: float = 0.95) -> float | np.ndarray:
    """Half-width of the t interval of a mean from its sample standard deviation and size (NaN if n < 2)."""
    n_arr = np.asarray(n, dtype=float)
    q = np.asarray(t_quantile(n_arr - 1, confidence))
    out = q * np.asarray(sd, dtype=float) / np.sqrt(np.clip(n_arr, 1, None))
    return float(out) if np.ndim(out) == 0 else out


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and its Student t interval ``(mean, low, high)``; NaN values are left out, NaN bounds if < 2."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    h = float(half_width(float(x.std(ddof=1)), len(x), confidence))
    return mean, mean - h, mean + h


def paired_t(diffs: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of paired differences and its Student t interval ``(mean, low, high)`` (NaN bounds if < 2)."""
    return mean_ci(diffs, confidence)


def summarise(values: Sequence[float | None]) -> tuple[float, float]:
    """Mean and 95% half-width of replications, ignoring None and NaN."""
    mean, low, high = mean_ci([math.nan if v is None else v for v in values])
    return mean, (high - mean) if math.isfinite(low) else math.nan


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison of one KPI: mean difference, interval, spread, pairs and p-value."""

    mean: float
    low: float
    high: float
    sd: float
    n: int
    p_value: float


def paired_test(diffs: Sequence[float] | np.ndarray, confidence: float = 0.95) -> PairedTest:
    """t interval and two-sided p-value of paired differences (NaN values left out)."""
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    mean, low, high = mean_ci(d, confidence)
    n = len(d)
    if n < 2:
        return PairedTest(mean, low, high, math.nan, n, math.nan)
    sd = float(d.std(ddof=1))
    if sd == 0.0 or not np.isfinite(sd):
        p = 1.0 if mean == 0 else 0.0
    else:  # the one-sample t test against 0 (as scipy.stats.ttest_1samp, without its precision warning)
        from scipy import stats

        t = mean / (sd / math.sqrt(n))
        p = float(2 * stats.t.sf(abs(t), n - 1))
    return PairedTest(mean, low, high, sd, n, p)


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * float(p[idx])))
        out[idx] = running
    return out


def verdict(
    better: str, test: PairedTest, p: float | None = None, alpha: float = 0.05, min_pairs: int = MIN_PAIRS
) -> tuple[bool, str]:
    """``(significant, verdict)`` of one KPI's paired test; ``p`` is the (possibly adjusted) p-value to use.

    Verdicts: "better", "worse", "no significant change", "too few pairs" (fewer than ``min_pairs``
    pairs with a value), "n/a" (no pair, or no direction for a significant change).
    """
    if test.n < 2 or math.isnan(test.mean):
        return False, "n/a"
    if test.n < min_pairs:
        return False, "too few pairs"
    pv = test.p_value if p is None else p
    if not (math.isfinite(pv) and pv < alpha):
        return False, "no significant change"
    if better not in ("higher", "lower"):
        return True, "n/a"
    return True, "better" if (test.mean > 0) == (better == "higher") else "worse"


def chance_findings(tests: int, alpha: float = 0.05, corrected: bool = False) -> float:
    """KPIs expected to look significant by chance alone when nothing changed.

    ``tests × alpha`` without correction; with Holm's correction the chance of any false finding is
    at most ``alpha``, so the expected count is at most ``alpha``.
    """
    return alpha if corrected and tests else tests * alpha


def se_from_ci(low: float, high: float, n: int, confidence: float = 0.95) -> float:
    """Standard error of a mean recovered from its t interval and sample size (0 if unknown)."""
    if n < 2 or not (math.isfinite(low) and math.isfinite(high)):
        return 0.0
    return (high - low) / 2 / float(t_quantile(n - 1, confidence))


def replications_needed(sd: float, target: float, confidence: float = 0.95, at_least: int = MIN_PAIRS) -> int | None:
    """Pairs for a ``±target`` interval given the observed spread ``sd`` of the paired differences.

    The smallest ``n ≥ at_least`` with ``t(n-1) × sd / √n ≤ target``; ``None`` if the spread is
    unknown, the target is not positive, or more than 100,000 would be needed.
    """
    if not (math.isfinite(sd) and math.isfinite(target)) or target <= 0:
        return None
    if sd == 0:
        return at_least
    from scipy import stats

    z = float(stats.norm.ppf(0.5 + confidence / 2))
    n = max(at_least, 2, math.ceil((z * sd / target) ** 2))
    while n <= MAX_REPLICATIONS:
        if float(half_width(sd, n, confidence)) <= target:
            return n
        n += 1 if n < 1000 else max(1, n // 100)
    return None
