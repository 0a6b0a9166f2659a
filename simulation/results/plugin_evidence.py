"""``check-plugin --evidence``: the KPI effect of a service with confidence intervals, as an evaluator sees it.

For each district and each of N seeds, the city's built-in services run a full day (the baseline),
then again with the service added after them (the candidate), same seed: common random numbers,
so the two runs see the same citizens and incidents and the difference is the service's doing.
Per KPI: the mean of the paired differences and its 95 % Student-t interval (as ``compare``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulation.config.scenario import scenario_district
from simulation.plugins.discovery import open_plugin
from simulation.plugins.selfcheck import ensure_sandbox
from simulation.results.conformance import BUILTINS, _districts, _run, _scenario, candidate_builtins
from simulation.results.kpis import CATALOGUE
from simulation.results.rejections import hint_for
from simulation.results.run import replication_seeds
from simulation.stats import paired_test
from simulation.stats import verdict as kpi_verdict

__all__ = ["EffectRow", "Evidence", "plugin_evidence"]


@dataclass
class EffectRow:
    """One KPI in one district: baseline and candidate means, paired difference and its CI."""

    kpi: str
    unit: str
    better: str
    baseline: float
    candidate: float
    diff: float
    ci_low: float
    ci_high: float
    n: int
    significant: bool
    verdict: str


@dataclass
class Evidence:
    """The evidence table per district, plus how the service behaved over all runs."""

    plugin: str
    seeds: list[int]
    duration_s: float
    start: str
    rows: dict[str, list[EffectRow]] = field(default_factory=dict)  # district -> rows
    status: Counter[str] = field(default_factory=Counter)
    actions: int = 0
    rejected: int = 0
    rejections: Counter[str] = field(default_factory=Counter)

    def hints(self) -> dict[str, str]:
        """Hint for each rejection reason seen."""
        return {r: h for r in self.rejections if (h := hint_for(r))}

    def to_json(self) -> dict[str, Any]:
        """Plain data (NaN becomes null)."""

        def num(v: float) -> float | None:
            return None if isinstance(v, float) and math.isnan(v) else v

        return {
            "plugin": self.plugin,
            "seeds": self.seeds,
            "duration_s": self.duration_s,
            "start": self.start,
            "status": dict(self.status),
            "actions": self.actions,
            "rejected": self.rejected,
            "rejections": dict(self.rejections.most_common()),
            "hints": self.hints(),
            "districts": {
                d: [
                    {
                        "kpi": r.kpi,
                        "unit": r.unit,
                        "better": r.better,
                        "baseline": num(r.baseline),
                        "candidate": num(r.candidate),
                        "diff": num(r.diff),
                        "ci_low": num(r.ci_low),
                        "ci_high": num(r.ci_high),
                        "n": r.n,
                        "significant": r.significant,
                        "verdict": r.verdict,
                    }
                    for r in rows
                ]
                for d, rows in self.rows.items()
            },
        }


def _mean(xs: list[float]) -> float:
    ok = [x for x in xs if not math.isnan(x)]
    return sum(ok) / len(ok) if ok else math.nan


def plugin_evidence(
    path: str | Path,
    districts: list[str] | None = None,
    seeds: int = 5,
    seed: int = 1,
    start: str = "2026-05-12T00:00",
    duration: float = 86400.0,
    params: dict[str, Any] | None = None,
    tick: float = 60.0,
    progress: Callable[[int, int], None] | None = None,
    builtin_params: dict[str, dict[str, Any]] | None = None,
) -> Evidence:
    """Run baseline and candidate for ``seeds`` seeds in each district; bad input raises SandboxError."""
    import tempfile

    plugin = open_plugin(path)
    m = plugin.manifest
    ensure_sandbox(m.name)
    key = m.name if f"builtin:{m.name}" not in BUILTINS else f"{m.name}_candidate"
    spec = {"use": str(plugin.folder), "name": key, "params": params or {}}
    base = [{"use": u} for u in BUILTINS]
    ev = Evidence(m.name, replication_seeds(seed, seeds), duration, start)
    with tempfile.TemporaryDirectory(prefix="pilot-evidence-") as tmp:
        dists = districts or _districts(Path(tmp))
        total, done = 2 * len(dists) * len(ev.seeds), 0
        for dist in dists:
            base_sc = _scenario(dist, "evidence_baseline", base, start, duration, tick)
            cand_sc = _scenario(
                dist, f"evidence_{m.name}", [*candidate_builtins(builtin_params), spec], start, duration, tick
            )
            label = scenario_district(base_sc).name
            pairs: dict[str, list[tuple[float, float]]] = {}
            for s in ev.seeds:
                _, b = _run(base_sc, s)
                done += 1
                if progress:
                    progress(done, total)
                world, c = _run(cand_sc, s)
                done += 1
                if progress:
                    progress(done, total)
                st = next(x for x in world.host.services if x.name == key)
                ev.status[st.status] += 1
                ev.actions += st.actions
                ev.rejected += st.rejected
                for reason, n in st.reasons.items():  # ids masked: one line per kind of reason
                    ev.rejections[re.sub(r"'[^']*'", "'…'", reason)] += n
                for kpi_name, value in c.items():
                    pairs.setdefault(kpi_name, []).append((b.get(kpi_name, math.nan), value))
            rows = []
            for name, k in CATALOGUE.items():
                if name not in pairs:
                    continue
                ps = [(b, c) for b, c in pairs[name] if not (math.isnan(b) or math.isnan(c))]
                test = paired_test([c - b for b, c in ps])
                mean, lo, hi = test.mean, test.low, test.high
                sig, verdict = kpi_verdict(k.better, test)
                if ps and all(c == b for b, c in ps):
                    verdict = "unchanged"
                rows.append(
                    EffectRow(
                        name,
                        k.unit,
                        k.better,
                        _mean([b for b, _ in pairs[name]]),
                        _mean([c for _, c in pairs[name]]),
                        mean,
                        lo,
                        hi,
                        len(ps),
                        sig,
                        verdict,
                    )
                )
            ev.rows[label] = rows
    return ev
