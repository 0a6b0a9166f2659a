"""Register the Gymnasium environment when (and only when) gymnasium is imported.

``import simulation`` must stay fast for everyone who never uses gymnasium, so nothing is imported
here: if gymnasium is already loaded the env is registered at once, else a one-shot import hook
registers it right after gymnasium's own import finishes. The env's module
(:mod:`simulation.batch.gymenv`) is imported only by ``gymnasium.make``.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from typing import Any


def _register() -> None:
    try:
        from simulation.batch.gymenv import register

        register()
    except ImportError:  # gymnasium (the [research] extra) is not usable here: no env to register
        pass


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def create_module(self, spec: Any) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.inner.exec_module(module)
        _register()


class _Finder(importlib.abc.MetaPathFinder):
    """Sees the first ``import gymnasium``, lets the normal finders find it, wraps its loader."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "gymnasium":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    """Register now if gymnasium is loaded, else when it is."""
    if sys.modules.get("gymnasium") is not None:
        _register()
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
