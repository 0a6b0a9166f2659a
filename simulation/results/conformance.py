"""``check-plugin``: does a company's service conform? Run it sandboxed and say what passed and why.

The standard check: validate the manifest, import the service in the sandbox, then run a short
scenario (default 2 h from 18:00, across sunset) in every shipped district — once with the city's
built-in services (the baseline) and once with the service added *after* them, where a scenario
that ``extends`` a baseline puts it, same seed — and check that the service stays ``ok``, that the
world accepts its actions (rejections reported by reason, each with a hint), that it keeps to its
deadlines and its log cap, and that a second run gives identical KPIs. KPIs are reported against
the baseline. For the effect with confidence intervals, see :mod:`simulation.results.plugin_evidence`.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulation.config._yaml import parse_model
from simulation.config.district import list_districts
from simulation.config.scenario import Scenario, scenario_district
from simulation.errors import SandboxError, ScenarioError
from simulation.plugins.discovery import open_plugin
from simulation.plugins.loader import GuardedRunner
from simulation.plugins.sandbox import SandboxRunner
from simulation.plugins.selfcheck import ensure_sandbox
from simulation.plugins.settings import SETTINGS
from simulation.results.kpis import CATALOGUE, compute_kpis
from simulation.results.rejections import hint_for

__all__ = ["Check", "DistrictRun", "Report", "check_plugin"]

BUILTINS = ("builtin:cctv_monitoring", "builtin:public_wifi", "builtin:streetlights")
MAX_REJECTED_SHARE = 0.05


@dataclass
class Check:
    """One conformance check and its outcome."""

    name: str
    passed: bool
    detail: str = ""


@dataclass
class DistrictRun:
    """The service in one district: its status, KPIs against the baseline, calls and log."""

    district: str
    status: str
    errors: list[dict]
    actions: int
    rejected: int
    installed: int
    baseline: dict[str, float]
    candidate: dict[str, float]
    rejections: dict[str, int] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)  # rejection reason -> what to do about it
    calls: int = 0
    mean_call_ms: float = math.nan  # on_tick round trips: mean and slowest
    max_call_ms: float = math.nan
    log_tail: str = ""
    position: str = ""  # where the service ran in the service order


@dataclass
class Report:
    """The conformance report ``check-plugin`` prints."""

    plugin: str
    folder: str
    version: str
    isolation: str
    checks: list[Check] = field(default_factory=list)
    runs: list[DistrictRun] = field(default_factory=list)

    @property
    def conforms(self) -> bool:
        """Every check passed."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    def add(self, name: str, passed: bool, detail: str = "") -> None:
        """Record one check."""
        self.checks.append(Check(name, passed, detail))

    def to_json(self) -> dict[str, Any]:
        """The report as plain data."""

        def num(v: float) -> float | None:
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

        return {
            "plugin": self.plugin,
            "folder": self.folder,
            "version": self.version,
            "isolation": self.isolation,
            "conforms": self.conforms,
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks],
            "runs": [
                {
                    "district": r.district,
                    "status": r.status,
                    "errors": r.errors,
                    "actions": r.actions,
                    "rejected": r.rejected,
                    "installed": r.installed,
                    "rejections": r.rejections,
                    "hints": r.hints,
                    "position": r.position,
                    "calls": r.calls,
                    "mean_call_ms": num(r.mean_call_ms),
                    "max_call_ms": num(r.max_call_ms),
                    "kpis": {
                        k: {"baseline": num(r.baseline.get(k, math.nan)), "candidate": num(v)}
                        for k, v in r.candidate.items()
                    },
                }
                for r in self.runs
            ],
        }


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


def _deterministic(
    kpis: dict[str, float], kpis2: dict[str, float], digests: list[str], digests2: list[str], tick_s: float
) -> tuple[bool, str]:
    """Two runs with the same seed must give identical KPIs and the identical action stream, tick by tick."""
    hint = "use self.random (seeded), not time, os.urandom or the order of a set"
    if digests != digests2:
        first = next((k for k, (a, b) in enumerate(zip(digests, digests2, strict=False)) if a != b), None)
        if first is None:
            where = f"one run answered {len(digests)} ticks, the other {len(digests2)}"
        else:
            where = f"first at tick {first + 1} (t={first * tick_s:g} s)"
        differ = sum(a != b for a, b in zip(digests, digests2, strict=False)) + abs(len(digests) - len(digests2))
        return False, f"two runs with the same seed returned different actions in {differ} tick(s), {where}: {hint}"
    if not _same(kpis, kpis2):
        return False, f"two runs with the same seed gave different KPIs: {hint}"
    return True, f"two runs with the same seed gave identical KPIs and identical actions in all {len(digests)} ticks"


def _scenario(district: str, name: str, services: list[dict], start: str, duration: float, tick: float) -> Scenario:
    data = {
        "name": name,
        "district": district,
        "start": start,
        "duration": duration,
        "seed": 1,
        "replications": 1,
        "tick": tick,
        "services": services,
        "source": "",
    }
    return parse_model(Scenario, data, f"check-plugin ({name})", ScenarioError)


def _run(sc: Scenario, seed: int) -> tuple[Any, dict[str, float]]:
    from simulation.results.run import build_world

    world = build_world(sc, seed)
    world.run()
    return world, compute_kpis(world)


def _districts(tmp: Path) -> list[str]:
    shipped = [str(p) for p in list_districts()]
    if shipped:
        return shipped
    from simulation.config.generator import make_district

    out = tmp / "generated"
    make_district(
        out,
        name="generated",
        title="Generated check district",
        origin_lat=37.55,
        origin_lon=126.99,
        width_m=800,
        height_m=800,
        residents=4000,
        workers=1500,
        visitors=500,
        seed=11,
    )
    return [str(out)]


def check_plugin(
    path: str | Path,
    districts: list[str] | None = None,
    start: str = "2026-05-12T18:00",
    duration: float = 7200.0,
    seed: int = 1,
    params: dict[str, Any] | None = None,
    tick: float = 60.0,
    builtin_params: dict[str, dict[str, Any]] | None = None,
) -> Report:
    """Run the conformance check; bad input (manifest, params, district names) raises SandboxError.

    ``builtin_params`` (built-in name -> params) changes the city's built-ins in the candidate run
    only, as a company's scenario would (e.g. ``{"cctv_monitoring": {"selective": False}}``).
    """
    plugin = open_plugin(path)
    m = plugin.manifest
    mode = ensure_sandbox(m.name)
    report = Report(m.name, str(plugin.folder), m.version, mode)
    report.add(
        "manifest",
        True,
        f"{m.name} {m.version} by {m.vendor}: {m.category}, TRL {m.trl}, sdk {m.sdk_version}, "
        f"{len(m.hardware)} hardware type(s), {len(m.params)} param(s)",
    )
    report.add(
        "isolation",
        mode == "sandbox",
        "bubblewrap sandbox; self-check passed (no network, host files invisible, no fork)"
        if mode == "sandbox"
        else "DEGRADED: no bubblewrap sandbox on this machine; not valid for submission",
    )

    # 1. it imports in the sandbox
    probe = SandboxRunner(plugin, m.name, mode=mode)
    t0 = time.perf_counter()
    try:
        probe._await_ready()
        report.add("imports in the sandbox", True, f"ready in {1000 * (time.perf_counter() - t0):.0f} ms")
    except SandboxError:
        raise
    except Exception as exc:
        report.add("imports in the sandbox", False, f"{getattr(exc, 'kind', 'error')}: {exc}")
    finally:
        probe.close()
    if not report.checks[-1].passed:
        return report

    # 2. a short standard scenario in each district, baseline and candidate, same seed
    key = m.name if f"builtin:{m.name}" not in BUILTINS else f"{m.name}_candidate"
    plugin_spec = {"use": str(plugin.folder), "name": key, "params": params or {}}
    base_services = [{"use": u} for u in BUILTINS]
    with tempfile.TemporaryDirectory(prefix="pilot-check-") as tmp:
        for i, dist in enumerate(districts or _districts(Path(tmp))):
            base_sc = _scenario(dist, "check_baseline", base_services, start, duration, tick)
            # after the built-ins, where a scenario extending a baseline puts it: they act first each tick
            cand_services = [*candidate_builtins(builtin_params), plugin_spec]
            cand_sc = _scenario(dist, f"check_{m.name}", cand_services, start, duration, tick)
            label = scenario_district(base_sc).name
            _, base_kpis = _run(base_sc, seed)
            try:
                world, cand_kpis = _run(cand_sc, seed)
            except SandboxError:
                raise
            except Exception as exc:
                report.add(f"runs in {label}", False, f"the run crashed: {type(exc).__name__}: {exc}")
                continue
            s = next(x for x in world.host.services if x.name == key)
            guard = s.runner if isinstance(s.runner, GuardedRunner) else None
            inner = guard.inner if guard else None
            calls = getattr(inner, "ticks", 0)
            rej = dict(list(guard.rejections.items())[:10]) if guard else {}
            run = DistrictRun(
                district=label,
                status=s.status,
                errors=list(s.errors),
                actions=s.actions,
                rejected=s.rejected,
                installed=len(s.installed),
                baseline=base_kpis,
                candidate=cand_kpis,
                rejections=rej,
                hints={r: h for r in rej if (h := hint_for(r))},
                calls=calls,
                mean_call_ms=1000 * getattr(inner, "tick_s", 0.0) / calls if calls else math.nan,
                max_call_ms=1000 * getattr(inner, "tick_max_s", 0.0) if calls else math.nan,
                log_tail=_tail(guard.log_text()) if guard else "",
                position=f"after {', '.join(_describe(b) for b in cand_services[:-1])}",
            )
            report.runs.append(run)
            first = s.errors[0] if s.errors else None
            report.add(
                f"runs in {label}",
                s.status == "ok",
                "status ok"
                if s.status == "ok"
                else f"status {s.status}: {len(s.errors)} error(s); first at t={first['time']} s, "
                f"{first['kind']}: {first['message']}"
                if first
                else f"status {s.status}",
            )
            share = s.rejected / s.actions if s.actions else 0.0
            top = "; ".join(
                f"{n}× {r}" + (f" (hint: {run.hints[r]})" if r in run.hints else "") for r, n in run.rejections.items()
            )
            report.add(
                f"actions accepted in {label}",
                share <= MAX_REJECTED_SHARE,
                f"{s.actions} action(s), {s.rejected} rejected ({100 * share:.1f}%; at most "
                f"{100 * MAX_REJECTED_SHARE:.0f}% allowed)" + (f" — {top}" if top else ""),
            )
            if calls:
                limit = SETTINGS.tick_timeout_s
                report.add(
                    f"deadlines in {label}",
                    run.max_call_ms < 1000 * limit / 2,
                    f"{calls} ticks: round trip mean {run.mean_call_ms:.2f} ms, slowest {run.max_call_ms:.0f} ms "
                    f"(deadline {limit:g} s per call; the slowest must stay under half of it); "
                    f"{getattr(inner, 'cpu_s', 0.0):.2f} CPU-s used (allowance {SETTINGS.cpu_s} s per run)",
                )
            proc = getattr(inner, "proc", None)
            if proc is not None:
                ok, detail = _output_check(bytes(proc.log), proc.log_total, SETTINGS.log_cap_bytes)
                report.add(f"output in {label}", ok, detail)
            if i == 0 and s.status == "ok":
                world2, again = _run(cand_sc, seed)
                s2 = next(x for x in world2.host.services if x.name == key)
                ok, detail = _deterministic(cand_kpis, again, s.action_digests, s2.action_digests, cand_sc.tick)
                report.add("deterministic", ok, detail)
    return report


def _tail(text: str, n: int = 4000) -> str:
    """The last ``n`` characters of a log, from a line start."""
    return text if len(text) <= n else text[-n:].split("\n", 1)[-1]


def candidate_builtins(overrides: dict[str, dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The built-ins of the candidate run, with ``overrides`` (name -> params); unknown names raise ScenarioError."""
    overrides = dict(overrides or {})
    names = [u.split(":", 1)[1] for u in BUILTINS]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ScenarioError(
            "--builtin-param", f"no built-in {unknown[0]!r} in the baseline (built-ins: {', '.join(names)})"
        )
    return [{"use": f"builtin:{n}", **({"params": overrides[n]} if n in overrides else {})} for n in names]


def _describe(spec: dict[str, Any]) -> str:
    params = spec.get("params")
    return spec["use"] + (f" ({', '.join(f'{k}={v}' for k, v in params.items())})" if params else "")


def _output_check(log: bytes, total: int, cap: int) -> tuple[bool, str]:
    """Output must be text and stay under the log cap (it is for diagnostics, not data)."""
    if total > cap:
        return False, f"wrote {total:,} bytes to stdout/stderr; the log keeps {cap:,}"
    try:
        log.decode("utf-8")
    except UnicodeDecodeError as exc:
        return False, f"wrote binary (non-UTF-8) data to stdout/stderr, first at byte {exc.start:,}"
    return True, f"{total:,} bytes of text"


def kpi_rows(run: DistrictRun) -> list[tuple[str, str, float, float, float, str]]:
    """(kpi, unit, baseline, candidate, change, better/worse/same) for printing."""
    rows = []
    for name, k in CATALOGUE.items():
        if name not in run.candidate:
            continue
        b, c = run.baseline.get(name, math.nan), run.candidate[name]
        d = c - b
        if math.isnan(d) or abs(d) < 1e-9 or k.better == "none":
            verdict = "same" if not math.isnan(d) and abs(d) < 1e-9 else "—"
        else:
            verdict = "better" if (d > 0) == (k.better == "higher") else "worse"
        rows.append((name, k.unit, b, c, d, verdict))
    return rows
