"""``python -m simulation new-plugin NAME`` and ``python -m simulation check-plugin PATH``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
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
    from simulation.plugins.scaffold import new_package, new_plugin

    if args.package:
        root = new_package(args.name, args.dir or ".", vendor=args.vendor, category=args.category)
        if args.json:
            files = sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())
            print(json.dumps({"plugin": args.name, "folder": str(root), "package": True, "files": files}, indent=1))
            return 0
        print(f"created {root}/ (pyproject.toml, {args.name}/plugin.yaml, service.py, README.md, tests/)")
        print(f"next: edit {root}/{args.name}/service.py, then  python -m simulation check-plugin {root}/{args.name}")
        print(f"install (offline, with this environment's setuptools):  pip install --no-build-isolation {root}")
        print(f"then a scenario says  use: {args.name}")
        return 0
    dest = new_plugin(args.name, args.dir or "plugins", vendor=args.vendor, category=args.category)
    if args.json:
        files = sorted(str(p.relative_to(dest)) for p in Path(dest).rglob("*") if p.is_file())
        print(json.dumps({"plugin": args.name, "folder": str(dest), "files": files}, indent=1))
        return 0
    print(f"created {dest}/ (plugin.yaml, service.py, README.md, test_service.py)")
    print(f"next: edit service.py, then run  python -m simulation check-plugin {dest}")
    return 0


def _builtin_param(text: str) -> tuple[str, str, Any]:
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise argparse.ArgumentTypeError(f"built-in params look like BUILTIN.PARAM=VALUE; got {text!r}")
    key, value = _param(text)
    name, param = key.split(".", 1)
    return name.removeprefix("builtin:"), param, value


def _builtin_overrides(items: list[tuple[str, str, Any]] | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, param, value in items or []:
        out.setdefault(name, {})[param] = value
    return out


def _fmt(v: float) -> str:
    if v is None or math.isnan(v):
        return "—"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.2f}"


def cmd_check_plugin(args: argparse.Namespace) -> int:
    from simulation.config.scenario import parse_duration
    from simulation.plugins import SETTINGS
    from simulation.results.conformance import check_plugin, kpi_rows

    if args.evidence:
        return _evidence(args)
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
            builtin_params=_builtin_overrides(args.builtin_param),
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
        if run.rejections:
            rt = Table(title=f"{report.plugin} in {run.district}: rejected actions by reason ({run.position})")
            for col in ("count", "reason (first example)", "hint"):
                rt.add_column(col, justify="right" if col == "count" else "left")
            for reason, n in run.rejections.items():
                rt.add_row(str(n), reason, run.hints.get(reason, ""))
            out.print(rt)
        if run.log_tail.strip():
            from simulation.results.logs import format_log, parse_output

            out.print(f"[dim]service output ({run.district}, last lines; Service.log entries first):[/dim]")
            out.print(format_log(report.plugin, parse_output(run.log_tail), tail=5), markup=False, highlight=False)
    if report.conforms:
        out.print("[green bold]CONFORMS[/green bold]: every check passed.")
        return 0
    failed = [c.name for c in report.checks if not c.passed]
    print(f"DOES NOT CONFORM: {len(failed)} check(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1


def _evidence(args: argparse.Namespace) -> int:
    """``check-plugin --evidence``: the paired KPI effect with 95% CIs over N seeds (full day)."""
    from simulation.cli.console import stderr_progress
    from simulation.config.scenario import parse_duration
    from simulation.plugins import SETTINGS
    from simulation.results.plugin_evidence import plugin_evidence

    try:
        duration = parse_duration(args.duration) if args.duration_given else 86400.0
    except ValueError as exc:
        from simulation.errors import ScenarioError

        raise ScenarioError("--duration", f"{exc}; got {args.duration!r}") from None
    start = args.start if args.start_given else "2026-05-12T00:00"
    if args.seeds < 2:
        from simulation.errors import ScenarioError

        raise ScenarioError("--seeds", f"needs at least 2 seeds for a confidence interval; got {args.seeds}")
    allow = args.allow_degraded or SETTINGS.allow_degraded
    with SETTINGS.override(allow_degraded=allow), stderr_progress("runs", args.json) as prog:
        task = prog.add_task("baseline and candidate", total=1)
        ev = plugin_evidence(
            args.path,
            districts=args.district or None,
            seeds=args.seeds,
            seed=args.seed,
            start=start,
            duration=duration,
            params=dict(args.param or []),
            builtin_params=_builtin_overrides(args.builtin_param),
            progress=lambda done, total: prog.update(task, completed=done, total=total),
        )
    if args.json:
        print(json.dumps(ev.to_json(), indent=1, default=str))
        return 0
    from rich.table import Table

    out = stdout_console()
    hours = ev.duration_s / 3600
    for district, rows in ev.rows.items():
        t = Table(
            title=f"{ev.plugin} in {district}: effect against the baseline, {len(ev.seeds)} seeds paired "
            f"(seeds {ev.seeds[0]}–{ev.seeds[-1]}, {hours:g} h from {ev.start}), 95% CI"
        )
        for col in ("KPI", "unit", "baseline", "with service", "change", "95% CI", "verdict"):
            t.add_column(col, justify="left" if col in ("KPI", "unit", "verdict") else "right")
        for r in rows:
            colour = {"better": "green", "worse": "red"}.get(r.verdict, "dim")
            ci = f"{_fmt(r.ci_low)} to {_fmt(r.ci_high)}" if not math.isnan(r.ci_low) else "—"
            verdict = f"[{colour}]{r.verdict}[/{colour}]"
            t.add_row(r.kpi, r.unit, _fmt(r.baseline), _fmt(r.candidate), _fmt(r.diff), ci, verdict)
        out.print(t)
    share = 100 * ev.rejected / ev.actions if ev.actions else 0.0
    out.print(
        f"status over {sum(ev.status.values())} run(s): "
        + ", ".join(f"{k} {v}" for k, v in sorted(ev.status.items()))
        + f"; {ev.actions:,} action(s), {ev.rejected:,} rejected ({share:.1f}%)"
    )
    if ev.rejections:
        hints = ev.hints()
        rt = Table(title="rejected actions by reason (ids masked)")
        for col in ("count", "reason", "hint"):
            rt.add_column(col, justify="right" if col == "count" else "left")
        for reason, n in ev.rejections.most_common(15):
            rt.add_row(f"{n:,}", reason, hints.get(reason, ""))
        out.print(rt)
    return 0


class _Given(argparse.Action):
    """Store the value and remember that the user gave it (evidence mode has other defaults)."""

    def __call__(self, parser: Any, ns: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        setattr(ns, self.dest, values)
        setattr(ns, f"{self.dest}_given", True)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``new-plugin`` and ``check-plugin`` to the CLI."""
    n = sub.add_parser(
        "new-plugin",
        help="scaffold a working service: manifest, service.py, README, test",
        description="Create plugins/NAME/ with plugin.yaml, service.py, README.md and test_service.py; "
        "with --package, an installable project NAME/ (pyproject.toml with the pilot_sandbox.services entry "
        "point, the package NAME/ holding plugin.yaml and README.md as package data, tests/).",
    )
    n.add_argument("name", metavar="NAME", help="plugin name: lower-case letters, digits and '_'")
    n.add_argument("--dir", default=None, help="folder to create it in (default: plugins; with --package: .)")
    n.add_argument(
        "--package", action="store_true", help="scaffold an installable Python package (pip install) instead"
    )
    n.add_argument("--vendor", default="Your Company", help="company name for the manifest")
    n.add_argument("--json", action="store_true", help="print what was created as JSON")
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
    c.add_argument(
        "--duration",
        default="2h",
        action=_Given,
        help="length of the standard scenario (default: 2h; with --evidence: 24h)",
    )
    c.add_argument(
        "--start",
        default="2026-05-12T18:00",
        action=_Given,
        help="start of the standard scenario (default: 18:00, across sunset; with --evidence: 00:00)",
    )
    c.add_argument(
        "--evidence",
        action="store_true",
        help="instead of the checks: run the baseline and the baseline plus your service for --seeds seeds "
        "(full day), paired by seed, and print each KPI's change with its 95%% CI (what an evaluator sees)",
    )
    c.add_argument("--seeds", type=int, default=5, help="seeds for --evidence (default: 5; at least 2)")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument(
        "--param", action="append", type=_param, metavar="NAME=VALUE", help="a param for the service (repeatable)"
    )
    c.add_argument(
        "--builtin-param",
        action="append",
        type=_builtin_param,
        metavar="BUILTIN.PARAM=VALUE",
        help="change a built-in in the run with your service only, as your scenario will "
        "(e.g. cctv_monitoring.selective=false; repeatable); the baseline keeps the defaults",
    )
    c.add_argument(
        "--allow-degraded",
        action="store_true",
        help="without a working bubblewrap sandbox, run with rlimits only (marked degraded; never conforms)",
    )
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(fn=cmd_check_plugin, duration_given=False, start_given=False)
