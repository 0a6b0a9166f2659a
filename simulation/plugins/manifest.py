"""``plugin.yaml``: the manifest a company ships with its service, validated strictly at load.

Unknown keys, wrong types, an entry outside the folder, an unknown SDK version, params whose
default breaks their own bounds and hardware that fits no S-Pole model are all errors naming the
file, the key, the value and what is allowed. Params a scenario passes are checked here too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator

from simulation import sdk
from simulation.config._yaml import Strict, read_yaml, validation_message
from simulation.errors import (
    MAX_KEY_CHARS,
    MAX_MESSAGE_CHARS,
    DistrictError,
    PluginError,
    SandboxError,
    ScenarioError,
    _cap,
)

__all__ = [
    "CATEGORIES",
    "SUPPORTED_SDK_VERSIONS",
    "FleetSpec",
    "HardwareSpec",
    "Manifest",
    "ManifestError",
    "ParamSpec",
    "PricingSpec",
    "check_hardware_fits",
    "check_params",
    "load_manifest",
]

SUPPORTED_SDK_VERSIONS = (sdk.SDK_VERSION,)
CATEGORIES = ("safety", "connectivity", "environment", "logistics", "mobility", "energy")
_ENTRY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*):([A-Za-z_][A-Za-z0-9_]*)$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_SERVES = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_VERSION = re.compile(r"^\d+(?:\.\d+){0,2}(?:[-+.][0-9A-Za-z.-]+)?$")
MAX_MANIFEST_BYTES = 256 * 1024  # a plugin.yaml larger than this is refused before it is parsed
_TYPES: dict[str, tuple[type, ...]] = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}


class ManifestError(PluginError):
    """A ``plugin.yaml`` is malformed: names the file, the key path, the value and what is allowed."""

    def __init__(self, path: object, msg: str, key: str | None = None) -> None:
        msg, key = _cap(msg, MAX_MESSAGE_CHARS), _cap(key, MAX_KEY_CHARS) if key else key
        where = f"{path}" + (f", at {key}" if key else "")
        SandboxError.__init__(self, f"{where}: {msg}")
        self.plugin = str(path)
        self.path = str(path)
        self.key = key
        self.msg = msg


# --------------------------------------------------------------------------- model
NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class HardwareSpec(Strict):
    """Modules the service brings: a module type of ``districts/pole_models.yaml`` and its costs."""

    module: str
    units: int = Field(ge=1, le=100_000, description="most units it installs in one district")
    capex_krw: NonNeg = Field(description="price of one unit")
    install_krw: NonNeg = Field(default=0.0, description="installation of one unit")
    power_w: NonNeg
    slots: int = Field(ge=0, le=16)
    bandwidth_mbps: NonNeg = 0.0


class FleetSpec(Strict):
    """Vehicles the service brings (drones, robots, vans)."""

    kind: Literal["drone", "robot", "van"]
    units: int = Field(ge=1, le=10_000)
    speed_m_s: float = Field(gt=0, le=100, allow_inf_nan=False)
    battery_min: float = Field(gt=0, le=10_000, allow_inf_nan=False)
    capex_krw_per_unit: NonNeg = 0.0


class PricingSpec(Strict):
    """What the service costs to run and what it earns (KRW)."""

    opex_krw_per_month: NonNeg = 0.0
    revenue_krw_per_request: NonNeg = 0.0
    subscription_krw_per_month: NonNeg = 0.0


class ParamSpec(Strict):
    """One tunable parameter: its type, default and bounds or choices."""

    type: Literal["float", "int", "bool", "str"]
    default: Any
    min: float | None = Field(default=None, allow_inf_nan=False)
    max: float | None = Field(default=None, allow_inf_nan=False)
    choices: tuple[Any, ...] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        numeric = self.type in ("float", "int")
        if not numeric and (self.min is not None or self.max is not None):
            raise ValueError(f"min and max apply to float and int params only; this one is {self.type}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        if self.choices is not None:
            if not self.choices:
                raise ValueError("choices must list at least one value")
            for c in self.choices:
                if _type_error(self.type, c):
                    raise ValueError(f"choice {c!r} is not a {self.type}")
        problem = self.problem(self.default)
        if problem:
            raise ValueError(f"default {problem}")
        return self

    def problem(self, v: Any) -> str | None:
        """Why ``v`` is not an allowed value, or None."""
        bad = _type_error(self.type, v)
        if bad:
            return bad
        if self.type in ("float", "int"):
            if not math.isfinite(v):
                return f"must be a finite number; got {v!r}"
            lo = -math.inf if self.min is None else self.min
            hi = math.inf if self.max is None else self.max
            if not lo <= v <= hi:
                return f"must be from {_num(self.min)} to {_num(self.max)}; got {v!r}"
        if self.choices is not None and v not in self.choices:
            return f"must be one of {', '.join(repr(c) for c in self.choices)}; got {v!r}"
        return None


def _num(v: float | None) -> str:
    return "-inf" if v is None else f"{v:g}"


def _type_error(kind: str, v: Any) -> str | None:
    if isinstance(v, bool) and kind != "bool":
        return f"must be a {kind}; got {v!r}"
    if not isinstance(v, _TYPES[kind]):
        return f"must be a{'n' if kind == 'int' else ''} {kind}; got {v!r}"
    return None


def _name(v: str) -> str:
    if not _NAME.match(v):
        raise ValueError("must be lower-case letters, digits and '_' (2-64 characters, starting with a letter)")
    return v


def _version(v: str) -> str:
    if not _VERSION.match(v):
        raise ValueError("must look like 1.2.3")
    return v


def _sdk_version(v: str) -> str:
    if v not in SUPPORTED_SDK_VERSIONS:
        raise ValueError(f"unknown sdk_version; this sandbox supports {', '.join(SUPPORTED_SDK_VERSIONS)}")
    return v


def _entry(v: str) -> str:
    if not _ENTRY.match(v):
        raise ValueError(
            "must be 'module:Class' with the module a file in the plugin folder (e.g. 'service:MyService')"
        )
    return v


def _feed(v: str) -> str:
    if v not in sdk.FEEDS:
        raise ValueError(f"unknown feed; feeds: {', '.join(sorted(sdk.FEEDS))}")
    return v


def _serves(v: str) -> str:
    if not _SERVES.match(v):
        raise ValueError("must look like 'domain.demand' (e.g. 'safety.incidents', 'logistics.deliveries')")
    return v


def _param_names(v: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
    for k in v:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(k)):
            raise ValueError(f"param names must be identifiers; {k!r} is not")
    return v


def _unique_modules(v: tuple[HardwareSpec, ...]) -> tuple[HardwareSpec, ...]:
    mods = [h.module for h in v]
    dup = sorted({m for m in mods if mods.count(m) > 1})
    if dup:
        raise ValueError(f"module {dup[0]!r} is listed twice; give one entry with its units")
    return v


class Manifest(Strict):
    """A validated ``plugin.yaml``. Build with :func:`load_manifest`."""

    name: Annotated[str, AfterValidator(_name)]
    vendor: str = Field(min_length=1, max_length=200)
    version: Annotated[str, AfterValidator(_version)]
    sdk_version: Annotated[str, AfterValidator(_sdk_version)]
    entry: Annotated[str, AfterValidator(_entry)]
    category: Literal["safety", "connectivity", "environment", "logistics", "mobility", "energy"]
    description: str = Field(min_length=1, max_length=4000)
    trl: int = Field(ge=1, le=9, description="technology readiness level the company claims")
    feeds: tuple[Annotated[str, AfterValidator(_feed)], ...] = ()
    serves: tuple[Annotated[str, AfterValidator(_serves)], ...] = ()
    hardware: Annotated[tuple[HardwareSpec, ...], AfterValidator(_unique_modules)] = ()
    fleet: FleetSpec | None = None
    pricing: PricingSpec = Field(default_factory=PricingSpec)
    params: Annotated[dict[str, ParamSpec], AfterValidator(_param_names)] = Field(default_factory=dict)
    isolation: Literal["sandbox", "inline"] = "sandbox"

    @property
    def entry_module(self) -> str:
        """The module part of ``entry``."""
        return self.entry.split(":", 1)[0]

    @property
    def entry_class(self) -> str:
        """The class part of ``entry``."""
        return self.entry.split(":", 1)[1]

    def defaults(self) -> dict[str, Any]:
        """Every param at its default."""
        return {k: p.default for k, p in self.params.items()}


# --------------------------------------------------------------------------- loading
def load_manifest(path: str | Path, *, check_entry: bool = True) -> Manifest:
    """Read and validate ``plugin.yaml`` (or the folder holding it); raise :class:`ManifestError`."""
    p = Path(path)
    if p.is_dir():
        p = p / "plugin.yaml"
    if p.is_symlink():  # checked before a byte is read: a link could point at any host file
        raise ManifestError(p, "is a symbolic link; a plugin.yaml must be a plain file inside the plugin folder")
    if not p.is_file():
        raise ManifestError(p, "file not found (a plugin is a folder with a plugin.yaml)")
    try:
        data = read_yaml(p, ScenarioError, max_bytes=MAX_MANIFEST_BYTES, no_links=True)
    except ScenarioError as exc:
        raise ManifestError(p, exc.msg) from None
    if not isinstance(data, dict):
        raise ManifestError(p, f"must be a mapping of keys to values; got {type(data).__name__}")
    try:
        m = Manifest.model_validate(data)
    except ValidationError as exc:
        key, msg = validation_message(exc)
        if msg.count("; got ") > 1:  # our own message already shows the value
            msg = msg[: msg.rindex("; got ")]
        raise ManifestError(p, msg, key=key) from None
    if check_entry:
        entry_file(p.parent, m, p)
    check_hardware_fits(m, p)
    return m


def entry_file(folder: Path, m: Manifest, where: Path | None = None) -> Path:
    """The file ``entry`` names, which must lie inside the plugin folder."""
    where = where or folder / "plugin.yaml"
    root = folder.resolve()
    rel = Path(*m.entry_module.split("."))
    for cand in (root / rel.with_suffix(".py"), root / rel / "__init__.py"):
        if cand.is_file() or cand.is_symlink():
            real = cand.resolve()
            if not real.is_relative_to(root):
                raise ManifestError(
                    where,
                    f"points outside the plugin folder ({cand.name} resolves to {real}); got {m.entry!r}",
                    key="entry",
                )
            return real
    raise ManifestError(
        where,
        f"module {m.entry_module!r} not found in the plugin folder "
        f"(expected {rel.with_suffix('.py')}); got {m.entry!r}",
        key="entry",
    )


def check_hardware_fits(m: Manifest, where: Path | str, catalogue: Any = None) -> None:
    """Every hardware entry must be a known module type that at least one S-Pole model can carry."""
    if not m.hardware:
        return
    if catalogue is None:
        from simulation.config.district import load_pole_catalogue

        try:
            catalogue = load_pole_catalogue()
        except DistrictError as exc:
            raise ManifestError(where, f"cannot check hardware: {exc}", key="hardware") from None
    for i, h in enumerate(m.hardware):
        key = f"hardware[{i}]"
        mt = catalogue.modules.get(h.module)
        if mt is None:
            raise ManifestError(
                where,
                f"unknown module type {h.module!r}; known: {', '.join(sorted(catalogue.modules))}",
                key=f"{key}.module",
            )
        if h.slots < mt.slots:
            raise ManifestError(
                where, f"a {h.module} takes {mt.slots} slot(s) in the pole catalogue; got {h.slots}", key=f"{key}.slots"
            )
        if h.power_w < mt.power_w:
            raise ManifestError(
                where,
                f"a {h.module} draws {mt.power_w:g} W in the pole catalogue; got {h.power_w:g}",
                key=f"{key}.power_w",
            )
        fits = [
            name
            for name, pm in catalogue.models.items()
            if h.module in pm.mounts and h.slots <= pm.slots and h.power_w <= pm.power_budget_w
        ]
        if not fits:
            sizes = (
                ", ".join(
                    f"{n}: {pm.slots} slots, {pm.power_budget_w:g} W"
                    for n, pm in catalogue.models.items()
                    if h.module in pm.mounts
                )
                or "none mounts it"
            )
            raise ManifestError(
                where, f"{h.module} with {h.slots} slot(s) and {h.power_w:g} W fits no S-Pole model ({sizes})", key=key
            )


def check_params(m: Manifest, given: Mapping[str, Any], where: str, service: str) -> dict[str, Any]:
    """Fill defaults and check a scenario's params against the manifest; raise ScenarioError."""
    out: dict[str, Any] = {}
    for k in given:
        if k not in m.params:
            allowed = ", ".join(sorted(m.params)) or "none"
            raise ScenarioError(
                where, f"service {service!r} has no param {k!r} (params: {allowed})", key=f"services.{service}.params"
            )
    for k, spec in m.params.items():
        v = given.get(k, spec.default)
        if spec.type == "float" and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        problem = spec.problem(v)
        if problem:
            raise ScenarioError(where, problem, key=f"services.{service}.params.{k}")
        out[k] = v
    return out
