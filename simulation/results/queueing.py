"""Queueing theory used to validate the queues of the model: M/M/c (Erlang C) and Little's law."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["erlang_c", "littles_law", "mmc_mean_wait", "queue_length_area", "time_in_queue", "time_in_system"]


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


def queue_length_area(df: pd.DataFrame, horizon: float, system: bool = False) -> float:
    """Time integral of the number of jobs waiting (or, ``system=True``, in queue or service) over [0, horizon].

    Rebuilt from the records as a step function: +1 when a job arrives, -1 when it leaves the
    queue (starts, or leaves unserved) or, for the system, when it ends; jobs still there at
    ``horizon`` count up to it.
    """
    if not len(df):
        return 0.0
    arr = df["arrival"].to_numpy(float)
    left = (df["end"] if system else df["start"].fillna(df["end"])).fillna(horizon).to_numpy(float)
    left = np.minimum(left, horizon)
    t = np.concatenate([arr, left])
    step = np.concatenate([np.ones(len(arr)), -np.ones(len(left))])
    order = np.lexsort((step, t))  # at equal times departures (-1) first: a zero-length stay adds nothing
    t, step = t[order], step[order]
    n = np.cumsum(step)
    return float(np.sum(n[:-1] * np.diff(t))) if len(t) > 1 else 0.0


def littles_law(df: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """L against λW per queue (waiting and in system) from per-job records over ``horizon`` seconds.

    L is the time-average number in queue rebuilt from the records; λ = arrivals / horizon; W is
    the mean time in queue of all arrivals, counting jobs unfinished at the end up to it.
    """
    rows = []
    for q, g in df.groupby("queue", sort=True):
        lam = len(g) / horizon
        for what, system in (("queue", False), ("system", True)):
            w_each = time_in_system(g, horizon) if system else time_in_queue(g, horizon)
            length = queue_length_area(g, horizon, system) / horizon  # L, the time-average number present
            lw = lam * float(w_each.mean())
            rel = abs(length - lw) / lw if lw > 0 else (0.0 if length == 0 else math.inf)
            rows.append({"queue": q, "part": what, "jobs": len(g), "L": length, "lambda_W": lw, "rel_diff": rel})
    return pd.DataFrame(rows, columns=["queue", "part", "jobs", "L", "lambda_W", "rel_diff"])


def time_in_queue(df: pd.DataFrame, horizon: float) -> pd.Series:
    """Each job's time waiting, counting jobs still waiting at ``horizon`` up to it."""
    left = df["start"].fillna(df["end"]).fillna(horizon).clip(upper=horizon)
    return (left - df["arrival"]).clip(lower=0.0)


def time_in_system(df: pd.DataFrame, horizon: float) -> pd.Series:
    """Each job's time in queue and service, counting unfinished jobs up to ``horizon``."""
    return (df["end"].fillna(horizon).clip(upper=horizon) - df["arrival"]).clip(lower=0.0)
