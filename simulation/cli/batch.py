"""``python -m simulation batch STUDY`` and ``python -m simulation analyze OUT``.

``batch`` exits 0 when every run is done, 1 when some failed (recorded in OUT/failures), 2 on bad
input (study, scheduler, output folder) — reported before anything runs.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from simulation.cli.console import stdout_console

__all__ = ["register"]


def cmd_batch(args: argparse.Namespace) -> int:
    from rich.console import Console

    from simulation.batch import make_plan, run_batch

    plan = make_plan(args.study)
    out = Path(args.out) if args.out else Path("batch-out") / plan.study.name
    err = Console(stderr=True)
    reps = (
        f"{plan.fixed} replications"
        if plan.adaptive is None
        else f"adaptive {plan.adaptive.min}–{plan.adaptive.max} replications"
    )
    err.print(
        f"study [bold]{plan.study.name}[/bold]: {len(plan.points)} {plan.design.kind} points × {reps} "
        f"(seeds from {plan.first_seed}), base {plan.base.name} · out {out}"
    )
    s = run_batch(
        plan,
        out,
        executor=args.executor,
        workers=args.workers,
        scheduler=args.scheduler,
        quiet=args.quiet,
        resume=args.resume,
        timeout_s=args.connect_timeout,
    )
    if args.json:
        doc = asdict(s) | {"exit_code": s.exit_code, "analyze": f"python -m simulation analyze {out}"}
        print(json.dumps(doc, indent=1, default=str))
        return s.exit_code
    print(
        f"runs: {s.planned} planned, {s.skipped} already done, {s.recovered} recovered from the store, "
        f"{s.ran} run ({s.ok} ok, {s.failed} failed, {s.retried} retries) in {s.wall_s:.1f} s "
        f"on {s.executor} × {s.workers} workers ({s.runs_per_s:.2f} runs/s after a {s.startup_s:.1f} s start)"
    )
    if plan.adaptive is not None:
        print("replications per point: " + ", ".join(f"{n} → {k} points" for n, k in s.replications.items()))
    print(f"results: {out}  (python -m simulation analyze {out})")
    return s.exit_code


def _json_default(v: Any) -> Any:
    """numpy scalars and anything else json does not know -> plain values (NaN -> null)."""
    if hasattr(v, "item"):
        v = v.item()
        return None if isinstance(v, float) and math.isnan(v) else v
    return str(v)


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) < 0.01 else f"{v:.2f}"


def _point_table(a: Any, frame: Any, mean: str, half: str, n: str, title: str, shown: list[str], rows: int) -> Any:
    """Points × shown KPIs as "value ± CI half-width" (``frame`` is tidy: point, kpi, mean, half, n)."""
    from rich.table import Table

    t = Table(title=title)
    for col in ("point", *a.factors, n, *shown):
        t.add_column(col, justify="right")
    by = {(r["point"], r["kpi"]): r for r in frame.to_dict("records")}
    for p in a.points.head(rows).itertuples(index=False):
        cells = [str(p.point), *[_fmt(v) if isinstance(v, float) else str(v) for v in p[1 : 1 + len(a.factors)]]]
        count = max((by[(p.point, k)][n] for k in shown if (p.point, k) in by), default=0)
        vals = [
            f"{_fmt(by[(p.point, k)][mean])} ± {_fmt(by[(p.point, k)][half])}" if (p.point, k) in by else "—"
            for k in shown
        ]
        t.add_row(*cells, str(count), *vals)
    return t


def cmd_analyze(args: argparse.Namespace) -> int:
    from rich.table import Table

    from simulation.batch.analysis import analyze, export, save_plots
    from simulation.cli.console import stderr_progress

    with stderr_progress("steps", quiet=args.quiet) as prog:
        task = prog.add_task("analyse: reading runs, indices", total=2)
        a = analyze(args.out, kpis=args.kpi or None, reference=args.reference)
        prog.update(task, completed=1, description="analyse: plots")
        plots = save_plots(a, args.plots, progress=lambda done, total: prog.update(task, completed=1 + done / total))
        prog.update(task, completed=2)
    files = export(a, args.export) if args.export else []
    if args.json:
        doc = {
            "study": a.plan["study"],
            "design": a.plan["design"]["kind"],
            "kpis": a.kpis,
            "points": len(a.points),
            "summary": a.summary.to_dict("records"),
            "paired_differences": a.paired.to_dict("records"),
            "sensitivity": a.sensitivity.to_dict("records"),
            "notes": a.notes,
            "plots": [str(p) for p in plots],
            "tables": [str(p) for p in files],
        }
        print(json.dumps(doc, indent=1, default=_json_default))
        return 0
    con = stdout_console()
    shown = a.kpis[: args.columns]
    head = f"{a.plan['study']} · {a.plan['design']['kind']} · {len(a.points)} points"
    con.print(_point_table(a, a.summary, "mean", "half_width", "n", f"{head} · mean ± 95% CI", shown, args.rows))
    if len(a.points) > 1 and not a.paired.empty:
        title = f"{head} · difference from point {args.reference}, paired by seed ± 95% CI"
        con.print(_point_table(a, a.paired, "diff", "half_width", "pairs", title, shown, args.rows))
    if len(a.points) > args.rows:
        con.print(f"… {len(a.points) - args.rows} more points (see --export)")
    if not a.sensitivity.empty:
        s = Table(title=f"{a.plan['design']['kind']} sensitivity indices (95% confidence)")
        for c in ("kpi", "factor", "index", "value", "±"):
            s.add_column(c, justify="left" if c in ("kpi", "factor", "index") else "right")
        for r in a.sensitivity[a.sensitivity["index"] != "mu"].itertuples():
            s.add_row(r.kpi, r.factor, r.index, _fmt(r.value), _fmt(r.conf))
        con.print(s)
    for note in a.notes:
        con.print(f"[yellow]note:[/yellow] {note}")
    if plots:
        con.print(f"plots: {plots[0].parent} ({len(plots)} PNG)")
    if args.export:
        con.print(f"tables: {args.export} ({', '.join(sorted({f.stem for f in files}))}; CSV and Parquet)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``batch`` and ``analyze`` subcommands."""
    b = sub.add_parser(
        "batch",
        help="run a study: design points × replications, streamed to disk, resumable",
        description="Run every run of a study (scenarios/studies/*.yaml) that is not already in OUT.",
    )
    b.add_argument("study", metavar="STUDY", help="study YAML file")
    b.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="local worker processes (default) or a Dask cluster",
    )
    b.add_argument(
        "--workers",
        "-w",
        type=int,
        metavar="N",
        help="worker processes (default: the CPUs available; 0 runs in this process)",
    )
    b.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default with --executor dask: a local cluster)",
    )
    b.add_argument("--out", "-o", metavar="DIR", help="output folder (default: batch-out/<study name>)")
    b.add_argument("--resume", action="store_true", help="continue the batch in OUT (an error if OUT holds none)")
    b.add_argument(
        "--connect-timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds to wait for the Dask scheduler and its workers (default 5)",
    )
    b.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    b.add_argument("--json", action="store_true", help="print the batch's summary as JSON on stdout")
    b.set_defaults(fn=cmd_batch)

    a = sub.add_parser(
        "analyze",
        help="summarise a batch: per-point CIs, main effects, Sobol/Morris indices, plots",
        description="Analyse a batch output folder; plots go to OUT/analysis, tables to --export DIR.",
    )
    a.add_argument("out", metavar="OUT", help="the batch's output folder")
    a.add_argument(
        "--kpi", "-k", action="append", metavar="K", help="KPI to analyse (repeatable; default: the study's)"
    )
    a.add_argument("--export", metavar="DIR", help="write tidy tables (CSV and Parquet) to DIR")
    a.add_argument("--plots", metavar="DIR", help="folder for the PNG plots (default: OUT/analysis)")
    a.add_argument(
        "--reference", type=int, default=0, metavar="P", help="design point the paired differences are taken from"
    )
    a.add_argument("--rows", type=int, default=30, help="points shown in the table (default 30)")
    a.add_argument("--columns", type=int, default=3, help="KPIs shown in the table (default 3)")
    a.add_argument("--json", action="store_true", help="print the tables as JSON on stdout instead")
    a.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    a.set_defaults(fn=cmd_analyze)
