"""Heat exposure: hours people spend outdoors while it is hot, and what heat notices take off it.

Computed once at the end of the run from the environment domain's records (every stay with its
grid cell and PM factor, every trip with its start, middle and end cells) and its temperature
field, like PM2.5 exposure: nothing runs per minute. It is "hot" in a cell while the air
temperature is at least ``HOT_C``. A stay counts its block's outdoor share of the hot time (the
share is recovered from the stay's PM factor, which mixes outdoor and indoor air by that share); a
trip counts all of its hot time (Simpson's rule over its start, middle and end). While a heat
notice keeps a citizen in or at a cooling shelter (``notices.py``), their stays count as indoors.
"""

from __future__ import annotations

import math

import numpy as np

from simulation.world.environment import Environment
from simulation.world.population import RESIDENT

HOT_C = 33.0  # judgement: KMA's heat-wave advisory level (feels-like 33 °C), taken on air temperature
VULNERABLE = (0, 2)  # CHILD, ELDERLY


def heat_exposure(env: Environment, windows: list[tuple[int, float, float]], now: float) -> dict[str, float]:
    """Mean hot outdoor hours per person present, and per child or elderly resident present."""
    return summarise_heat(*heat_per_person(env, windows, now))


def summarise_heat(total: np.ndarray | None, here: np.ndarray, vul: np.ndarray) -> dict[str, float]:
    """The heat KPIs from :func:`heat_per_person`: mean over people present, and over vulnerable residents."""
    if total is None:
        return {"mean": 0.0, "vulnerable": 0.0}
    return {
        "mean": float(total[here].mean()) if here.any() else math.nan,
        "vulnerable": float(total[vul].mean()) if vul.any() else math.nan,
    }


def heat_per_person(
    env: Environment, windows: list[tuple[int, float, float]], now: float
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Hot outdoor hours of every citizen id, who was present, and who is a vulnerable resident present.

    The hours are ``None`` when it was never hot (everyone then has 0; who was present is then the
    environment's, from its ``finish``).
    """
    hot = (env.temp >= HOT_C).astype(float)
    n = len(env.group)
    if not hot.any():
        here = getattr(env, "present", np.zeros(n, bool))
        return None, here, here & np.isin(env.group, VULNERABLE) & (env.kind == RESIDENT)
    inc = (hot[1:] + hot[:-1]) / 2 * (env.dt / 3600.0)
    cum = np.vstack([np.zeros((1, hot.shape[1])), np.cumsum(inc, axis=0)])

    def cum_at(cells: np.ndarray, t: np.ndarray) -> np.ndarray:
        u = np.clip(t / env.dt, 0, env.n_slots - 1.000001)
        k = u.astype(int)
        f = u - k
        return cum[k, cells] * (1 - f) + cum[k + 1, cells] * f

    indoor = env.cfg.indoor_factor
    total = np.zeros(n)
    present = np.zeros(n)
    st = np.frombuffer(env.stays, float).reshape(-1, 5)
    if env._open:  # stays still open (the environment's finish() closes them)
        extra = [(cid, c0, s0, now, f0) for cid, (s0, c0, f0, _b) in env._open.items()]
        st = np.vstack([st, np.asarray(extra, float).reshape(-1, 5)])
    if len(st):
        cit, cell = st[:, 0].astype(int), st[:, 1].astype(int)
        t0, t1 = st[:, 2], np.minimum(st[:, 3], now)
        out = np.clip((st[:, 4] - indoor) / (1 - indoor), 0, 1) if indoor < 1 else np.ones(len(st))
        total += np.bincount(cit, weights=out * (cum_at(cell, t1) - cum_at(cell, t0)), minlength=n)
        present += np.bincount(cit, weights=np.maximum(t1 - t0, 0), minlength=n)
        order = np.argsort(cit, kind="stable")
        by_cit = cit[order]
        for wc, a, b in _merged(windows):  # sheltering: the window's outdoor hot time is taken off
            sel = order[np.searchsorted(by_cit, wc, "left") : np.searchsorted(by_cit, wc, "right")]
            if not len(sel):
                continue
            lo, hi = np.maximum(t0[sel], a), np.minimum(t1[sel], b)
            ok = hi > lo
            s = sel[ok]
            total[wc] -= float((out[s] * (cum_at(cell[s], hi[ok]) - cum_at(cell[s], lo[ok]))).sum())
    if env.trips:
        tr = np.frombuffer(env.trips, float).reshape(-1, 6)
        tcit = tr[:, 0].astype(int)
        ta, tb = tr[:, 1], np.minimum(tr[:, 2], now)
        mid = (ta + tb) / 2
        ca, cm, cb = tr[:, 3].astype(int), tr[:, 4].astype(int), tr[:, 5].astype(int)
        simpson = (env._val(hot, ca, ta) + 4 * env._val(hot, cm, mid) + env._val(hot, cb, tb)) / 6
        total += np.bincount(tcit, weights=simpson * np.maximum(tb - ta, 0) / 3600, minlength=n)
        present += np.bincount(tcit, weights=np.maximum(tb - ta, 0), minlength=n)
    here = present > 0
    vul = here & np.isin(env.group, VULNERABLE) & (env.kind == RESIDENT)
    total = np.maximum(total, 0.0)
    return total, here, vul


def _merged(windows: list[tuple[int, float, float]]) -> list[tuple[int, float, float]]:
    """One citizen's overlapping windows merged, so no hot time is taken off twice."""
    out: list[tuple[int, float, float]] = []
    for cid, a, b in sorted(windows):
        if out and out[-1][0] == cid and a <= out[-1][2]:
            out[-1] = (cid, out[-1][1], max(b, out[-1][2]))
        else:
            out.append((cid, a, b))
    return out
