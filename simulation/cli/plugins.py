"""``python -m simulation new-plugin NAME`` and ``python -m simulation check-plugin PATH``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from simulation.cli.console import stdout_console

__all__ = ["register"]


def _param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"params look like NAME=VALUE; got {text!r}")
    k, v = text.split("=", 1)
    from simulation.config._yaml import parse_yaml
    from simulation.errors import ScenarioError

    try:
        return k.strip(), parse_yaml(v, f"--param {k.strip()}", ScenarioError, max_bytes=10_000)
    except ScenarioError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from simulation.plugins.scaffold import new_plugin

    dest = new_plugin(args.name, args.dir, vendor=args.vendor, category=args.category)
    print(f"created {dest}/ (plugin.yaml, service.py, README.md, test_service.py)")
    print(f"next: edit service.py, then run  python -m simulation check-plugin {dest}")
    return 0


def _fmt(v: float) -> str:
    if v is None or math.isnan(v):
        return "—"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.2f}"


def cmd_check_plugin(args: argparse.Namespace) -> int:
    from simulation.config.scenario import parse_duration
    from simulation.plugins import SETTINGS
    from simulation.results.conformance import check_plugin, kpi_rows

    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        from simulation.errors import ScenarioError

        raise ScenarioError("--duration", f"{exc}; got {args.duration!r}") from None
    with SETTINGS.override(allow_degraded=args.allow_degraded or SETTINGS.allow_degraded):
        report = check_plugin(
            args.path,
            districts=args.district or None,
            start=args.start,
            duration=duration,
            seed=args.seed,
            params=dict(args.param or []),
        )
    if args.json:
        print(json.dumps(report.to_json(), indent=1, default=str))
        return 0 if report.conforms else 1
    from rich.table import Table

    out = stdout_console()
    out.print(f"[bold]{report.plugin}[/bold] {report.version} · {report.folder} · isolation: {report.isolation}")
    t = Table(title="Conformance checks")
    for col in ("check", "result", "detail"):
        t.add_column(col)
    for check in report.checks:
        t.add_row(check.name, "[green]passed[/green]" if check.passed else "[red]FAILED[/red]", check.detail)
    out.print(t)
    for run in report.runs:
        kt = Table(title=f"{report.plugin} in {run.district}: KPIs against the baseline (same seed)")
        for col in ("KPI", "unit", "baseline", "with service", "change", ""):
            kt.add_column(col, justify="left" if col in ("KPI", "unit", "") else "right")
        for name, unit, b, c, d, verdict in kpi_rows(run):
            colour = {"better": "green", "worse": "red"}.get(verdict, "dim")
            kt.add_row(name, unit, _fmt(b), _fmt(c), _fmt(d), f"[{colour}]{verdict}[/{colour}]")
        out.print(kt)
        if run.log_tail.strip():
            out.print(f"[dim]service output ({run.district}, last lines):[/dim]")
            out.print("\n".join(run.log_tail.strip().splitlines()[-5:]), markup=False, highlight=False)
    if report.conforms:
        out.print("[green bold]CONFORMS[/green bold]: every check passed.")
        return 0
    failed = [c.name for c in report.checks if not c.passed]
    print(f"DOES NOT CONFORM: {len(failed)} check(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``new-plugin`` and ``check-plugin`` to the CLI."""
    n = sub.add_parser(
        "new-plugin",
        help="scaffold a working service: manifest, service.py, README, test",
        description="Create plugins/NAME/ with plugin.yaml, service.py, README.md and test_service.py.",
    )
    n.add_argument("name", metavar="NAME", help="plugin name: lower-case letters, digits and '_'")
    n.add_argument("--dir", default="plugins", help="folder to create it in (default: plugins)")
    n.add_argument("--vendor", default="Your Company", help="company name for the manifest")
    n.add_argument(
        "--category",
        default="safety",
        choices=["safety", "connectivity", "environment", "logistics", "mobility", "energy"],
    )
    n.set_defaults(fn=cmd_new_plugin)

    c = sub.add_parser(
        "check-plugin",
        help="validate a plugin, run it sandboxed in every shipped district, report",
        description="Validate the manifest, load the service in the sandbox, run a short standard "
        "scenario in each shipped district against the baseline, print a conformance "
        "report. Exit 0 only if it conforms (1 if not, 2 on bad input).",
    )
    c.add_argument("path", metavar="PATH", help="plugin folder (holding plugin.yaml)")
    c.add_argument(
        "--district", action="append", metavar="NAME", help="district to check in (repeatable; default: all shipped)"
    )
    c.add_argument("--duration", default="2h", help="length of the standard scenario (default: 2h)")
    c.add_argument(
        "--start", default="2026-05-12T18:00", help="start of the standard scenario (default: 18:00, across sunset)"
    )
    c.add_argument("--seed", type=int, default=1)
    c.add_argument(
        "--param", action="append", type=_param, metavar="NAME=VALUE", help="a param for the service (repeatable)"
    )
    c.add_argument(
        "--allow-degraded",
        action="store_true",
        help="without a working bubblewrap sandbox, run with rlimits only (marked degraded; never conforms)",
    )
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(fn=cmd_check_plugin)
