"""``python -m simulation districts | kpis``: what there is to simulate and measure."""

from __future__ import annotations

import argparse
import json
from typing import Any

from simulation.cli.console import stdout_console

__all__ = ["cmd_districts", "cmd_kpis", "register"]


def register(subparsers: Any) -> None:
    """Add the ``districts`` and ``kpis`` subcommands."""
    d = subparsers.add_parser("districts", help="list the shipped districts with their key figures")
    d.add_argument("--json", action="store_true")
    d.set_defaults(fn=cmd_districts)

    k = subparsers.add_parser("kpis", help="print the KPI catalogue")
    k.add_argument("--json", action="store_true")
    k.set_defaults(fn=cmd_kpis)


def cmd_districts(args: argparse.Namespace) -> int:
    from rich.table import Table

    from simulation.config.district import list_districts, load_district

    rows = [load_district(p).key_figures() for p in list_districts()]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    figures = [
        "title",
        "area_km2",
        "residents",
        "jobs",
        "poles",
        "aps",
        "cameras",
        "ai_cameras",
        "sensors",
        "gateways",
        "small_cells",
        "ev_chargers",
        "drone_docks",
        "fibre_km",
        "streets_km",
        "integrated_centre",
    ]
    t = Table(title="Districts (--json for machine-readable figures)")
    t.add_column("")
    for r in rows:
        t.add_column(r["district"], justify="right")
    for f in figures:
        t.add_row(f.replace("_", " "), *[str(r[f]) for r in rows])
    stdout_console().print(t)
    return 0


def cmd_kpis(args: argparse.Namespace) -> int:
    from rich.table import Table

    from simulation.results.kpis import CATALOGUE
    from simulation.results.places import NOT_MAPPED, WHERE

    def on_map(name: str) -> dict[str, str]:
        w = WHERE.get(name)
        return {"place": w.place, "cell": w.how} if w else {"not_mapped": NOT_MAPPED.get(name, "")}

    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": k.name,
                        "unit": k.unit,
                        "better": k.better,
                        "description": k.description,
                        "map": on_map(k.name),
                    }
                    for k in CATALOGUE.values()
                ],
                indent=1,
            )
        )
        return 0
    t = Table(title="KPI catalogue (map: what a value is placed at, and how a map cell adds them up)")
    for c in ("KPI", "unit", "better", "description", "map"):
        t.add_column(c)
    for k in CATALOGUE.values():
        m = on_map(k.name)
        where = f"{m['cell']} per cell · {m['place']}" if "place" in m else f"not mapped: {m['not_mapped']}"
        t.add_row(k.name, k.unit, k.better, k.description, where)
    stdout_console().print(t)
    return 0
