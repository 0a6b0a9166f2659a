"""Queueing theory used to validate the control-centre model (M/M/c, Erlang C)."""

from __future__ import annotations

import math

__all__ = ["erlang_c", "mmc_mean_wait"]


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with offered load ``a = λ/μ``."""
    if c < 1:
        raise ValueError(f"c must be >= 1, got {c}")
    if not 0 <= a < c:
        raise ValueError(f"offered load must be in [0, c) for a stable queue, got a={a} with c={c}")
    top = a**c / math.factorial(c) * c / (c - a)
    bottom = sum(a**k / math.factorial(k) for k in range(c)) + top
    return top / bottom


def mmc_mean_wait(lam: float, mu: float, c: int) -> float:
    """Mean time in queue W_q of an M/M/c queue (arrival rate ``lam``, service rate ``mu``)."""
    return erlang_c(c, lam / mu) / (c * mu - lam)
