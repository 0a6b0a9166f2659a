"""Where the CLI's tables are printed."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

PIPED_WIDTH = 150  # columns when stdout is a file or a pager: room for whole KPI names


def stdout_console() -> Console:
    """A console on stdout: the terminal's own width, or :data:`PIPED_WIDTH` columns when piped."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)
