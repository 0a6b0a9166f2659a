"""``python -m simulation discover OUT --kpi K`` (PRIM scenario discovery) and ``optimise STUDY`` (optuna)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from simulation.cli.console import stdout_console

__all__ = ["register"]


def cmd_discover(args: argparse.Namespace) -> int:
    from rich.table import Table

    from simulation.batch.discovery import discover, save

    d = discover(
        args.out,
        args.kpi,
        above=args.above,
        below=args.below,
        worst=args.worst,
        threshold=args.threshold,
        peel_alpha=args.peel_alpha,
        mass_min=args.mass_min,
        max_boxes=args.boxes,
    )
    files = save(d)
    if args.json:
        print(json.dumps(d.to_json() | {"files": [str(p) for p in files]}, indent=1))
        return 0
    con = stdout_console()
    con.print(f"cases of interest: {d.rule} — {d.cases} of {d.points} design points")
    for b in d.boxes:
        con.print(
            f"[bold]box {b.box}[/bold] (peeling step {b.step}): coverage {b.coverage:.0%}, density {b.density:.0%}, "
            f"mass {b.mass:.0%} ({b.cases} of {b.points} points in the box are cases)"
        )
        t = Table()
        t.add_column("factor")
        t.add_column("range in the box")
        for name, lim in b.limits.items():
            t.add_row(name, ", ".join(lim) if lim and isinstance(lim[0], str) else f"{lim[0]:.4g} – {lim[1]:.4g}")
        if not b.limits:
            t.add_row("(none)", "the whole design space")
        con.print(t)
    for n in d.notes:
        con.print(f"[yellow]note:[/yellow] {n}")
    con.print(f"saved: {', '.join(str(p) for p in files)} (the Batch page shows them)")
    return 0


def _add_discover(sub: Any) -> None:
    p = sub.add_parser(
        "discover",
        help="scenario discovery: the factor ranges (PRIM boxes) where a KPI is bad",
        description="Run PRIM (EMA Workbench) on a batch's design points: which factor ranges hold the cases "
        "of interest (by default the worst quarter of points for the KPI). Prints each box's coverage, density "
        "and factor ranges; saves OUT/discovery/<kpi>.json and a peeling-trajectory plot.",
    )
    p.add_argument("out", metavar="OUT", help="a batch's output folder (an LHS or Sobol design of 50+ points suits)")
    p.add_argument("--kpi", "-k", required=True, metavar="K", help="the KPI that defines the cases of interest")
    p.add_argument("--above", type=float, metavar="X", help="cases of interest: mean KPI above X")
    p.add_argument("--below", type=float, metavar="X", help="cases of interest: mean KPI below X")
    p.add_argument(
        "--worst", type=float, default=25.0, metavar="PCT", help="else: the worst PCT%% of points (default 25)"
    )
    p.add_argument("--threshold", type=float, default=0.8, help="density a reported box must reach (default 0.8)")
    p.add_argument("--peel-alpha", type=float, default=0.05, help="share peeled per step (default 0.05)")
    p.add_argument("--mass-min", type=float, default=0.05, help="smallest box, as a share of points (default 0.05)")
    p.add_argument("--boxes", type=int, default=2, help="boxes to find, one after another (default 2)")
    p.add_argument("--json", action="store_true", help="print the boxes and trajectory as JSON")
    p.set_defaults(fn=cmd_discover)


def cmd_optimise(args: argparse.Namespace) -> int:
    from rich.table import Table

    from simulation.batch.optimise import optimise
    from simulation.cli.console import stderr_progress

    with stderr_progress("trials", quiet=args.quiet or args.json) as prog:
        task = prog.add_task("optimise", total=1)

        def tick(done: int, total: int, what: str) -> None:
            prog.update(task, completed=done, total=total, description=what)

        res = optimise(args.study, args.out, trials=args.trials, progress=tick)
    if args.json:
        print(json.dumps(res, indent=1, default=str))
        return 0
    objs = list(res["objectives"])
    rows = {r["trial"]: r for r in res["trials"]}
    title = "best trial" if len(objs) == 1 else f"Pareto front ({len(res['best'])} trials)"
    t = Table(title=f"{res['study']}: {title} of {res['trials_done']} run ({res['sampler']}, seeds {res['seeds']})")
    factors = [k for k in next(iter(rows.values()), {}) if k.startswith("factor:")]
    for c in ("trial", *[f[7:] for f in factors], "capex KRW", *[f"{k} ({d})" for k, d in res["objectives"].items()]):
        t.add_column(c, justify="right")
    for n in res["best"]:
        r = rows[n]
        cells = [str(n), *[_cell(r[f]) for f in factors], _cell(r["capex_krw"]), *[_cell(r[f"kpi:{k}"]) for k in objs]]
        t.add_row(*cells)
    con = stdout_console()
    con.print(t)
    if res["trials_pruned"]:
        con.print(f"{res['trials_pruned']} trials not run (over the capex budget or invalid; see trials.parquet)")
    con.print(f"saved: {res['out']}/optimise.json, trials.parquet, runs/ (the Batch page shows them)")
    return 0


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"
    return str(v)


def _add_optimise(sub: Any) -> None:
    p = sub.add_parser(
        "optimise",
        aliases=["optimize"],
        help="search a study's factors with optuna for the best KPIs under a capex budget",
        description="Optimise over the factors of a study file with an 'optimise:' section (objectives, trials, "
        "capex). One objective: TPE; several: NSGA-II and a Pareto front. Every trial's runs are stored in OUT/runs "
        "with the study's seeds (paired); the same command resumes.",
    )
    p.add_argument("study", metavar="STUDY", help="study YAML file with an 'optimise:' section")
    p.add_argument("--out", "-o", metavar="DIR", help="output folder (default: batch-out/<study>-optimise)")
    p.add_argument("--trials", type=int, metavar="N", help="trials in all (default: the study's optimise.trials)")
    p.add_argument("--json", action="store_true", help="print every trial and the best ones as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(fn=cmd_optimise)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``discover`` and ``optimise``."""
    _add_discover(sub)
    _add_optimise(sub)
