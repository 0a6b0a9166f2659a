"""``python -m simulation``: one module per command, arguments and printing only."""

from simulation.cli.main import main

__all__ = ["main"]
