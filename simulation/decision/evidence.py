"""The evidence behind a decision, gathered from the results store.

The CLI runs (or reuses) the scenarios and their fault variants, the web app picks stored runs;
both then call :func:`evaluate_runs`, which compares the runs (``simulation.results.compare``), reads the
candidate's manifest, the district's figures and each run's service status, and evaluates.

Fault variants: economics and effectiveness use a normal day (the scenarios with their
infrastructure faults removed); reliability compares that with the same pair under faults — the
scenarios' own fibre cuts and power outages, or else :func:`standard_faults`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from simulation.config.district import District, list_districts, load_district
from simulation.config.scenario import FaultSpec, Scenario
from simulation.decision.cashflow import EconomicsInputs
from simulation.decision.costs import ServiceCosts
from simulation.decision.evaluate import Evaluation, InfraUsage, evaluate
from simulation.decision.scaleup import DistrictFigures
from simulation.decision.unit_values import ROOT, UnitValues
from simulation.errors import DecideError, SandboxError
from simulation.results.compare import Comparison, compare
from simulation.results.store import Store
from simulation.stats import MIN_PAIRS

__all__ = [
    "FAULT_SUFFIX",
    "INFRA_FAULTS",
    "Evidence",
    "evaluate_runs",
    "fault_variants",
    "find_manifests",
    "standard_faults",
]

INFRA_FAULTS = ("fibre_cut", "power_outage")
FAULT_SUFFIX = " (faults)"


def standard_faults(sc: Scenario, d: District) -> tuple[FaultSpec, ...]:
    """A fibre cut of the first trunk for a fifth of the run, then a power outage on every tenth pole."""
    dur = sc.duration
    trunks = sorted(lk.id for lk in d.links if lk.level == "trunk")
    poles = tuple(p.id for p in d.poles[::10])
    out = []
    if trunks:
        out.append(FaultSpec(kind="fibre_cut", link=trunks[0], at=f"+{int(dur * 0.3)}s", duration=dur * 0.2))
    if poles:
        out.append(FaultSpec(kind="power_outage", poles=poles, at=f"+{int(dur * 0.6)}s", duration=dur * 0.1))
    return tuple(out)


def fault_variants(sc: Scenario, d: District) -> tuple[Scenario, Scenario]:
    """``(clean, faulted)``: the scenario without infrastructure faults, and with them."""
    own = tuple(f for f in sc.faults if f.kind in INFRA_FAULTS)
    clean = sc.with_(faults=[f.model_dump(mode="json") for f in sc.faults if f.kind not in INFRA_FAULTS]) if own else sc
    faults = own or standard_faults(sc, d)
    faulted = sc.with_(
        name=clean.name + FAULT_SUFFIX, faults=[f.model_dump(mode="json") for f in (*clean.faults, *faults)]
    )
    return clean, faulted


def _plugin_dir(use: str, scenario_source: str) -> Path | None:
    p = Path(use)
    bases = [Path.cwd(), Path(scenario_source).parent if scenario_source else None, ROOT, ROOT / "plugins"]
    for base in bases:
        if base is None:
            continue
        cand = p if p.is_absolute() else base / p
        if (cand / "plugin.yaml").is_file():
            return cand
    return None


def find_manifests(candidate: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[tuple[str, Path | None]]:
    """The candidate's services that the baseline lacks (or runs differently), with their plugin folders.

    Both arguments are resolved scenarios (``provenance.scenario_resolved`` of a run).
    """

    def key(s: Mapping[str, Any]) -> str:
        return s.get("name") or str(s["use"]).split(":", 1)[-1].rstrip("/").split("/")[-1]

    base = {key(s): s for s in baseline.get("services", [])}
    out = []
    for s in candidate.get("services", []):
        if base.get(key(s)) == s:
            continue
        use = str(s["use"])
        out.append((key(s), None if use.startswith("builtin:") else _plugin_dir(use, candidate.get("source", ""))))
    return out


def _costs(name: str, folder: Path | None, manifest: str | Path | None) -> ServiceCosts:
    from simulation.plugins.manifest import load_manifest

    path = Path(manifest) if manifest is not None else folder
    assert path is not None
    return ServiceCosts.from_manifest(load_manifest(path, check_entry=False), source=str(path))


class Evidence:
    """What :func:`evaluate_runs` read besides the evaluation: comparisons, services, notes."""

    def __init__(
        self,
        comparison: Comparison,
        faults: Comparison | None,
        services: list[str],
        notes: list[str],
        district: District,
    ) -> None:
        self.comparison, self.faults, self.services, self.notes, self.district = (
            comparison,
            faults,
            services,
            notes,
            district,
        )

    def run_ids(self) -> dict[str, list[str]]:
        """Exact run ids per group (baseline, candidate, and their fault variants)."""
        out = {
            "baseline": self.comparison.run_ids(self.comparison.baseline),
            "candidate": self.comparison.run_ids(self.comparison.candidates[0]),
        }
        if self.faults is not None:
            out["baseline_faults"] = self.faults.run_ids(self.faults.baseline)
            out["candidate_faults"] = self.faults.run_ids(self.faults.candidates[0])
        return out


def _operator_hours(d: District, run_hours: float) -> float | None:
    """On-duty operator-hours in a run: day shift (07-19) and night shift operators over the run's hours."""
    cc = d.meta.control_centre
    per_day = 12 * cc.operators_day + 12 * cc.operators_night
    return per_day * run_hours / 24 or None


def _drivers(resolved: Mapping[str, Any], workers: float, visitors: float) -> float | None:
    """Drivers arriving to park in a run: workers and visitors times their drive shares (scenario settings)."""
    from simulation.config.scenario import MobilityDemand

    m = MobilityDemand.model_validate((resolved.get("demand") or {}).get("mobility") or {})
    return workers * m.drive_share_workers + visitors * m.drive_share_visitors or None


def evaluate_runs(
    store: Store,
    groups: Mapping[str, Sequence[str]],
    unit_values: UnitValues,
    inputs: EconomicsInputs | None = None,
    *,
    fault_groups: Mapping[str, Sequence[str]] | None = None,
    weights: Mapping[str, Any] | None = None,
    manifest: str | Path | None = None,
    correction: str = "none",
    assumptions_check: bool = True,
) -> tuple[Evaluation, Evidence]:
    """Compare stored runs (``{baseline label: ids, candidate label: ids}``) and evaluate the candidate."""
    if len(groups) != 2:
        raise DecideError("decide", "needs exactly a baseline and one candidate", value=list(groups))
    cmp = compare(store, groups, correction=correction)
    cand = cmp.candidates[0]
    fcmp = compare(store, fault_groups, correction=correction) if fault_groups else None
    first = store.meta(cmp.run_ids(cand)[0])
    resolved = (first.get("provenance") or {}).get("scenario_resolved") or {}
    resolved = resolved | {"source": (first.get("provenance") or {}).get("scenario_source", "")}
    base_res = (store.meta(cmp.run_ids(cmp.baseline)[0]).get("provenance") or {}).get("scenario_resolved") or {}
    new = find_manifests(resolved, base_res)
    notes = list(cmp.notes)
    pairs = int(cmp.table["n_pairs"].max()) if len(cmp.table) else 0
    if pairs < MIN_PAIRS:
        notes.append(
            f"only {pairs} pairs: too few for any KPI to be called better or worse (at least {MIN_PAIRS}); "
            "effects count as zero in the money, with their spread"
        )
    if not new:
        notes.append("the candidate runs the same services as the baseline (a change of scenario, not of service)")
    plugins = [(n, f) for n, f in new if f is not None]
    builtins = [n for n, f in new if f is None]
    if builtins and not plugins and manifest is None:
        notes.append(f"changed built-in services ({', '.join(builtins)}) have no manifest: no costs, pricing or TRL")
    costs = ServiceCosts(name=cand)
    costed = None
    if plugins or manifest is not None:
        name, folder = plugins[0] if plugins else (cand, None)
        costs = _costs(name, folder, manifest)
        costed = name
    notes += [f"{n}: only the first plugin's manifest ({plugins[0][0]}) is costed" for n, _ in plugins[1:]]
    try:
        district = load_district(resolved.get("district") or first["district"])
    except SandboxError as exc:
        raise DecideError("decide", f"cannot load the candidate's district ({exc})") from None
    services = [n for n, _ in new]
    statuses: dict[str, int] = {}
    installed = []  # per clean run: the costed service's installs (built-ins install nothing and do not count)
    for comp, label in ((cmp, cand), *(((fcmp, fcmp.candidates[0]),) if fcmp else ())):
        for rid in comp.run_ids(label):
            svc = store.meta(rid).get("services") or {}
            for n in services:
                if n in svc:
                    st = str(svc[n].get("status", "?"))
                    statuses[st] = statuses.get(st, 0) + 1
            if comp is cmp and costed is not None and costed in svc:
                installed.append(len(svc[costed].get("installed") or []))
    duration = cmp.meta[cand].get("duration_s") or 86400.0
    run_hours = duration / 3600 if math.isfinite(duration) else 24.0
    pop = district.meta.population
    scale = float(resolved.get("population_scale") or 1.0)
    people = (pop.residents + pop.workers + pop.visitors) * scale
    inp = (inputs or EconomicsInputs()).model_copy(
        update={
            "run_hours": run_hours,
            "people_present": people,
            "operator_hours": _operator_hours(district, run_hours),
            "arriving_drivers": _drivers(resolved, pop.workers * scale, pop.visitors * scale),
        }
    )
    ev = evaluate(
        cmp.table,
        costs,
        unit_values,
        inp,
        candidate=cand,
        weights=weights,
        pilot=DistrictFigures.from_district(district, costs.hardware),
        peers=[DistrictFigures.from_district(load_district(p), costs.hardware) for p in list_districts()],
        fault_table=fcmp.table if fcmp else None,
        statuses=statuses,
        infra=InfraUsage.from_district(district, costs, sum(installed) / len(installed) if installed else None),
        population=people,
        source=f"comparison of {cmp.baseline!r} and {cand!r}",
        assumptions_check=assumptions_check,
    )
    return ev, Evidence(cmp, fcmp, services, notes, district)
