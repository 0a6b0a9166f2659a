"""``python -m simulation decide``: scorecard, economics and recommendation for a candidate; record a decision.

python -m simulation decide SCENARIO --baseline BASELINE [--store DIR] [--weights FILE|k=v,...]
    [--unit-values FILE] [--horizon Y] [--discount R] [--json] [--accept | --override DECISION --note TEXT]
python -m simulation decide --list            # recorded decisions
python -m simulation decide --show ID         # reopen one
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from simulation.cli.console import stderr_progress, stdout_console
from simulation.decision.economics import DecideError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``decide`` subcommand."""
    p = subparsers.add_parser(
        "decide",
        help="score a candidate against a baseline, recommend, and record the decision",
        description="Run (or reuse) both scenarios' replications and a fault variant of each, compare them seed by "
        "seed, turn the differences into money (NPV, BCR, payback, P(NPV > 0)), project them to the "
        "pilot-district rollout and city-wide, score seven criteria with your weights and recommend "
        "commercialise, extend pilot or stop. --accept or --override records the decision in the store.",
    )
    p.add_argument("scenario", nargs="?", metavar="SCENARIO", help="candidate scenario YAML (or a name in scenarios/)")
    p.add_argument("--baseline", metavar="BASELINE", help="baseline scenario YAML (or a name in scenarios/)")
    p.add_argument("--store", default="results", metavar="DIR", help="results folder (default: results)")
    p.add_argument(
        "--weights",
        metavar="FILE|k=v,...",
        help="criterion weights, e.g. economics=0.3,privacy=0.2 (others keep their defaults; normalised to sum 1)",
    )
    p.add_argument("--unit-values", metavar="FILE", help="unit values YAML (default: config/unit_values.yaml)")
    p.add_argument("--horizon", type=int, metavar="Y", help="appraisal horizon in years, 1-30 (default 10)")
    p.add_argument("--discount", metavar="R", help="discount rate a year, 0-0.20 or 0-20%% (default 0.045)")
    p.add_argument("--days-per-year", type=float, metavar="D", help="days a year like the simulated one (default 365)")
    p.add_argument("--draws", type=int, metavar="N", help="Monte-Carlo draws, 100-100,000 (default 2000)")
    p.add_argument("--mc-seed", type=int, metavar="S", help="Monte-Carlo seed (default 0)")
    p.add_argument("--replications", "-r", type=int, metavar="R", help="replications (default: the candidate's)")
    p.add_argument("--seed", type=int, help="base seed (default: the candidate's)")
    p.add_argument(
        "--manifest",
        metavar="PLUGIN",
        help="plugin folder or plugin.yaml to cost (default: the candidate's new service)",
    )
    p.add_argument(
        "--correction",
        choices=("none", "holm"),
        default="none",
        help="multiple-comparison correction across the KPIs (default: none)",
    )
    p.add_argument(
        "--no-faults", action="store_true", help="skip the fault variants (reliability is then not assessed)"
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--accept", action="store_true", help="record the decision: accept the recommendation")
    g.add_argument("--override", metavar="DECISION", help="record the decision: commercialise, extend_pilot or stop")
    p.add_argument("--note", default="", help="the evaluator's note (required with --override)")
    p.add_argument("--evaluator", default="", help="who decides (stored with the decision)")
    p.add_argument(
        "--html", metavar="FILE", help="also write the comparison report with the scorecard (self-contained HTML)"
    )
    p.add_argument("--list", action="store_true", help="list recorded decisions and exit")
    p.add_argument("--show", metavar="ID", help="reopen a recorded decision and exit")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--allow-inline", action="store_true", help="let third-party services run inline (debugging only)")
    p.set_defaults(fn=cmd_decide)


def _rate(text: str | None) -> float | None:
    if text is None:
        return None
    t = text.strip()
    try:
        return float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise DecideError("--discount", "not a number", value=text, allowed="0-0.20 or 0%-20%") from None


def cmd_decide(args: argparse.Namespace) -> int:
    """Run the decide command."""
    from simulation.decision.record import load_decision

    if args.list:
        return _list(args)
    if args.show:
        rec = load_decision(args.store, args.show)
        if args.json:
            print(rec.model_dump_json(indent=1))
        else:
            _print(rec.evaluation, rec.model_dump())
        return 0
    if not args.scenario or not args.baseline:
        raise DecideError("decide", "needs a candidate SCENARIO and --baseline BASELINE (or --list / --show ID)")
    if args.override is not None and not args.note.strip():
        raise DecideError("--note", "an override needs a note saying why", value=args.note, allowed="a non-empty text")
    from simulation.decision.economics import inputs, load_unit_values

    inp = inputs(
        "command line",
        horizon_years=args.horizon,
        discount_rate=_rate(args.discount),
        days_per_year=args.days_per_year,
        draws=args.draws,
        seed=args.mc_seed,
    )
    uv = load_unit_values(args.unit_values)
    from simulation.decision.evaluate import check_weights, parse_weights

    weights = parse_weights(args.weights)
    check_weights(weights, args.weights or "weights")  # fail before any run
    ev, evidence = _evaluate(args, uv, inp, weights)
    run_ids = evidence.run_ids()
    record = None
    if args.accept or args.override is not None:
        from simulation.decision.record import make_record, save_decision
        from simulation.results import run as results

        record = make_record(
            ev,
            scenario=evidence.comparison.candidates[0],
            baseline=evidence.comparison.baseline,
            run_ids=run_ids,
            accept=args.accept,
            override=args.override,
            note=args.note,
            evaluator=args.evaluator,
            provenance={
                "code_digest": results.code_digest(),
                "package_version": results.PACKAGE_VERSION,
                "notes": evidence.notes,
                "district": evidence.district.name,
                "district_digest": evidence.district.digest,
                "manifest": ev.costs.source,
            },
        )
        save_decision(args.store, record)
    doc = ev.to_dict() | {"run_ids": run_ids, "notes": evidence.notes}
    if args.html:
        from simulation.decision.record import report_section
        from simulation.results.report import render_report

        page = render_report(evidence.comparison, extra_sections=[report_section(doc, record)], store_root=args.store)
        Path(args.html).write_text(page, encoding="utf-8")
    if args.json:
        print(json.dumps(doc | {"decision": record.model_dump() if record else None}, indent=1, allow_nan=False))
    else:
        _print(doc, record.model_dump() if record else None)
    return 0


def _evaluate(args: argparse.Namespace, uv: Any, inp: Any, weights: dict) -> tuple[Any, Any]:

    from simulation.config.scenario import load_scenario, scenario_district
    from simulation.decision.evidence import evaluate_runs, fault_variants
    from simulation.results.reuse import run_or_reuse
    from simulation.results.run import replication_seeds
    from simulation.results.store import Store

    cand = load_scenario(args.scenario)
    base = load_scenario(args.baseline)
    reps = args.replications if args.replications is not None else cand.replications
    if reps < 2:
        raise DecideError(
            cand.source,
            "a confidence interval needs at least 2 paired replications",
            key="replications",
            value=reps,
            allowed=">= 2 (set replications: in the scenario or pass --replications)",
        )
    seeds = replication_seeds(cand.seed if args.seed is None else args.seed, reps)
    if base.district != cand.district:
        raise DecideError(
            cand.source,
            "baseline and candidate must run in the same district",
            key="district",
            value=cand.district,
            allowed=base.district,
        )
    district = scenario_district(cand)
    base_clean, base_fault = fault_variants(base, district)
    cand_clean, cand_fault = fault_variants(cand, district)
    plan = [base_clean, cand_clean] + ([] if args.no_faults else [base_fault, cand_fault])
    store = Store(args.store)
    ids: list[list[str]] = []
    with stderr_progress("runs", args.quiet) as prog:
        task = prog.add_task("decide", total=len(plan) * len(seeds))
        for sc in plan:
            prog.update(task, description=sc.name)
            got = []
            for seed in seeds:
                r, _ = run_or_reuse(sc, seed, store, allow_inline=args.allow_inline)
                got.append(r.run_id)
                prog.advance(task)
            ids.append(got)
    if base_clean.name == cand_clean.name:
        raise DecideError(
            cand.source,
            "baseline and candidate have the same name; a comparison labels them by name",
            key="name",
            value=cand.name,
        )
    groups = {base_clean.name: ids[0], cand_clean.name: ids[1]}
    fault_groups = None if args.no_faults else {base_fault.name: ids[2], cand_fault.name: ids[3]}
    return evaluate_runs(
        store,
        groups,
        uv,
        inp,
        fault_groups=fault_groups,
        weights=weights,
        manifest=args.manifest,
        correction=args.correction,
    )


# --------------------------------------------------------------------------- printing
def _m(v: float | None) -> str:
    from simulation.decision.cashflow import krw

    return krw(v, unit=False)


def _print(doc: dict, record: dict | None) -> None:
    from rich.table import Table

    from simulation.decision.evaluate import LABELS

    out = stdout_console()
    rec = doc["recommendation"]
    e = doc["economics"]
    # the chain first: how the evidence became the verdict
    if doc.get("chain"):
        t = Table(title=f"How the recommendation follows · {doc['candidate']}", show_lines=True)
        t.add_column("step", no_wrap=True)
        t.add_column("what it rests on")
        for step in doc["chain"]:
            t.add_row(step["step"], "\n".join(step["lines"]))
        out.print(t)
    t = Table(title=f"Scorecard · {doc['candidate']}")
    for c in ("criterion", "score (0-100)", "weight", "evidence"):
        t.add_column(c, justify="right" if c in ("score (0-100)", "weight") else "left")
    for c in doc["scorecard"]:
        t.add_row(
            c["name"] + ("" if c["assessed"] else " (not assessed)"),
            f"{c['score']:.0f}",
            f"{c['weight']:.2f}",
            "\n".join(c["details"]),
        )
    t.add_row("[bold]weighted total[/bold]", f"[bold]{rec['total']:.0f}[/bold]", "1.00", "")
    out.print(t)
    if doc.get("weights_note"):
        out.print(f"[dim]{doc['weights_note']}[/dim]")
    t = Table(
        title=f"Economics, million KRW ({e['horizon_years']} years at {e['discount_rate']:.1%}, "
        f"{e['draws']:,} Monte-Carlo draws, seed {e['seed']})"
    )
    for c in (
        "capex",
        "opex a year",
        "revenue a year",
        "benefit a year (expected)",
        "expected NPV",
        "NPV 90% range",
        "P(NPV > 0)",
        "BCR",
        "payback",
    ):
        t.add_column(c, justify="right")
    t.add_row(
        _m(e["capex"]),
        _m(e["opex_per_year"]),
        _m(e["revenue_per_year"]),
        _m(e["benefit_per_year"]),
        _m(e["npv"]),
        f"{_m(e['npv_p05'])} to {_m(e['npv_p95'])}",
        f"{e['p_npv_positive']:.2f}",
        "—" if e["bcr"] is None else f"{e['bcr']:.2f}",
        "—" if e["payback_years"] is None else f"{e['payback_years']:.1f} years",
    )
    out.print(t)
    out.print("[bold]where the money comes from[/bold]")
    for line in e.get("capex_sources") or []:
        out.print(f"  capex: {line}")
    out.print(f"  opex: {e.get('opex_source') or '—'}")
    for r in e.get("revenue_lines") or []:
        out.print(f"  revenue, {r['source']}: {_m(r['krw_per_year'])} M KRW a year — {r['how']}")
    if not e.get("revenue_lines"):
        out.print("  revenue: none (no subscription or per-request price in the manifest)")
    if e.get("bcr_note"):
        out.print(f"  BCR: {e['bcr_note']}")
    if e["lines"]:
        t = Table(title="Monetised KPI effects (expected value and 90% range, million KRW a year)")
        for c in (
            "KPI",
            "unit value",
            "improvement a run (+ better)",
            "verdict",
            "counted",
            "KRW per unit (mean)",
            "expected",
            "90% range",
        ):
            t.add_column(c, justify="left" if c in ("KPI", "unit value", "verdict", "counted") else "right")
        for ln in e["lines"]:
            t.add_row(
                ln["kpi"],
                ln["value"],
                f"{ln['improvement_per_run'] + 0.0:+.3g} {ln['unit']}",
                ln.get("verdict") or ("significant" if ln["significant"] else "not significant"),
                ln.get("counted", ""),
                f"{ln['krw_per_unit']:,.1f}",
                _m(ln["krw_per_year"]),
                f"{_m(ln.get('krw_p05'))} to {_m(ln.get('krw_p95'))}",
            )
        out.print(t)
    nm = e.get("not_monetised") or []
    if nm:
        out.print("[bold]not monetised[/bold] (moved, but carry no money):")
        for x in nm:
            flag = "[yellow]missing unit value[/yellow] " if x["missing"] else ""
            out.print(f"  {flag}{x['kpi']} ({x['diff_mean']:+.3g} {x['unit']}, {x['verdict']}): {x['reason']}")
    _print_tornado(out, doc, LABELS)
    t = Table(title="Scale-up, million KRW (expected values)")
    for c in (
        "scope",
        "units",
        "poles to convert",
        "capex",
        "opex a year",
        "benefit + revenue a year",
        "NPV",
        "capex / budget line",
    ):
        t.add_column(c, justify="left" if c == "scope" else "right")
    for r in doc["scale_up"]:
        t.add_row(
            r["scope"],
            f"{r['hardware_units']:,}",
            f"{r['poles_to_convert']:,}",
            _m(r["capex"]),
            _m(r["opex_per_year"]),
            _m(r["benefit_per_year"] + r["revenue_per_year"]),
            _m(r["npv"]),
            "—"
            if r["capex_share_of_budget"] is None
            else f"{r['capex_share_of_budget']:.1%} of line {r['budget_line'].split('.')[0]}",
        )
    out.print(t)
    from simulation.decision.scaleup import BUDGET_LINES

    t = Table(title="Programme budget, policy task 1, 2021-2025 (docs/sources.md)")
    t.add_column("line")
    t.add_column("million KRW", justify="right")
    for name, v in BUDGET_LINES:
        t.add_row(name, f"{v:,.0f}")
    out.print(t)
    flips = [s for s in doc["sensitivity"] if s["rank_changed"] or s["recommendation_changed"]]
    out.print(
        "weight sensitivity (each weight ±20%): "
        + (
            "; ".join(
                f"{s['criterion']} ×{s['factor']}: {'ranking' if s['rank_changed'] else 'recommendation'} changes"
                for s in flips
            )
            if flips
            else "ranking and recommendation stable"
        )
    )
    for n in [*doc.get("notes", []), *doc["economics"]["notes"]]:
        out.print(f"[dim]note: {n}[/dim]")
    colour = {"commercialise": "green", "extend_pilot": "yellow", "stop": "red"}[rec["decision"]]
    out.print(
        f"\n[bold {colour}]Recommendation: {rec['label']}[/bold {colour}] (weighted score {rec['total']:.0f}/100)"
    )
    for r in rec["reasons"]:
        out.print(f"  - {r}")
    if record:
        verb = "accepted" if record["accepted"] else f"overridden: {record['decision']}"
        out.print(f"\ndecision {record['id']} recorded ({verb})" + (f" — {record['note']}" if record["note"] else ""))
    runs = doc.get("run_ids") or (record or {}).get("run_ids") or {}
    for k, v in runs.items():
        out.print(f"[dim]{k} runs: {', '.join(v)}[/dim]")


def _print_tornado(out: Any, doc: dict, labels: dict[str, str]) -> None:
    from rich.table import Table

    bars = doc.get("tornado") or []
    if not bars:
        return
    base = doc["recommendation"]["decision"]
    t = Table(
        title="What drives the verdict: expected NPV (million KRW) and recommendation at each end of an assumption"
    )
    for c in ("assumption", "low end", "NPV", "recommendation", "high end", "NPV ", "recommendation ", "NPV swing"):
        t.add_column(c, justify="right" if c.strip() in ("NPV", "NPV swing") else "left")

    def dec(d: str) -> str:
        return labels[d] if d == base else f"[bold magenta]{labels[d]}[/bold magenta]"

    for b in bars:
        t.add_row(
            b["label"],
            b["low_text"],
            _m(b["npv_low"]),
            dec(b["decision_low"]),
            b["high_text"],
            _m(b["npv_high"]),
            dec(b["decision_high"]),
            _m(b["swing"]),
        )
    out.print(t)
    flips = doc.get("flips") or []
    if flips:
        out.print("[bold]what would change the recommendation[/bold] (nearest first):")
        for f in flips[:8]:
            out.print(f"  - {f['text']}")
    else:
        out.print("no single assumption changes the recommendation within its search range")


def _list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from simulation.decision.record import decisions_frame

    df = decisions_frame(args.store)
    if args.json:
        print(json.dumps(df.to_dict(orient="records"), indent=1))
        return 0
    if df.empty:
        print(f"no decisions recorded in {args.store}", file=sys.stderr)
        return 0
    t = Table(title=f"Decisions in {args.store}")
    for c in df.columns:
        t.add_column(c)
    for row in df.itertuples(index=False):
        t.add_row(*[str(x) for x in row])
    stdout_console().print(t)
    return 0
