"""``programme``: run what the programme needs and report indicators, budget and services per year.

Arguments and printing only; the work is in :mod:`simulation.programme`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from simulation.cli.console import stdout_console

__all__ = ["register", "run"]


def _fmt(v: Any, nd: int = 0) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and nd == 0:
        return f"{v:,.0f}" if abs(v) >= 10 else f"{v:,.1f}"
    return f"{v:,.{nd}f}" if isinstance(v, float) else str(v)


def run(args: argparse.Namespace) -> int:
    """Run the programme (reusing stored runs) and print its report; 1 if a run failed."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from simulation.config.programme import load_programme
    from simulation.programme.report import programme_report
    from simulation.programme.run import run_programme

    prog = load_programme(args.file)
    err = Console(stderr=True)
    with Progress(
        TextColumn("[bold]programme"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} runs"),
        TextColumn("{task.fields[what]}"),
        TimeElapsedColumn(),
        console=err,
        transient=args.json,
        disable=args.quiet,
    ) as bar:
        task = bar.add_task("runs", total=0, what="planning districts and runs")

        def progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, what=what)

        runs, stats = run_programme(
            prog,
            args.store,
            year=args.year,
            executor=args.executor,
            workers=args.workers,
            scheduler=args.scheduler,
            progress=progress,
        )
    rep = programme_report(prog, runs, args.store, args.year)
    rep["runs"] = {
        "planned": stats.planned,
        "reused": stats.reused,
        "ran": stats.ran,
        "failed": stats.failed,
        "executor": stats.executor,
        "workers": stats.workers,
        "wall_s": round(stats.wall_s, 2),
        "runs_per_s": round(stats.runs_per_s, 4),
        "errors": stats.errors,
    }
    for e in stats.errors:
        err.print(f"[red]run failed:[/red] {e}")
    if args.json:
        print(json.dumps(rep, indent=1, ensure_ascii=False))
        return 1 if stats.failed else 0
    out = stdout_console()
    out.print(
        f"[bold]{rep['title']}[/bold] — up to {rep['year']}: {len(rep['pilots'])} pilot districts; "
        f"runs: {stats.planned} planned, {stats.ran} run, {stats.failed} failed, {stats.reused} reused "
        f"({stats.wall_s:.1f} s; store {args.store})"
    )
    for y in rep["years"]:
        t = Table(
            title=f"{y['year']}: indicators ({y['pilots_active']} pilots; new: {', '.join(y['pilots_new']) or '—'})"
        )
        for col in (
            "task",
            "indicator",
            "unit",
            "plan target",
            "pilots added",
            "% of target",
            "plan cum.",
            "pilots cum.",
        ):
            t.add_column(col, justify="left" if col in ("task", "indicator", "unit") else "right")
        for r in y["indicators"]:
            t.add_row(
                r["task"],
                r["label"],
                r["unit"],
                _fmt(r["plan_target"]),
                _fmt(r["pilots_added"]),
                _fmt(r["share_pct"], 1),
                _fmt(r["plan_cumulative"]),
                _fmt(r["pilots_cumulative"]),
            )
        out.print(t)
        b = Table(title=f"{y['year']}: spend of the new pilots against the plan (KRW million)")
        for col in ("line", "label", "plan", "pilots", "% of plan"):
            b.add_column(col, justify="left" if col in ("line", "label") else "right")
        for r in y["budget"]:
            b.add_row(r["line"], r["label"], _fmt(r["plan_krw_m"]), _fmt(r["pilots_krw_m"]), _fmt(r["share_pct"], 1))
        out.print(b)
    s = Table(title="Services: status, decision, simulated effect (candidate - baseline, paired seeds, 95% CI)")
    for col in ("pilot", "service", "status", "since", "decision", "effect"):
        s.add_column(col)
    for r in rep["services"]:
        d = r["decision"]
        dec = "—" if d is None else (f"{d['decision']} ({d['id']})" if d["found"] else f"{d['id']} not in store")
        eff = "; ".join(
            f"{k} {e['mean_diff']:+.3g}" + (f" ± {e['ci95']:.2g}" if e["ci95"] is not None else "") + f" (n={e['n']})"
            for k, e in r["effects"].items()
            if e["mean_diff"] is not None
        )
        s.add_row(r["pilot"], r["service"], r["status"], str(r["since"]), dec, eff or "—")
    out.print(s)
    return 1 if stats.failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``programme`` to the CLI."""
    p = sub.add_parser(
        "programme",
        help="run the pilot-district programme and report indicators and budget against the plan",
        description="Run every pilot's baseline and candidate services (seeds paired; stored runs are reused, so "
        "an interrupted programme resumes) and report, per year, the indicators the pilots reach against the "
        "plan's targets, their spend against its investment lines, and the services' status and decisions.",
    )
    p.add_argument("file", metavar="FILE", nargs="?", default="config/programme.yaml", help="programme YAML")
    p.add_argument("--year", type=int, default=None, help="report up to this year (default: the last)")
    p.add_argument("--executor", choices=("local", "dask"), default="local", help="where runs execute")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: CPUs; 0 = this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="existing Dask scheduler (with dask)")
    p.add_argument("--store", default="results", metavar="DIR", help="results folder (default: results)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(fn=run)
