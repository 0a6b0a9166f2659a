"""Where the CLI's tables are printed."""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

PIPED_WIDTH = 150  # columns when stdout is a file or a pager: room for whole KPI names


def stdout_console() -> Console:
    """A console on stdout: the terminal's own width, or :data:`PIPED_WIDTH` columns when piped."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)


def stderr_progress(unit: str, quiet: bool = False) -> Progress:
    """A transient progress bar on stderr: description, bar, ``done/total UNIT``, time elapsed."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn(f"{{task.completed:.0f}}/{{task.total:.0f}} {unit}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=quiet,
    )


def fmt_number(v: float) -> str:
    """A KPI figure for a table: thousands separated, fewer decimals as it grows, a dash for none."""
    if v is None or math.isnan(v):
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.2f}"
