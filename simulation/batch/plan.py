"""A study made concrete: its design points as validated scenarios, their seeds and run identities.

:func:`make_plan` does every check a study needs before anything runs: the study file, the base
scenario, each factor's path, the budget, and each design point's scenario (re-validated through
:mod:`simulation.config.scenario`, built-in service params through their bounds, faults against the
district). A :class:`Plan` holds only small per-point facts; scenarios are rebuilt when submitted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulation.batch.designs import Design, design_size, make_design
from simulation.batch.study import AdaptiveSpec, Study, StudyError, apply_factors, check_factor_path, load_study
from simulation.config._yaml import parse_model
from simulation.config.scenario import (
    SCENARIOS_DIR,
    Scenario,
    ServiceSpec,
    check_against_district,
    load_scenario,
    plain_path,
    scenario_district,
)
from simulation.errors import ScenarioError
from simulation.results.run import code_digest, replication_seeds, run_id_for, services_digest

__all__ = ["Plan", "Point", "make_plan"]


@dataclass(frozen=True)
class Point:
    """A design point: its factor values and what its runs' identities are made of."""

    id: int
    values: dict[str, Any]
    scenario_digest: str
    district_digest: str
    plugins_digest: str


@dataclass(frozen=True)
class _Digest:
    """What :func:`run_id_for` reads of a scenario (its digest), without keeping the scenario."""

    digest: str


@dataclass
class Plan:
    """A validated study: base scenario, design points, replication seeds and policy."""

    study: Study
    path: Path
    base: Scenario
    resolved: dict[str, Any]
    design: Design
    points: list[Point]
    first_seed: int
    adaptive: AdaptiveSpec | None
    fixed: int

    @property
    def max_replications(self) -> int:
        """Replications a point gets at most."""
        return self.adaptive.max if self.adaptive else self.fixed

    @property
    def initial_replications(self) -> int:
        """Replications every point gets before any adaptive decision."""
        return self.adaptive.min if self.adaptive else self.fixed

    def seeds(self, n: int | None = None) -> list[int]:
        """Seeds of replications 0..n-1, shared by every point (common random numbers)."""
        return replication_seeds(self.first_seed, self.max_replications if n is None else n)

    def scenario_data(self, pid: int) -> dict[str, Any]:
        """The resolved scenario of point ``pid`` as plain data (what a worker validates and runs)."""
        data = apply_factors(self.resolved, self.points[pid].values)
        data["source"] = self.base.source  # plugin folders resolve relative to the base scenario's file
        return data

    def run_id(self, pid: int, seed: int) -> str:
        """Identity of point ``pid``'s run with ``seed`` (the same hash :func:`run_scenario` gives it)."""
        p = self.points[pid]
        return run_id_for(_Digest(p.scenario_digest), p.district_digest, seed, p.plugins_digest)  # type: ignore[arg-type]

    @property
    def digest(self) -> str:
        """Identity of the study's design (not of the code): an output folder holds one plan."""
        doc = {
            "base": self.base.digest,
            "paths": list(self.design.paths),
            "points": [p.scenario_digest for p in self.points],
            "seed": self.first_seed,
            "replications": self.study.replications.model_dump(mode="json") if self.study.replications else self.fixed,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        """What ``OUT/plan.json`` records: enough to analyse the results without the study file."""
        from simulation.batch.designs import salib_problem

        return {
            "study": self.study.name,
            "description": self.study.description,
            "study_file": str(self.path),
            "plan_digest": self.digest,
            "base_scenario": self.base.name,
            "base_source": self.base.source,
            "district": self.base.district,
            "factors": [
                {"path": p, "label": lab, **self.study.factors[p].model_dump(mode="json", exclude_none=True)}
                for p, lab in zip(self.design.paths, self.design.labels, strict=True)
            ],
            "design": self.study.design.model_dump(mode="json"),
            "problem": salib_problem(self.study),
            "sample": None if self.design.sample is None else self.design.sample.tolist(),
            "points": len(self.points),
            "first_seed": self.first_seed,
            "replications": {"fixed": self.fixed}
            if self.adaptive is None
            else {"adaptive": self.adaptive.model_dump(mode="json")},
            "kpis": list(self.study.kpis) or (list(self.adaptive.target) if self.adaptive else []),
            "budget": self.study.budget,
            "code_digest": code_digest(),
        }


def _base_path(study: Study, path: Path) -> Path:
    shown = study.base if len(study.base) <= 80 else study.base[:77] + "..."
    if not plain_path(study.base):
        raise StudyError(
            path,
            f"must be a scenario file or name (at most 1,024 characters, no control characters); got {shown!r}",
            key="base",
        )
    try:
        p = (path.parent / study.base).resolve()
        if p.is_file():
            return p
        named = SCENARIOS_DIR / (study.base if study.base.endswith(".yaml") else f"{study.base}.yaml")
        if named.is_file():
            return named
    except (OSError, ValueError) as exc:
        raise StudyError(
            path,
            f"cannot be opened ({getattr(exc, 'strerror', None) or type(exc).__name__}); got {shown!r}",
            key="base",
        ) from None
    raise StudyError(path, f"no scenario file {shown!r} next to the study (nor in scenarios/)", key="base")


class _Services:
    """Checks a point's services' params (built-in bounds, plugin manifests) and gives their code identity.

    Plugins are found relative to the base scenario's file, as the run will; their manifests are read
    once and no plugin code is imported or started.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self.plugins: dict[str, Any] = {}

    def _plugin(self, use: str) -> Any:
        if use not in self.plugins:
            try:
                from simulation.plugins import resolve_plugin
            except ImportError:  # plugins not installed: the run's host will say so
                raise ScenarioError(
                    self.where, f"only built-in services are available; got {use!r}", key="services.use"
                ) from None
            self.plugins[use] = resolve_plugin(use, self.where)
        return self.plugins[use]

    def check(self, services: tuple[ServiceSpec, ...]) -> str:
        """Raise ScenarioError for a param out of bounds; return the services' code digest."""
        from simulation.plugins.builtin import BUILTINS
        from simulation.plugins.runners import check_builtin_params as check_params

        codes = []
        for s in services:
            if s.use.startswith("builtin:"):
                b = BUILTINS.get(s.use.split(":", 1)[1])
                if b is not None:
                    check_params(s.key, s.params, b.params, self.where)
                codes.append(s.use)
            else:
                from simulation.plugins import check_params as check_plugin_params

                plugin = self._plugin(s.use)
                check_plugin_params(plugin.manifest, s.params, self.where, s.key)
                codes.append(plugin.code)
        return services_digest(codes)


def _check_point(
    plan_path: Path, pid: int, desc: str, sc_data: dict[str, Any], paths: tuple[str, ...], services: _Services
) -> tuple[Scenario, str]:
    """The point's validated scenario and its services' code digest, or a StudyError naming the factor."""
    try:
        sc = parse_model(Scenario, sc_data, plan_path, ScenarioError)
        return sc, services.check(sc.services)
    except ScenarioError as exc:
        key = exc.key or ""
        msg = exc.msg
        if key in ("", "(top level)"):  # a check across fields: name the factor it mentions, not the whole dict
            msg = msg.split("; got ")[0]
            key = next((p for p in paths if p.rsplit(".", 1)[-1] in msg), "")
        factor = next((p for p in paths if key == p or key.startswith(p + ".") or p.startswith(key + ".")), None)
        raise StudyError(
            plan_path,
            f"design point {pid} ({desc}) gives an invalid scenario{'' if factor else f' at {key}'}: {msg}",
            key=f"factors.{factor}" if factor else "factors",
        ) from None


def make_plan(path: str | Path) -> Plan:
    """Load a study and check everything about it before anything runs (raises :class:`StudyError`)."""
    study, spath = load_study(path)
    base = load_scenario(_base_path(study, spath))
    resolved = base.model_dump(mode="json", exclude={"source"})
    for fpath in study.factors:
        try:
            check_factor_path(fpath, resolved, base.source)
        except ValueError as exc:
            raise StudyError(spath, str(exc), key=f"factors.{fpath}") from None
    reps = study.replications
    adaptive = reps.adaptive if reps is not None else None
    fixed = (reps.fixed if reps is not None and reps.fixed else base.replications) if adaptive is None else 0
    per_point = adaptive.max if adaptive else fixed
    n_points = design_size(study)
    if n_points * per_point > study.budget:
        how = "adaptive max " if adaptive else ""
        raise StudyError(
            spath,
            f"the design needs up to {n_points * per_point:,} runs ({n_points:,} {study.design.kind} "
            f"points × {how}{per_point} replications), over the budget of {study.budget:,} runs; lower "
            "design.samples, the levels or the replications, or raise 'budget'",
            key="budget",
        )
    design = make_design(study)
    districts: dict[str, Any] = {}
    services = _Services(base.source)
    points = []
    for pid, row in enumerate(design.points):
        values = dict(zip(design.paths, row, strict=True))
        data = apply_factors(resolved, values)
        data["source"] = base.source  # plugin folders resolve relative to the base scenario's file
        desc = ", ".join(f"{lab}={v!r}" for lab, v in zip(design.labels, row, strict=True))
        sc, plugins = _check_point(spath, pid, desc, data, design.paths, services)
        if sc.district not in districts:
            districts[sc.district] = scenario_district(sc)
        district = districts[sc.district]
        try:
            check_against_district(sc, district)
        except ScenarioError as exc:
            raise StudyError(spath, f"design point {pid} ({desc}): {exc.msg}", key="factors") from None
        points.append(Point(pid, values, sc.digest, district.digest, plugins))
    first = study.seed if study.seed is not None else base.seed
    return Plan(study, spath, base, resolved, design, points, first, adaptive, fixed)
