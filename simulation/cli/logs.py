"""``python -m simulation logs RUN_ID [--service NAME]``: what a service printed and logged in a stored run."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def cmd_logs(args: argparse.Namespace) -> int:
    from simulation.errors import StoreError
    from simulation.results.logs import format_log
    from simulation.results.store import Store

    store = Store(args.store)
    if not store.has(args.run_id):
        known = store.runs()
        hint = f"; runs in the store: {', '.join(known['run_id'].tail(5))}" if len(known) else ""
        raise StoreError(f"{args.store}: no run {args.run_id!r}{hint}")
    logs = store.logs(args.run_id)
    if args.service:
        if args.service not in logs:
            names = ", ".join(sorted(logs)) or "none (run stored before logs were kept)"
            raise StoreError(f"run {args.run_id} has no service {args.service!r}; services: {names}")
        logs = {args.service: logs[args.service]}
    if args.json:
        print(json.dumps(logs, indent=1, ensure_ascii=False))
        return 0
    if not logs:
        print(f"run {args.run_id} keeps no service logs (stored before logs were kept)")
    for name, log in logs.items():
        print(format_log(name, log, tail=args.tail))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``logs`` to the CLI."""
    p = sub.add_parser(
        "logs",
        help="show what each service printed and logged (self.log) in a stored run",
        description="Print the structured Service.log entries and the printed output of each service of a "
        "stored run (capped per run; truncation is noted).",
    )
    p.add_argument("run_id", metavar="RUN_ID", help="a run id (see the run command's output or --json)")
    p.add_argument("--service", metavar="NAME", help="only this service (its name in the scenario)")
    p.add_argument("--store", default="results", metavar="DIR", help="results folder (default: results)")
    p.add_argument("--tail", type=int, metavar="N", help="only the last N entries and lines of each")
    p.add_argument("--json", action="store_true", help="print the logs as JSON")
    p.set_defaults(fn=cmd_logs)
