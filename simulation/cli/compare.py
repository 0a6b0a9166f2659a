"""``python -m simulation compare BASELINE CANDIDATE [MORE...]``: paired comparison of scenarios.

Each argument is a scenario file (or the name of one in ``scenarios/``). The runs come from the
store; missing replications are run first (``run_or_reuse``). Every scenario runs with the
baseline's seeds, so the runs pair seed by seed (common random numbers).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from simulation.cli.console import stderr_progress, stdout_console

__all__ = ["cmd_compare", "register"]


def register(subparsers: Any) -> None:
    """Add the ``compare`` subcommand."""
    p = subparsers.add_parser(
        "compare",
        help="compare scenarios run by run (paired by seed) with 95%% confidence intervals",
        description="Compare a baseline scenario with one or more candidates. Runs missing from the store are "
        "run first; every scenario uses the baseline's seeds so that runs pair by seed.",
    )
    p.add_argument("baseline", metavar="BASELINE", help="the baseline scenario file (or name in scenarios/)")
    p.add_argument("candidates", metavar="CANDIDATE", nargs="+", help="candidate scenario files")
    p.add_argument("--store", default="results", metavar="DIR", help="results folder (default: results)")
    p.add_argument("--seed", type=int, help="base seed for every scenario (default: the baseline's)")
    p.add_argument("--replications", "-r", type=int, help="replications of every scenario (default: the baseline's)")
    p.add_argument(
        "--correction",
        choices=("none", "holm"),
        default="none",
        help="multiple-comparison correction across each candidate's KPIs (default: none; the caption says "
        "how many significant KPIs chance alone would give)",
    )
    p.add_argument(
        "--precision",
        metavar="X",
        default="10%",
        help="show the pairs needed for a 95%% interval of ±X, from the observed spread: a share of the "
        "baseline mean like 10%% (default) or an absolute number in the KPI's unit",
    )
    p.add_argument("--csv", metavar="FILE", help="write the comparison table as CSV")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout instead of tables")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument("--allow-inline", action="store_true", help="let third-party services run inline (debugging only)")
    p.set_defaults(fn=cmd_compare)


def _runs(scenarios: list[Any], store: Any, args: argparse.Namespace) -> tuple[dict[str, list[str]], int]:

    from simulation.results.reuse import run_or_reuse
    from simulation.results.run import replication_seeds

    groups: dict[str, list[str]] = {}
    failed = 0
    with stderr_progress("replications", args.quiet) as prog:
        for sc in scenarios:
            seeds = replication_seeds(sc.seed, sc.replications)
            task = prog.add_task(sc.name, total=len(seeds))
            label = sc.name
            n = 2
            while label in groups:
                label, n = f"{sc.name} ({n})", n + 1
            ids = []
            for k, seed in enumerate(seeds):

                def tick(frac: float, k: int = k, task: Any = task) -> None:
                    prog.update(task, completed=k + frac)

                r, _ = run_or_reuse(sc, seed, store, progress=tick, allow_inline=args.allow_inline)
                ids.append(r.run_id)
                failed += r.status != "ok"
                prog.update(task, completed=k + 1)
            groups[label] = ids
    return groups, failed


def cmd_compare(args: argparse.Namespace) -> int:
    """Load the scenarios, make sure their runs are in the store, compare, print and export."""
    from simulation.config.scenario import load_scenario
    from simulation.results.compare import compare, hourly_means
    from simulation.results.store import Store

    base = load_scenario(args.baseline, seed=args.seed, replications=args.replications)
    seed, reps = base.seed, base.replications
    scenarios = [base]
    for path in args.candidates:
        sc = load_scenario(path)
        if (sc.seed, sc.replications) != (seed, reps):
            sc = load_scenario(path, seed=seed, replications=reps)  # pair with the baseline's seeds
        scenarios.append(sc)
    store = Store(args.store)
    groups, failed = _runs(scenarios, store, args)
    cmp = compare(store, groups, correction=args.correction)
    needed = pairs_needed(cmp.table, args.precision)
    if args.csv:
        _write(args.csv, cmp.table.to_csv(index=False))
    if args.html:
        from simulation.results.report import render_report

        _write(args.html, render_report(cmp, series=hourly_means(store, cmp), store_root=str(store.root)))
    if args.json:
        rows = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in cmp.table.to_dict(orient="records")
        ]
        doc = {
            "baseline": cmp.baseline,
            "candidates": cmp.candidates,
            "runs": {lb: {str(s): r for s, r in g.items()} for lb, g in cmp.groups.items()},
            "notes": list(cmp.notes),
            "correction": cmp.correction,
            "caption": {c: cmp.caption(c) for c in cmp.candidates},
            "precision": args.precision,
            "rows": [r | {"pairs_needed": n} for r, n in zip(rows, needed, strict=True)],
        }
        print(json.dumps(doc, indent=1, allow_nan=False, default=str))
    else:
        _print(cmp, store, needed, args.precision)
    return 1 if failed else 0


def pairs_needed(table: Any, precision: str) -> list[int | None]:
    """Per table row: pairs for a 95% interval of ±``precision`` (``"10%"`` of the baseline mean, or absolute)."""
    from simulation.errors import SandboxError
    from simulation.stats import replications_needed

    text = str(precision).strip()
    try:
        rel = text.endswith("%")
        x = float(text[:-1]) / 100 if rel else float(text)
    except ValueError:
        raise SandboxError(
            f"--precision: not a number; got {precision!r} (allowed: a share like 10% or a number > 0)"
        ) from None
    if not (math.isfinite(x) and x > 0):
        raise SandboxError(f"--precision: must be > 0; got {precision!r} (allowed: a share like 10% or a number > 0)")
    out: list[int | None] = []
    for sd, base in zip(table["sd_diff"], table["baseline_mean"], strict=True):
        target = x * abs(float(base)) if rel else x
        out.append(replications_needed(float(sd), target) if target > 0 else None)
    return out


def _write(path: str, text: str) -> None:
    from simulation.errors import SandboxError

    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(p)
    except OSError as exc:
        raise SandboxError(f"{path}: cannot write ({exc.strerror or exc})") from None
    print(f"wrote {path}", file=sys.stderr)


def _print(cmp: Any, store: Any, needed: list[int | None], precision: str) -> None:
    from rich.table import Table

    from simulation.results.numbers import fmt_num

    style = {"better": "green", "worse": "red", "no significant change": "dim", "too few pairs": "yellow", "n/a": "dim"}
    need = dict(zip(zip(cmp.table["candidate"], cmp.table["kpi"], strict=True), needed, strict=True))
    out = stdout_console()
    for c in cmp.candidates:
        t = cmp.table[cmp.table["candidate"] == c]
        seeds = cmp.pair_seeds(c)
        table = Table(
            title=f"{c} (candidate) vs {cmp.baseline} (baseline) · {len(seeds)} pairs "
            f"(seeds {seeds[0]}–{seeds[-1]}) · 95% paired-t CI",
            caption=cmp.caption(c),
        )
        kpi_width = max((len(k) for k in t["kpi"]), default=3)
        table.add_column("KPI", no_wrap=True, min_width=min(kpi_width, 40))
        cols = ("unit", "better", "baseline", "candidate", "difference", "95% CI", "verdict", f"pairs for ±{precision}")
        for col in cols:
            table.add_column(col, justify="right" if col not in ("unit", "better", "verdict") else "left")
        for r in t.itertuples(index=False):
            ci = "—" if math.isnan(r.ci_low) else f"[{fmt_num(r.ci_low)}, {fmt_num(r.ci_high)}]"
            verdict = "≈ not significant" if r.verdict == "no significant change" else r.verdict
            table.add_row(
                r.kpi,
                r.unit,
                r.better,
                fmt_num(r.baseline_mean),
                fmt_num(r.candidate_mean),
                fmt_num(r.diff_mean, signed=True),
                ci,
                f"[{style[r.verdict]}]{verdict}[/]",
                "—" if need[(c, r.kpi)] is None else f"{need[(c, r.kpi)]:,}",
            )
        out.print(table)
    for n in cmp.notes:
        out.print(f"[yellow]note:[/yellow] {n}")
    out.print(f"runs: {store.root}/runs/ ({sum(len(g) for g in cmp.groups.values())} runs)")
