"""``python -m simulation``: the parser; each command lives in its own module under ``simulation.cli``.

Every command exits 0 on success and 2 on bad input, with a one-paragraph message on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from collections.abc import Sequence

from simulation.errors import SandboxError

__all__ = ["main"]


def _t95(n: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1)) if n > 1 else math.nan


def summarise(values: Sequence[float]) -> tuple[float, float]:
    """Mean and 95% CI half-width (Student t) of replications, ignoring NaN."""
    xs = [v for v in values if v is not None and not math.isnan(v)]
    if not xs:
        return math.nan, math.nan
    n = len(xs)
    mean = sum(xs) / n
    if n < 2:
        return mean, math.nan
    var = sum((x - mean) ** 2 for x in xs) / (n - 1)
    return mean, _t95(n) * math.sqrt(var / n)


def _fmt(v: float) -> str:
    if v is None or math.isnan(v):
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.2f}"


# --------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse that says what is allowed and exits 2 without a traceback (its default)."""


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m simulation", description="Pilot District Sandbox: simulate smart-city pilot districts.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for mod in ("run", "catalogue"):  # the commands every user meets first, in this order
        importlib.import_module(f"simulation.cli.{mod}").register(sub)
    for mod in COMMAND_MODULES:
        importlib.import_module(f"simulation.cli.{mod}").register(sub)
    return p


#: Modules under ``simulation.cli`` that add subcommands: each has ``register(subparsers)``.
COMMAND_MODULES: list[str] = ["batch", "compare", "decide", "plugins", "export", "logs", "reference", "validate"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn every SandboxError into a message and exit code 2."""
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


if __name__ == "__main__":
    sys.exit(main())
