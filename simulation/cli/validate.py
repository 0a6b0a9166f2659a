"""``python -m simulation validate``: the model's outputs beside the published figures.

Runs the shipped baselines (one day each) and prints, per figure, the model's value, the
published one, the tolerance band and pass/fail. Exit 0 when all pass, 1 when some fail, 2 on
bad input. Sources: docs/sources.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from simulation.cli.console import stdout_console

__all__ = ["register"]


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "—"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``validate`` subcommand."""
    from simulation.results.calibration import FIGURES

    p = sub.add_parser(
        "validate",
        help="compare the model's outputs on the shipped baselines with published figures",
        description="Run the shipped baselines (sangam_baseline for the business district, seongsu_baseline for "
        "the residential one) and print each figure's model value, published value, tolerance band and "
        "pass/fail. Exit 0 when all pass, 1 when some fail, 2 on bad input. Sources: docs/sources.md. "
        f"Figures: {', '.join(f.key for f in FIGURES)}.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout instead of a table")
    p.add_argument("--seed", type=int, default=None, help="seed of the baseline days (default: the scenarios')")
    p.add_argument(
        "--only", metavar="FIGURE[,FIGURE...]", default="", help="check only these figures (comma-separated keys)"
    )
    p.add_argument(
        "--business", metavar="SCENARIO", help="scenario for the business-district figures (default: sangam_baseline)"
    )
    p.add_argument(
        "--residential", metavar="SCENARIO", help="scenario for the residential figures (default: seongsu_baseline)"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(fn=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    """Run, measure, print; 0 all pass, 1 some fail."""
    from simulation.results.calibration import figures, validate

    figs = figures([k.strip() for k in args.only.split(",") if k.strip()])
    scenarios = {k: v for k, v in (("business", args.business), ("residential", args.residential)) if v}
    last: dict[str, int] = {}

    def progress(name: str, frac: float) -> None:
        pct = int(frac * 100)
        if not args.quiet and pct // 10 != last.get(name, -1):
            last[name] = pct // 10
            print(f"validate: {name} {pct:3d}%", file=sys.stderr, flush=True)

    checks = validate(figs, seed=args.seed, scenarios=scenarios, progress=progress)
    failed = [c for c in checks if not c.ok]
    if args.json:
        print(json.dumps({"pass": not failed, "checks": [c.to_json() for c in checks]}, indent=1, ensure_ascii=False))
    else:
        from rich.table import Table

        t = Table(title="Model against published figures (sources: docs/sources.md; * judgement)")
        for col in ("figure", "scenario", "model", "published", "band", "unit", "result"):
            t.add_column(col, justify="right" if col in ("model", "published", "band") else "left")
        for c in checks:
            t.add_row(
                c.name + (" *" if c.judgement else ""),
                c.scenario,
                _fmt(c.model),
                f"{c.published:g}",
                f"{c.low:g}–{c.high:g}",
                c.unit,
                "[green]pass[/]" if c.ok else "[red]FAIL[/]",
            )
        stdout_console().print(t)
        print(f"{len(checks) - len(failed)} of {len(checks)} figures inside their band")
    return 1 if failed else 0
