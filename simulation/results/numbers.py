"""Numbers for people: values with separators and their unit, percentages with one decimal, money,
durations, and KPIs named in words (the catalogue's description) rather than by code.

The web app, the HTML report and the CLI's tables write numbers with these, so a figure reads the
same wherever it appears.
"""

from __future__ import annotations

import math

from simulation.results.kpis import CATALOGUE

__all__ = ["fmt_duration", "fmt_krw", "fmt_num", "fmt_pct", "fmt_value", "kpi_header", "kpi_label"]


def fmt_num(v: object, digits: int | None = None, signed: bool = False) -> str:
    """A number with thousands separators: whole numbers as such, else 3–4 significant figures; ``—`` for none."""
    if v is None or isinstance(v, str):
        return "—" if v is None else v
    x = float(v)  # type: ignore[arg-type]
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if math.isnan(x):
        return "—"
    sign = "+" if signed and x > 0 else ""
    if digits is not None:
        return f"{sign}{x:,.{digits}f}"
    if x == int(x) and abs(x) < 1e15:
        return f"{sign}{int(x):,}"
    a = abs(x)
    d = 0 if a >= 1000 else 1 if a >= 100 else 2 if a >= 1 else 3
    return f"{sign}{x:,.{d}f}"


def fmt_pct(v: object, signed: bool = False) -> str:
    """A percentage with one decimal: ``12.3%``."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return fmt_num(v, 1, signed) + "%"


def fmt_value(v: object, unit: str = "", signed: bool = False) -> str:
    """A KPI value in its unit: % with one decimal, seconds and minutes as numbers with the unit."""
    if unit == "%":
        return fmt_pct(v, signed)
    text = fmt_num(v, signed=signed)
    return f"{text} {unit}" if unit and text != "—" else text


def fmt_krw(v: object) -> str:
    """Korean won with separators: ``600,000 KRW`` below a million, else ``1.5 M KRW`` (no Hangul: every
    font shows it)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    x = float(v)  # type: ignore[arg-type]
    sign = "−" if x < 0 else ""
    a = abs(x)
    if a >= 1e6:
        return f"{sign}{a / 1e6:,.1f} M KRW"
    return f"{sign}{a:,.0f} KRW"


def fmt_duration(s: float | None) -> str:
    """Seconds as ``45 s``, ``12 min`` or ``2 h 05 min``."""
    if s is None or math.isnan(s):
        return "unknown"
    s = max(0.0, float(s))
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    h, m = divmod(int(round(s / 60)), 60)
    return f"{h} h {m:02d} min"


def kpi_label(code: str) -> str:
    """A KPI as people read it: the catalogue's description (its code where the catalogue has none)."""
    spec = CATALOGUE.get(code)
    if spec is None or not spec.description:
        return code
    d = spec.description
    return d[0].upper() + d[1:]


def kpi_header(code: str) -> str:
    """A KPI's label with its unit: ``WiFi session attempts served by an AP (%)``."""
    spec = CATALOGUE.get(code)
    return f"{kpi_label(code)} ({spec.unit})" if spec is not None and spec.unit else kpi_label(code)
