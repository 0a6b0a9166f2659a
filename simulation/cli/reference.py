"""``python -m simulation sdk-reference [--check]``: the SDK reference in docs/sdk.md, generated from the code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def cmd_reference(args: argparse.Namespace) -> int:
    from simulation.errors import SandboxError
    from simulation.results.reference import DOC, check_reference, render_reference, write_reference

    path = Path(args.file) if args.file else DOC
    if args.stdout:
        print(render_reference(), end="")
        return 0
    if not path.is_file():
        raise SandboxError(f"{path}: no such file")
    if args.check:
        diff = check_reference(path)
        if diff:
            print("\n".join(diff[:60]), file=sys.stderr)
            print(
                f"{path}: the reference disagrees with the code ({len(diff)} diff lines); "
                "run  python -m simulation sdk-reference",
                file=sys.stderr,
            )
            return 1
        print(f"{path}: the reference agrees with the code")
        return 0
    changed = write_reference(path)
    print(f"{path}: reference {'updated' if changed else 'already up to date'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``sdk-reference`` to the CLI."""
    p = sub.add_parser(
        "sdk-reference",
        help="write the SDK reference (feeds, actions, modules, built-ins, KPIs) into docs/sdk.md from the code",
        description="Generate the reference part of docs/sdk.md (between its sdk-reference markers) from the code: "
        "feeds and their items, actions and rejection reasons, module types and costs, built-in services, "
        "the KPI catalogue. --check exits 1 when the file and the code disagree.",
    )
    p.add_argument("--check", action="store_true", help="do not write; exit 1 if docs/sdk.md is out of date")
    p.add_argument("--file", metavar="PATH", help="the markdown file (default: docs/sdk.md)")
    p.add_argument("--stdout", action="store_true", help="print the reference instead of writing it")
    p.set_defaults(fn=cmd_reference)
