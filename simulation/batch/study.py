"""Study YAML -> validated, frozen :class:`Study`: a base scenario, factors, a design, replications.

A study says which scenario parameters to vary (factors, by dotted path into the resolved scenario;
services by their key), how to sample them (full factorial, Latin hypercube, Sobol or Morris),
how many replications each design point gets (fixed, or adaptive until a KPI's 95% CI is narrow
enough) and how many runs it may cost at most. Everything is checked at load, before any run.
"""

from __future__ import annotations

import copy
import difflib
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from simulation._files import project_path
from simulation.config._yaml import Strict, parse_model, read_yaml
from simulation.errors import BatchError, SandboxError, StudyError
from simulation.results.kpis import CATALOGUE

__all__ = ["AdaptiveSpec", "BatchError", "DesignSpec", "FactorSpec", "Study", "StudyError", "load_study"]


#: Scenario keys a factor may not vary: the study itself sets or owns them.
RESERVED = {
    "name": "the scenario's name",
    "description": "the description",
    "seed": "the study's 'seed'",
    "replications": "the study's 'replications'",
    "source": "the loader",
}


class FactorSpec(Strict):
    """One factor: explicit ``levels`` or a numeric ``range`` (``steps`` makes a range factorial)."""

    levels: tuple[Any, ...] | None = None
    range: tuple[float, float] | None = None
    steps: int | None = Field(default=None, ge=2, le=1000)
    integer: bool = Field(default=False, description="round sampled values to whole numbers")
    label: str | None = Field(default=None, min_length=1, description="short name in tables and plots")

    @field_validator("range")
    @classmethod
    def _not_empty(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and (not (math.isfinite(v[0]) and math.isfinite(v[1])) or not v[0] < v[1]):
            raise ValueError("empty range: the low end must be below the high end")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> FactorSpec:
        if (self.levels is None) == (self.range is None):
            raise ValueError("give exactly one of 'levels: [...]' or 'range: [lo, hi]'")
        if self.levels is not None and not self.levels:
            raise ValueError("'levels' is empty; give at least one value")
        if self.steps is not None and self.range is None:
            raise ValueError("'steps' goes with 'range' (evenly spaced levels); with 'levels' leave it out")
        return self

    def grid(self) -> list[Any]:
        """The levels of a factorial design: ``levels``, or ``steps`` points evenly over ``range``."""
        if self.levels is not None:
            return list(self.levels)
        assert self.range is not None and self.steps is not None
        lo, hi = self.range
        vals = [lo + (hi - lo) * k / (self.steps - 1) for k in range(self.steps)]
        if self.integer:
            vals = list(dict.fromkeys(round(v) for v in vals))
        return vals

    def from_unit(self, x: float) -> Any:
        """A sampler's value (in ``bounds``) to the factor's value."""
        if self.levels is not None:
            return self.levels[min(int(x), len(self.levels) - 1)]
        return round(x) if self.integer else float(x)

    @property
    def bounds(self) -> tuple[float, float]:
        """Bounds given to SALib: the range, or [0, number of levels) for a levels factor."""
        return self.range if self.range is not None else (0.0, float(len(self.levels or ())))


class DesignSpec(Strict):
    """How design points are chosen; ``samples`` is N of the SALib sampler (see docs/batch.md)."""

    kind: Literal["factorial", "lhs", "sobol", "morris"] = "factorial"
    samples: int | None = Field(default=None, ge=1, le=1_000_000)
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="seed of the sampler (not of the simulations)")
    second_order: bool = Field(default=False, description="sobol: also estimate pairwise S2 indices")
    levels: int = Field(default=4, ge=2, le=20, description="morris: grid levels per factor")

    @model_validator(mode="after")
    def _size(self) -> DesignSpec:
        if self.kind == "factorial" and self.samples is not None:
            raise ValueError("a factorial design takes no 'samples': its size is the product of the factors' levels")
        if self.kind in ("lhs", "sobol") and self.samples is None:
            raise ValueError(f"a {self.kind} design needs 'samples'")
        if self.kind == "sobol" and self.samples is not None and self.samples & (self.samples - 1):
            raise ValueError(
                f"a sobol design needs 'samples' to be a power of 2 (e.g. 64, 128, 256); got {self.samples}"
            )
        return self


class AdaptiveSpec(Strict):
    """Add replications until every target KPI's 95% CI half-width is at most its target."""

    target: dict[str, float | str]
    min: int = Field(default=3, ge=2, le=1000)
    max: int = Field(default=20, ge=2, le=1000)

    @field_validator("target")
    @classmethod
    def _targets(cls, v: dict[str, float | str]) -> dict[str, float | str]:
        if not v:
            raise ValueError("name at least one KPI and its CI half-width, e.g. {safety.time_to_respond_s: 30}")
        for name, t in v.items():
            _check_kpi(name)
            if isinstance(t, str):
                if not t.endswith("%") or not _is_positive(t[:-1]):
                    raise ValueError(
                        f"target of {name!r} must be a number (KPI units) or a percentage like '5%'; got {t!r}"
                    )
            elif not t > 0:
                raise ValueError(f"target of {name!r} must be > 0; got {t!r}")
        return v

    @model_validator(mode="after")
    def _order(self) -> AdaptiveSpec:
        if self.min > self.max:
            raise ValueError(f"'min' ({self.min}) must not exceed 'max' ({self.max})")
        return self

    def half_width_target(self, kpi: str, mean: float) -> float:
        """The target half-width in KPI units (a percentage is relative to the mean's magnitude)."""
        t = self.target[kpi]
        return abs(mean) * float(t[:-1]) / 100 if isinstance(t, str) else float(t)


class Replications(Strict):
    """``replications: 5`` (fixed) or ``replications: {adaptive: {target: ..., min, max}}``."""

    fixed: int | None = Field(default=None, ge=1, le=1000)
    adaptive: AdaptiveSpec | None = None

    @model_validator(mode="after")
    def _one(self) -> Replications:
        if (self.fixed is None) == (self.adaptive is None):
            raise ValueError("give a number of replications or 'adaptive: {target: ..., min: 3, max: 20}'")
        return self


class OptimiseSpec(Strict):
    """``optimise:`` in a study file: what ``python -m simulation optimise`` searches for."""

    objectives: dict[str, Literal["minimize", "maximize"]] = Field(
        description="KPI (or capex_krw) -> minimize | maximize; two or more give a Pareto front (NSGA-II)"
    )
    trials: int = Field(default=30, ge=1, le=10_000, description="trials in all (a resumed study counts its own)")
    capex_krw: dict[str, float] = Field(default_factory=dict, description="factor label -> KRW per unit of its value")
    capex_fixed_krw: float = Field(default=0.0, ge=0)
    capex_budget_krw: float | None = Field(default=None, gt=0, description="trials costing more are not run")
    seed: int = Field(default=0, ge=0, description="the sampler's seed")

    @field_validator("objectives")
    @classmethod
    def _kpis(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("give at least one objective: {KPI: minimize | maximize}")
        for name in v:
            if name != "capex_krw":  # the study's own capex model
                _check_kpi(name)
        return v


class Study(Strict):
    """A validated study file. Build with :func:`load_study`."""

    name: str = ""
    description: str = ""
    base: str = Field(description="the base scenario: a path relative to the study file, or a scenario name")
    factors: dict[str, FactorSpec]
    design: DesignSpec = Field(default_factory=DesignSpec)
    replications: Replications | None = None
    seed: int | None = Field(
        default=None, ge=0, le=2**63 - 1001, description="first replication seed (default: the base scenario's)"
    )
    budget: int = Field(default=1000, ge=1, le=1_000_000, description="most runs the study may cost")
    kpis: tuple[str, ...] = Field(default=(), description="KPIs to analyse first (default: the catalogue)")
    optimise: OptimiseSpec | None = Field(default=None, description="for `optimise`: objectives, trials, capex")

    @field_validator("replications", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return {"fixed": v} if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("factors")
    @classmethod
    def _some(cls, v: dict[str, FactorSpec]) -> dict[str, FactorSpec]:
        if not v:
            raise ValueError("a study needs at least one factor")
        return v

    @field_validator("kpis")
    @classmethod
    def _kpis(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            _check_kpi(name)
        return v

    @model_validator(mode="after")
    def _design_fits(self) -> Study:
        if self.design.kind == "factorial" and self.optimise is None:
            for path, f in self.factors.items():
                if f.levels is None and f.steps is None:
                    raise ValueError(f"factor {path!r}: a factorial design needs 'levels', or 'steps' with its 'range'")
        return self


def _is_positive(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


def _check_kpi(name: str) -> None:
    if name not in CATALOGUE:
        near = difflib.get_close_matches(name, list(CATALOGUE), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(near)}?" if near else "see `python -m simulation kpis`"
        raise ValueError(f"unknown KPI {name!r}; {hint}")


def load_study(path: str | Path) -> tuple[Study, Path]:
    """Read and validate a study file; return it with its resolved path (factors are checked by ``plan``)."""
    p = project_path(path)
    if not p.is_file():
        raise StudyError(p, "file not found")
    p = p.resolve()
    data = read_yaml(p, StudyError)
    if not isinstance(data, dict):
        raise StudyError(p, f"must be a mapping of keys to values; got {type(data).__name__}")
    data.setdefault("name", p.stem)
    return parse_model(Study, data, p, StudyError), p


# --------------------------------------------------------------------------- factor paths
def _declared_params(use: str, where: str) -> dict[str, Any] | None:
    """Defaults of every param a service declares (built-in table or plugin manifest); None if unknown."""
    from simulation.plugins.builtin import BUILTINS

    if use.startswith("builtin:"):
        b = BUILTINS.get(use.split(":", 1)[1])
        return {k: d for k, (d, _lo, _hi) in b.params.items()} if b else None
    try:
        from simulation.plugins import resolve_plugin

        return {k: p.default for k, p in resolve_plugin(use, where).manifest.params.items()}
    except (ImportError, SandboxError):
        return None


def _services_view(resolved: dict[str, Any], where: str) -> dict[str, Any]:
    """The resolved scenario with ``services`` keyed by service key and their declared params filled in."""
    from simulation.config.scenario import ServiceSpec

    view = dict(resolved)
    services: dict[str, Any] = {}
    for s in resolved.get("services", []):
        spec = ServiceSpec.model_validate(s)
        entry = dict(s)
        declared = _declared_params(spec.use, where)
        entry["params"] = (declared or {}) | dict(spec.params)
        entry["_open_params"] = declared is None  # unknown service: its params are checked when it loads
        services[spec.key] = entry
    view["services"] = services
    return view


def _leaves(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict):
        out = [prefix] if prefix else []
        for k, v in node.items():
            if not str(k).startswith("_"):
                out += _leaves(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(node, list):
        out = [prefix]
        for i, v in enumerate(node):
            out += _leaves(v, f"{prefix}.{i}")
        return out
    return [prefix]


def check_factor_path(path: str, resolved: dict[str, Any], where: str = "") -> None:
    """Raise ``ValueError`` unless ``path`` names a parameter of the resolved scenario (from file ``where``)."""
    parts = path.split(".")
    if parts[0] in RESERVED:
        raise ValueError(f"{parts[0]!r} cannot be a factor: it is set by {RESERVED[parts[0]]}")
    if parts[0] == "services" and len(parts) < 3:
        raise ValueError(f"{path!r} is a whole service; name one of its fields, e.g. services.<key>.params.<name>")
    view = _services_view(resolved, where)
    entry = view["services"].get(parts[1]) if parts[0] == "services" else None
    if entry is not None and entry["_open_params"] and parts[2:3] == ["params"] and len(parts) == 4:
        return  # a plugin's own param: its manifest checks it when the run starts
    node: Any = view
    for i, part in enumerate(parts):
        here = ".".join(parts[:i])
        if isinstance(node, dict) and part in node and not part.startswith("_"):
            node = node[part]
            continue
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
            continue
        near = _suggest(path, part, here, node, [p for p in _leaves(view) if p])
        if isinstance(node, dict):
            keys = ", ".join(sorted(str(k) for k in node if not str(k).startswith("_"))) or "none"
        elif isinstance(node, list):
            keys = f"indexes 0..{len(node) - 1}" if node else "none (empty list)"
        else:
            keys = f"none ({here} is a value, not a mapping)"
        hint = f"did you mean {' or '.join(near)}? " if near else ""
        where = f"keys under {here}" if here else "top-level keys"
        what = "service" if here == "services" else "parameter"
        raise ValueError(f"unknown {what} {part!r} in {path!r}; {hint}({where}: {keys})")


def _suggest(path: str, part: str, here: str, node: Any, leaves: list[str]) -> list[str]:
    """Nearest valid paths: a sibling spelled alike, else a parameter of the same name elsewhere."""
    if isinstance(node, dict):
        siblings = [str(k) for k in node if not str(k).startswith("_")]
        local = difflib.get_close_matches(part, siblings, n=2, cutoff=0.6)
        if local:
            return [f"{here}.{k}" if here else k for k in local]
    last = path.rsplit(".", 1)[-1]
    same = [p for p in leaves if p.rsplit(".", 1)[-1] == last]
    return same[:3]


def apply_factors(resolved: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of the resolved scenario dict with each factor's value set at its path."""
    out = copy.deepcopy(resolved)
    for path, value in values.items():
        parts = path.split(".")
        node: Any = out
        for i, part in enumerate(parts[:-1]):
            if i == 0 and part == "services":
                continue
            if i == 1 and parts[0] == "services":
                node = next(s for s in node["services"] if _key(s) == part)
                continue
            if isinstance(node, list):
                node = node[int(part)]
            else:
                node = node.setdefault(part, {})
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return out


def _key(service: dict[str, Any]) -> str:
    from simulation.config.scenario import ServiceSpec

    return ServiceSpec.model_validate(service).key
