"""``python -m simulation``: run scenarios, list districts and KPIs, make districts.

Every command exits 0 on success and 2 on bad input, with a one-paragraph message on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence

from simulation.cli.console import stdout_console
from simulation.errors import SandboxError

__all__ = ["main"]


def _t95(n: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1)) if n > 1 else math.nan


def summarise(values: Sequence[float]) -> tuple[float, float]:
    """Mean and 95% CI half-width (Student t) of replications, ignoring NaN."""
    xs = [v for v in values if v is not None and not math.isnan(v)]
    if not xs:
        return math.nan, math.nan
    n = len(xs)
    mean = sum(xs) / n
    if n < 2:
        return mean, math.nan
    var = sum((x - mean) ** 2 for x in xs) / (n - 1)
    return mean, _t95(n) * math.sqrt(var / n)


def _fmt(v: float) -> str:
    if v is None or math.isnan(v):
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.2f}"


# --------------------------------------------------------------------------- run
def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from simulation.config.scenario import load_scenario
    from simulation.results.kpis import CATALOGUE
    from simulation.results.reuse import run_or_reuse
    from simulation.results.run import replication_seeds
    from simulation.results.store import Store

    sc = load_scenario(args.scenario, seed=args.seed, replications=args.replications)
    store = Store(args.store)
    seeds = replication_seeds(sc.seed, sc.replications)
    err = Console(stderr=True)
    results = []
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[clock]}"),
        TextColumn("{task.completed:.0f}/{task.total:.0f} replications"),
        TimeElapsedColumn(),
        console=err,
        transient=args.json,
        disable=args.quiet,
    ) as prog:
        task = prog.add_task(sc.name, total=len(seeds), clock="")
        for k, seed in enumerate(seeds):

            def tick(frac: float, k: int = k) -> None:
                prog.update(task, completed=k + frac, clock=f"seed {seed} · sim {frac * sc.duration / 3600:4.1f} h")

            r, reused = run_or_reuse(sc, seed, store, progress=tick, force=args.force, allow_inline=args.allow_inline)
            results.append((r, reused))
            prog.update(task, completed=k + 1)
    if args.json:
        doc = {
            "scenario": sc.name,
            "district": sc.district,
            "runs": [r.to_json() | {"reused": reused} for r, reused in results],
        }
        print(json.dumps(doc, indent=1, allow_nan=False, default=str))
        return 0 if all(r.status == "ok" for r, _ in results) else 1
    out = stdout_console()
    n_reused = sum(1 for _, x in results if x)
    table = Table(
        title=f"{sc.name} · {sc.district} · {len(seeds)} replications (seeds {seeds[0]}–{seeds[-1]})"
        + (f" · {n_reused} reused from the store" if n_reused else "")
    )
    for col in ("KPI", "unit", "mean", "95% CI ±", "better"):
        table.add_column(col, justify="left" if col in ("KPI", "unit", "better") else "right")
    good = [r for r, _ in results if r.status == "ok"]
    for name, spec in CATALOGUE.items():
        mean, half = summarise([r.kpis.get(name, math.nan) for r in good])
        table.add_row(name, spec.unit, _fmt(mean), _fmt(half), spec.better)
    out.print(table)
    for r, _ in results:
        if r.status != "ok":
            out.print(f"[red]run {r.run_id} (seed {r.seed}) failed:[/red] {(r.error or '').splitlines()[0]}")
        for name, s in r.services.items():
            if s["status"] != "ok":
                out.print(f"[yellow]service {name} (seed {r.seed}): {s['status']}[/yellow] — {s.get('error')}")
    out.print(f"results: {store.root}/runs/ ({', '.join(r.run_id for r, _ in results)})")
    return 0 if len(good) == len(results) else 1


# --------------------------------------------------------------------------- districts, kpis
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

    if args.json:
        print(
            json.dumps(
                [
                    {"name": k.name, "unit": k.unit, "better": k.better, "description": k.description}
                    for k in CATALOGUE.values()
                ],
                indent=1,
            )
        )
        return 0
    t = Table(title="KPI catalogue")
    for c in ("KPI", "unit", "better", "description"):
        t.add_column(c)
    for k in CATALOGUE.values():
        t.add_row(k.name, k.unit, k.better, k.description)
    stdout_console().print(t)
    return 0


# --------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse that says what is allowed and exits 2 without a traceback (its default)."""


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m simulation", description="Pilot District Sandbox: simulate smart-city pilot districts.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser(
        "run",
        help="run a scenario and print its KPIs (mean and 95%% CI over replications)",
        description="Run a scenario's replications (seeds SEED..SEED+R-1), store each run, print the KPIs.",
    )
    r.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file (or the name of one in scenarios/)")
    r.add_argument("--seed", type=int, help="base seed (default: the scenario's)")
    r.add_argument("--replications", "-r", type=int, help="number of replications (default: the scenario's)")
    r.add_argument("--store", default="results", metavar="DIR", help="results folder (default: results)")
    r.add_argument("--json", action="store_true", help="print one JSON document on stdout instead of a table")
    r.add_argument("--force", action="store_true", help="re-run even if the store holds these runs")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    r.add_argument("--allow-inline", action="store_true", help="let third-party services run inline (debugging only)")
    r.set_defaults(fn=cmd_run)

    d = sub.add_parser("districts", help="list the shipped districts with their key figures")
    d.add_argument("--json", action="store_true")
    d.set_defaults(fn=cmd_districts)

    k = sub.add_parser("kpis", help="print the KPI catalogue")
    k.add_argument("--json", action="store_true")
    k.set_defaults(fn=cmd_kpis)

    import importlib

    for mod in COMMAND_MODULES:
        importlib.import_module(f"simulation.cli.{mod}").register(sub)
    return p


#: Modules under ``simulation.cli`` that add subcommands: each has ``register(subparsers)``.
COMMAND_MODULES: list[str] = ["batch", "compare", "decide", "plugins", "export", "districts", "programme"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn every SandboxError into a message and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are in the store; unfinished ones were not written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
