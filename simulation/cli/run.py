"""``python -m simulation run SCENARIO``: run a scenario's replications and print the KPIs with 95% CIs."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from simulation.cli.console import fmt_number as _fmt
from simulation.cli.console import stdout_console
from simulation.stats import summarise

__all__ = ["cmd_run", "register"]


def register(subparsers: Any) -> None:
    """Add the ``run`` subcommand."""
    r = subparsers.add_parser(
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
