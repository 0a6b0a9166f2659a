"""``python -m simulation``: the parser; each command lives in its own module under ``simulation.cli``.

Every command exits 0 on success and 2 on bad input, with a one-paragraph message on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from simulation.errors import SandboxError

__all__ = ["main"]


# --------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse that says what is allowed and exits 2 without a traceback (its default)."""


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m simulation", description="Pilot District Sandbox: simulate smart-city pilot districts.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for mod in ("run", "catalogue", "districts"):  # the commands every user meets first, in this order
        importlib.import_module(f"simulation.cli.{mod}").register(sub)
    for mod in COMMAND_MODULES:
        importlib.import_module(f"simulation.cli.{mod}").register(sub)
    return p


#: Modules under ``simulation.cli`` that add subcommands: each has ``register(subparsers)``.
COMMAND_MODULES: list[str] = [
    "batch",
    "compare",
    "decide",
    "plugins",
    "export",
    "logs",
    "reference",
    "validate",
    "research",
    "programme",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn every SandboxError into a message and exit code 2.

    A closed pipe on stdout (``... | head``) ends the command quietly with exit code 141.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are in the store; unfinished ones were not written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`... | head`): stop quietly, like a Unix tool killed by SIGPIPE
        _silence_stdout()
        return 141


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
