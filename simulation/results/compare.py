"""Paired comparison of scenarios: runs pair by seed (common random numbers), 95% paired-t CIs.

``compare(store, {"baseline": [run ids], "candidate": [run ids], ...})`` -> :class:`Comparison`.
The first group is the baseline; every other group is a candidate compared with it seed by seed.
``Comparison.table`` has one row per (KPI, candidate) with exactly :data:`TABLE_COLUMNS`; the
economics/decide code reads it, so the columns are a contract.

Also here: an index of the runs in a store, the latest complete runs of a scenario paired by
seed, and hourly / per-grid-cell means of a comparison's runs for charts and maps.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulation.errors import SandboxError, StoreError
from simulation.results.kpis import CATALOGUE
from simulation.results.places import WHERE
from simulation.results.store import Store
from simulation.stats import MIN_PAIRS, chance_findings, half_width, holm, paired_t, paired_test, verdict

__all__ = [
    "CORRECTIONS",
    "MIN_PAIRS",
    "TABLE_COLUMNS",
    "VERDICTS",
    "Comparison",
    "compare",
    "hourly_means",
    "latest_runs",
    "paired_t",
    "run_index",
    "scenario_groups",
    "spatial_means",
    "spatial_metrics",
    "variant_key",
]

#: Columns of :attr:`Comparison.table`, in order (a contract with economics/decide).
TABLE_COLUMNS = (
    "kpi",
    "unit",
    "better",
    "baseline",
    "candidate",
    "baseline_mean",
    "candidate_mean",
    "diff_mean",
    "ci_low",
    "ci_high",
    "n_pairs",
    "significant",
    "verdict",
    "sd_diff",
    "p_value",
    "p_adjusted",
)
#: The values of the ``verdict`` column ("too few pairs": fewer than :data:`simulation.stats.MIN_PAIRS`).
VERDICTS = ("better", "worse", "no significant change", "too few pairs", "n/a")
#: Multiple-comparison corrections :func:`compare` knows (across one candidate's KPIs).
CORRECTIONS = ("none", "holm")
#: Resolved-scenario keys that say which seeds ran, not what was simulated.
_NOT_VARIANT = ("seed", "replications", "name", "description", "source")
INDEX_COLUMNS = [
    "run_id",
    "scenario",
    "district",
    "seed",
    "status",
    "error",
    "created",
    "mtime",
    "scenario_digest",
    "variant",
    "code_digest",
    "district_ref",
    "start",
    "duration_s",
]


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`.

    Attributes:
        groups: label -> {seed: run_id} of the complete runs used, baseline first.
        table: one row per (KPI, candidate), columns :data:`TABLE_COLUMNS`. ``baseline_mean`` and
            ``candidate_mean`` average each side over the paired seeds where it has a value;
            ``diff_mean`` and its CI use the ``n_pairs`` pairs where both sides have one (a KPI
            with no meaning in a run, e.g. response time without incidents, is NaN).
        values: tidy KPI values of those runs: label, seed, run_id, kpi, value.
        services: per-run service status: label, seed, run_id, service, status, error, rejected_actions.
        notes: runs left out (failed, unpaired) and why, for the reader.
        meta: label -> scenario name, district, scenario digest, start (ISO) and duration of its runs.
    """

    groups: dict[str, dict[int, str]]
    table: pd.DataFrame
    values: pd.DataFrame
    services: pd.DataFrame
    notes: tuple[str, ...] = ()
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    correction: str = "none"
    confidence: float = 0.95

    def tested(self, candidate: str | None = None) -> int:
        """KPIs with a direction that had enough pairs for a verdict (those a chance finding can hit)."""
        t = self.table if candidate is None else self.table[self.table["candidate"] == candidate]
        ok = t["better"].isin(["higher", "lower"]) & (t["n_pairs"] >= MIN_PAIRS) & t["p_value"].notna()
        return int(ok.sum())

    def caption(self, candidate: str | None = None) -> str:
        """What the table's significance means: level, correction, pairs, and findings expected by chance."""
        cand = candidate or (self.candidates[0] if self.candidates else None)
        t = self.table[self.table["candidate"] == cand]
        m = self.tested(cand)
        alpha = 1 - self.confidence
        n = int(t["n_pairs"].max()) if len(t) else 0
        if n < MIN_PAIRS:
            return (
                f"{n} pairs: too few for a verdict (at least {MIN_PAIRS} are needed); "
                "differences and intervals are shown, no KPI is called better or worse."
            )
        exp = chance_findings(m, alpha, corrected=self.correction == "holm")
        how = (
            "Holm-corrected across the KPIs, so at most "
            if self.correction == "holm"
            else "no multiple-comparison correction, so about "
        )
        return (
            f"{m} KPIs tested at {alpha:.0%} on {n} pairs; {how}{exp:.1f} of them would look significant "
            "by chance alone if nothing had changed."
        )

    @property
    def labels(self) -> list[str]:
        """Group labels, baseline first."""
        return list(self.groups)

    @property
    def baseline(self) -> str:
        """The baseline's label."""
        return self.labels[0]

    @property
    def candidates(self) -> list[str]:
        """The candidates' labels, in the order given."""
        return self.labels[1:]

    def run_ids(self, label: str | None = None) -> list[str]:
        """Run ids of one group (or of all groups), ordered by seed."""
        labels = [label] if label is not None else self.labels
        return [rid for lb in labels for _, rid in sorted(self.groups[lb].items())]

    def pair_seeds(self, candidate: str) -> list[int]:
        """Seeds on which ``candidate`` pairs with the baseline."""
        return sorted(set(self.groups[self.baseline]) & set(self.groups[candidate]))


# --------------------------------------------------------------------------- statistics
# paired_t is simulation.stats.paired_t (re-exported: callers know it from here).


# --------------------------------------------------------------------------- the store's runs
def variant_key(resolved: Mapping[str, Any] | None) -> str:
    """Hash of what a resolved scenario simulates, leaving out which seeds ran (and its name).

    Runs of a scenario with seed 1 × 5 replications and seed 1 × 10 share it, so they pool.
    """
    if not resolved:
        return ""
    payload = {k: v for k, v in resolved.items() if k not in _NOT_VARIANT}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def run_index(store: Store) -> pd.DataFrame:
    """One row per complete or failed run in the store, read from the runs' ``run.json``.

    Columns: run_id, scenario, district, seed, status, error, created, mtime, scenario_digest,
    variant, code_digest, district_ref (the scenario's ``district`` entry), start, duration_s.
    """
    rows = []
    if store.runs_dir.is_dir():
        for p in store.runs_dir.glob("*/run.json"):
            if p.parent.name.startswith("."):
                continue
            try:
                m = json.loads(p.read_text())
                mtime = p.stat().st_mtime
            except (OSError, ValueError):
                continue  # a run being replaced right now; the next read sees it
            prov = m.get("provenance") or {}
            res = prov.get("scenario_resolved") or {}
            rows.append(
                {
                    "run_id": m.get("run_id", p.parent.name),
                    "scenario": m.get("scenario"),
                    "district": m.get("district"),
                    "seed": m.get("seed"),
                    "status": m.get("status"),
                    "error": m.get("error"),
                    "created": m.get("created"),
                    "mtime": mtime,
                    "scenario_digest": prov.get("scenario_digest"),
                    "variant": variant_key(res),
                    "code_digest": prov.get("code_digest"),
                    "district_ref": res.get("district"),
                    "start": res.get("start"),
                    "duration_s": _duration_s(res.get("duration")),
                }
            )
    df = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    return df.sort_values(["created", "mtime", "run_id"], ignore_index=True)


def _duration_s(v: Any) -> float:
    from simulation.config.scenario import parse_duration

    try:
        return parse_duration(v) if v is not None else math.nan
    except ValueError:
        return math.nan


def latest_runs(
    store: Store,
    scenario: str,
    digest: str | None = None,
    variant: str | None = None,
    seeds: Iterable[int] | None = None,
    index: pd.DataFrame | None = None,
) -> dict[int, str]:
    """Seed -> run id of the newest complete (``status == "ok"``) run of a scenario.

    Args:
        store: The results store.
        scenario: Scenario name.
        digest: Only runs of this resolved scenario (``Scenario.digest``).
        variant: Only runs of this :func:`variant_key` (any seeds, same simulation).
        seeds: Only these seeds.
        index: A :func:`run_index` of the store, if you have one.
    """
    df = run_index(store) if index is None else index
    sel = (df["scenario"] == scenario) & (df["status"] == "ok")
    if digest is not None:
        sel &= df["scenario_digest"] == digest
    if variant is not None:
        sel &= df["variant"] == variant
    if seeds is not None:
        sel &= df["seed"].isin(list(seeds))
    newest = df[sel].drop_duplicates("seed", keep="last")  # the index is sorted oldest first
    return {int(s): str(r) for s, r in sorted(zip(newest["seed"], newest["run_id"], strict=True))}


def scenario_groups(index: pd.DataFrame) -> pd.DataFrame:
    """The comparable groups in a run index: one row per (scenario, variant), newest first.

    Columns: label (unique, for pickers), scenario, variant, district, runs, seeds, failed, latest.
    A scenario with one variant is labelled by its name; otherwise ``name [variant, latest run]``.
    """
    cols = ["label", "scenario", "variant", "district", "runs", "seeds", "failed", "latest"]
    if index.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (name, var), g in index.groupby(["scenario", "variant"], sort=False, dropna=False):
        ok = g[g["status"] == "ok"]
        rows.append(
            {
                "scenario": name,
                "variant": var,
                "district": g["district"].iloc[-1],
                "runs": int(ok["seed"].nunique()),
                "seeds": sorted(int(s) for s in ok["seed"].unique()),
                "failed": int((g["status"] != "ok").sum()),
                "latest": g["created"].max(),
            }
        )
    out = pd.DataFrame(rows)
    multi = out["scenario"].map(out["scenario"].value_counts()) > 1
    out["label"] = [
        f"{s} [{v[:6]}, {str(t)[:16].replace('T', ' ')}]" if m else str(s)
        for s, v, t, m in zip(out["scenario"], out["variant"], out["latest"], multi, strict=True)
    ]
    return out.sort_values("latest", ascending=False, ignore_index=True)[cols]


# --------------------------------------------------------------------------- compare
def _group(
    store: Store, label: str, run_ids: Sequence[str], notes: list[str]
) -> tuple[dict[int, str], dict[str, dict]]:
    if not run_ids:
        raise SandboxError(f"scenario {label!r} has no runs to compare; run it first (python -m simulation run)")
    metas: dict[str, dict] = {}
    by_seed: dict[int, str] = {}
    failed = []
    for rid in run_ids:
        try:
            m = store.meta(rid)
        except StoreError:
            raise StoreError(f"{store.root}: scenario {label!r} lists run {rid!r}, which is not in the store") from None
        seed = int(m["seed"])
        if m.get("status") != "ok":
            reason = (m.get("error") or "no reason recorded").strip().splitlines()[0]
            failed.append(reason)
            notes.append(f"run {rid} of {label!r} (seed {seed}) failed and is left out: {reason}")
            continue
        if seed in by_seed and by_seed[seed] != rid:
            raise StoreError(
                f"scenario {label!r} has two runs with seed {seed} ({by_seed[seed]}, {rid}); "
                "pass one run per seed (runs pair by seed)"
            )
        by_seed[seed] = rid
        metas[rid] = m
    if not by_seed:
        raise StoreError(f"every run of scenario {label!r} failed; first reason: {failed[0]}")
    return dict(sorted(by_seed.items())), metas


def _pairs_error(base: str, cand: str, bs: Iterable[int], cs: Iterable[int]) -> StoreError:
    common = sorted(set(bs) & set(cs))
    head = (
        f"runs of {cand!r} and baseline {base!r} do not pair: no seed in common"
        if not common
        else f"{cand!r} and baseline {base!r} pair on only {len(common)} seed ({common[0]}); "
        "a 95% confidence interval needs at least 2 pairs"
    )
    return StoreError(
        f"{head} (seeds of {base!r}: {_seeds(bs)}; of {cand!r}: {_seeds(cs)}). Runs pair by seed (common random "
        "numbers): run both scenarios with the same seed and at least 2 replications"
    )


def _seeds(seeds: Iterable[int]) -> str:
    s = sorted(seeds)
    return ", ".join(map(str, s[:8])) + (f", … ({len(s)} seeds)" if len(s) > 8 else "")


def compare(
    store: Store, groups: Mapping[str, Sequence[str]], confidence: float = 0.95, correction: str = "none"
) -> Comparison:
    """Compare scenarios run by run: the first group is the baseline, the others candidates.

    Args:
        store: The results store holding the runs.
        groups: Label (usually the scenario name) -> run ids of its replications.
        confidence: Level of the paired-t confidence intervals.
        correction: "none" or "holm" (Holm's correction across each candidate's KPIs).

    Raises:
        SandboxError: fewer than two groups, or a group without runs.
        StoreError: a run is not in the store, two runs of a group share a seed, every run of a
            group failed, the groups ran in different districts, or a candidate pairs with the
            baseline on fewer than 2 seeds.
    """
    if correction not in CORRECTIONS:
        raise SandboxError(f"unknown multiple-comparison correction {correction!r}; allowed: {', '.join(CORRECTIONS)}")
    if len(groups) < 2:
        raise SandboxError(
            f"a comparison needs a baseline and at least one candidate; got {len(groups)} scenario(s)"
            + (f" ({', '.join(map(repr, groups))})" if groups else "")
        )
    notes: list[str] = []
    runs: dict[str, dict[int, str]] = {}
    metas: dict[str, dict] = {}
    meta: dict[str, dict[str, Any]] = {}
    for label, ids in groups.items():
        runs[label], m = _group(store, label, list(ids), notes)
        metas |= m
        first = m[next(iter(runs[label].values()))]
        res = (first.get("provenance") or {}).get("scenario_resolved") or {}
        meta[label] = {
            "scenario": first.get("scenario"),
            "district": first.get("district"),
            "district_ref": res.get("district"),
            "scenario_digest": (first.get("provenance") or {}).get("scenario_digest"),
            "start": res.get("start"),
            "duration_s": _duration_s(res.get("duration")),
        }
    base, *cands = list(runs)
    for c in cands:
        if meta[c]["district"] != meta[base]["district"]:
            raise StoreError(
                f"{c!r} ran in district {meta[c]['district']!r} but baseline {base!r} in "
                f"{meta[base]['district']!r}; a paired comparison needs the same district"
            )
        common = set(runs[base]) & set(runs[c])
        if len(common) < 2:
            raise _pairs_error(base, c, runs[base], runs[c])
        for lb in (base, c):
            extra = sorted(set(runs[lb]) - common)
            if extra:
                notes.append(
                    f"seeds {_seeds(extra)} of {lb!r} have no partner in "
                    f"{c if lb == base else base!r} and are left out of that pair"
                )

    values = _values(store, runs)
    table = _table(values, base, cands, runs, confidence, correction)
    services = _services(runs, metas)
    return Comparison(
        groups=runs,
        table=table,
        values=values,
        services=services,
        notes=tuple(notes),
        meta=meta,
        correction=correction,
        confidence=confidence,
    )


def _values(store: Store, runs: dict[str, dict[int, str]]) -> pd.DataFrame:
    ids = sorted({rid for g in runs.values() for rid in g.values()})
    kp = store.kpis(ids)[["run_id", "kpi", "value"]]
    frames = [kp[kp["run_id"].isin(list(g.values()))].assign(label=label) for label, g in runs.items()]
    df = pd.concat(frames, ignore_index=True)
    seed_of = {rid: s for g in runs.values() for s, rid in g.items()}
    df["seed"] = df["run_id"].map(seed_of).astype(int)
    df["value"] = df["value"].astype(float)
    return df[["label", "seed", "run_id", "kpi", "value"]]


def _kpi_order(names: Iterable[str]) -> list[str]:
    present = set(names)
    return [k for k in CATALOGUE if k in present] + sorted(present - set(CATALOGUE))


def _table(
    values: pd.DataFrame,
    base: str,
    cands: list[str],
    runs: dict[str, dict[int, str]],
    confidence: float,
    correction: str = "none",
) -> pd.DataFrame:
    wide = values.pivot_table(index=["kpi", "seed"], columns="label", values="value", aggfunc="first", dropna=False)
    rows = []
    for c in cands:
        seeds = sorted(set(runs[base]) & set(runs[c]))
        for k in _kpi_order(values["kpi"].unique()):
            spec = CATALOGUE.get(k)
            better = spec.better if spec else "none"
            b = np.array([_cell(wide, k, s, base) for s in seeds])
            v = np.array([_cell(wide, k, s, c) for s in seeds])
            ok = ~(np.isnan(b) | np.isnan(v))
            test = paired_test(v[ok] - b[ok], confidence)
            rows.append(
                {
                    "kpi": k,
                    "unit": spec.unit if spec else "",
                    "better": better,
                    "baseline": base,
                    "candidate": c,
                    "baseline_mean": _nanmean(b),
                    "candidate_mean": _nanmean(v),
                    "diff_mean": test.mean,
                    "ci_low": test.low,
                    "ci_high": test.high,
                    "n_pairs": int(ok.sum()),
                    "sd_diff": test.sd,
                    "p_value": test.p_value,
                    "_test": test,
                }
            )
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=list(TABLE_COLUMNS)).astype({"n_pairs": int, "significant": bool})
    alpha = 1 - confidence
    df["p_adjusted"] = df["p_value"]
    if correction == "holm":
        for c in cands:
            sel = (df["candidate"] == c) & df["better"].isin(["higher", "lower"]) & (df["n_pairs"] >= MIN_PAIRS)
            df.loc[sel, "p_adjusted"] = holm(df.loc[sel, "p_value"].to_numpy(float))
    judged = [verdict(b, t, p, alpha) for b, t, p in zip(df["better"], df["_test"], df["p_adjusted"], strict=True)]
    df["significant"] = [s for s, _ in judged]
    df["verdict"] = [v for _, v in judged]
    return df[list(TABLE_COLUMNS)].astype({"n_pairs": int, "significant": bool})


def _nanmean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if len(x) else math.nan


def _cell(wide: pd.DataFrame, kpi: str, seed: int, label: str) -> float:
    try:
        return float(wide.at[(kpi, seed), label])
    except KeyError:
        return math.nan


def _services(runs: dict[str, dict[int, str]], metas: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for label, g in runs.items():
        for seed, rid in g.items():
            for name, s in (metas[rid].get("services") or {}).items():
                rows.append(
                    {
                        "label": label,
                        "seed": seed,
                        "run_id": rid,
                        "service": name,
                        "status": s.get("status", "?"),
                        "error": s.get("error"),
                        "rejected_actions": s.get("rejected_actions", 0),
                    }
                )
    cols = ["label", "seed", "run_id", "service", "status", "error", "rejected_actions"]
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------- charts and maps
def hourly_means(store: Store, comparison: Comparison, kpis: Sequence[str] | None = None) -> pd.DataFrame:
    """Hourly KPI rows of the compared runs, averaged over each group's runs, with a 95% t-interval.

    Columns: label, t (seconds from the start), kpi, mean, low, high (the interval of the mean over
    the group's runs that hour; NaN with fewer than 2 runs), n (runs with a value that hour).
    """
    cols = ["label", "t", "kpi", "mean", "low", "high", "n"]
    ts = store.table("timeseries", comparison.run_ids())
    if ts.empty:
        return pd.DataFrame(columns=cols)
    wanted = set(kpis) if kpis is not None else set(CATALOGUE)
    ts = ts[ts["metric"].isin(wanted)]
    label_of = {rid: lb for lb, g in comparison.groups.items() for rid in g.values()}
    ts = ts.assign(label=ts["run_id"].map(label_of))
    out = ts.groupby(["label", "t", "metric"], sort=True)["value"].agg(["mean", "std", "count"]).reset_index()
    half = half_width(out["std"].to_numpy(float), out["count"].to_numpy(float))
    out["low"], out["high"] = out["mean"] - half, out["mean"] + half
    out = out.rename(columns={"metric": "kpi", "count": "n"})
    return out[cols]


def spatial_means(store: Store, comparison: Comparison, metric: str, cell_m: float = 100.0) -> pd.DataFrame:
    """Per grid cell (``cell_m`` squares in local metres) value of a mapped KPI, per group, averaged over runs.

    A run's cells are first re-gridded the way the KPI adds up (``results.places``): a ``sum`` KPI's
    cells add up, a mean or a share is weighted by each cell's ``n``; so every group's values sit on
    the same grid, can be subtracted, and a map's cells add up to its KPI. Then the runs of a group
    are averaged (a ``sum`` KPI counts 0 in a run with nothing in the cell). Columns: label, gx, gy,
    x, y (cell centre, local metres), value, n (runs with something in the cell).
    """
    cols = ["label", "gx", "gy", "x", "y", "value", "n"]
    sp = store.table("spatial", comparison.run_ids())
    if sp.empty:
        return pd.DataFrame(columns=cols)
    sp = sp[sp["metric"] == metric]
    if sp.empty:
        return pd.DataFrame(columns=cols)
    where = WHERE.get(metric)
    summed = where is not None and where.how == "sum"
    label_of = {rid: lb for lb, g in comparison.groups.items() for rid in g.values()}
    weight = sp["n"].fillna(1.0).to_numpy(float) if "n" in sp.columns else np.ones(len(sp))  # older runs: points
    value = sp["value"].to_numpy(float)
    sp = sp.assign(
        label=sp["run_id"].map(label_of),
        gx=np.floor(sp["x"].to_numpy(float) / cell_m).astype(int),
        gy=np.floor(sp["y"].to_numpy(float) / cell_m).astype(int),
        _w=weight,
        _wv=value * weight,
    )
    g = sp.groupby(["label", "run_id", "gx", "gy"], sort=False)
    per_run = (g["value"].sum() if summed else g["_wv"].sum() / g["_w"].sum()).rename("value").reset_index()
    out = per_run.groupby(["label", "gx", "gy"], sort=True)["value"].agg(["mean", "sum", "count"]).reset_index()
    if summed:
        runs = out["label"].map({lb: len(g) for lb, g in comparison.groups.items()}).to_numpy(float)
        out["mean"] = out["sum"].to_numpy(float) / runs
    out = out.rename(columns={"mean": "value", "count": "n"})
    out["x"] = (out["gx"] + 0.5) * cell_m
    out["y"] = (out["gy"] + 0.5) * cell_m
    return out[cols]


def spatial_metrics(store: Store, run_ids: Sequence[str]) -> list[str]:
    """The mapped KPIs the ``spatial`` table holds for these runs, in catalogue order."""
    if not run_ids:
        return []
    p = [store.runs_dir / r / "spatial.parquet" for r in run_ids[:3]]
    names: set[str] = set()
    for f in p:
        if Path(f).is_file():
            names |= set(pd.read_parquet(f, columns=["metric"])["metric"].unique())
    return _kpi_order(names)
