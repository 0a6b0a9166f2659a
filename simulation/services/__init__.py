"""The city's own reference services, written against :mod:`simulation.sdk` like any plugin."""

from .builtin import BUILTINS, BuiltinService

__all__ = ["BUILTINS", "BuiltinService"]
