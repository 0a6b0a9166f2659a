"""What a service costs and earns, from its manifest (hardware, fleet, pricing), and where each figure comes from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Hardware", "ServiceCosts"]


@dataclass(frozen=True)
class Hardware:
    """Modules a service installs: ``units`` × (``capex_krw`` + ``install_krw``) each."""

    module: str
    units: int
    capex_krw: float
    install_krw: float = 0.0
    power_w: float = 0.0
    slots: int = 0
    bandwidth_mbps: float = 0.0


@dataclass(frozen=True)
class ServiceCosts:
    """What a service costs and earns, from its manifest (all KRW)."""

    name: str
    trl: int | None = None
    hardware: tuple[Hardware, ...] = ()
    fleet_units: int = 0
    fleet_capex_krw_per_unit: float = 0.0
    fleet_kind: str = ""
    opex_krw_per_month: float = 0.0
    revenue_krw_per_request: float = 0.0
    subscription_krw_per_month: float = 0.0
    feeds: tuple[str, ...] = ()
    serves: tuple[str, ...] = ()
    category: str = ""
    source: str = ""

    @classmethod
    def from_manifest(cls, m: Any, source: str = "") -> ServiceCosts:
        """From a plugin ``Manifest`` (pydantic model or object) or the plugin.yaml mapping."""
        d = m.model_dump() if hasattr(m, "model_dump") else (dict(m) if isinstance(m, Mapping) else vars(m))

        def get(obj: Any, key: str, default: Any = None) -> Any:
            if obj is None:
                return default
            v = obj.get(key, default) if isinstance(obj, Mapping) else getattr(obj, key, default)
            return default if v is None else v

        hw = tuple(
            Hardware(
                module=str(get(h, "module", "")),
                units=int(get(h, "units", 0)),
                capex_krw=float(get(h, "capex_krw", 0)),
                install_krw=float(get(h, "install_krw", 0)),
                power_w=float(get(h, "power_w", 0)),
                slots=int(get(h, "slots", 0)),
                bandwidth_mbps=float(get(h, "bandwidth_mbps", 0)),
            )
            for h in get(d, "hardware", ()) or ()
        )
        fleet, pricing = get(d, "fleet"), get(d, "pricing", {})
        trl = get(d, "trl")
        return cls(
            name=str(get(d, "name", "")),
            trl=None if trl is None else int(trl),
            hardware=hw,
            fleet_units=int(get(fleet, "units", 0)),
            fleet_capex_krw_per_unit=float(get(fleet, "capex_krw_per_unit", 0)),
            fleet_kind=str(get(fleet, "kind", "")),
            opex_krw_per_month=float(get(pricing, "opex_krw_per_month", 0)),
            revenue_krw_per_request=float(get(pricing, "revenue_krw_per_request", 0)),
            subscription_krw_per_month=float(get(pricing, "subscription_krw_per_month", 0)),
            feeds=tuple(get(d, "feeds", ()) or ()),
            serves=tuple(get(d, "serves", ()) or ()),
            category=str(get(d, "category", "")),
            source=source,
        )

    @property
    def domains(self) -> set[str]:
        """KPI domains the service serves (its category and the domains of ``serves``)."""
        return {x for x in (self.category, *(s.split(".", 1)[0] for s in self.serves)) if x}

    @property
    def hardware_capex(self) -> float:
        """Hardware units × (unit cost + installation)."""
        return sum(h.units * (h.capex_krw + h.install_krw) for h in self.hardware)

    @property
    def fleet_capex(self) -> float:
        """Fleet units × cost per unit."""
        return self.fleet_units * self.fleet_capex_krw_per_unit

    @property
    def capex(self) -> float:
        """Everything paid up front."""
        return self.hardware_capex + self.fleet_capex

    @property
    def opex_per_year(self) -> float:
        """Operating cost a year (the manifest's monthly figure × 12)."""
        return 12 * self.opex_krw_per_month

    def capex_sources(self) -> list[str]:
        """Where the capex comes from, line by line, in words."""
        out = [
            f"{h.units} × {h.module} at KRW {h.capex_krw:,.0f}"
            + (f" + KRW {h.install_krw:,.0f} installation" if h.install_krw else "")
            + " (manifest hardware)"
            for h in self.hardware
        ]
        if self.fleet_units:
            out.append(
                f"{self.fleet_units} × {self.fleet_kind or 'fleet unit'} at KRW {self.fleet_capex_krw_per_unit:,.0f} "
                "(manifest fleet)"
            )
        return out or ["no hardware or fleet in the manifest"]

    def opex_source(self) -> str:
        """Where the opex comes from, in words."""
        if not self.opex_krw_per_month:
            return "no operating cost in the manifest"
        return f"KRW {self.opex_krw_per_month:,.0f} a month × 12 (manifest pricing.opex_krw_per_month)"
