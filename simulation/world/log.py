"""What a run records: an event log (notable things, not every session) and sampled time series."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd


class EventLog:
    """Append-only list of ``(t, kind, subject, detail)``; becomes a DataFrame at the end."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, str, str, str]] = []

    def add(self, t: float, kind: str, subject: str, **detail: Any) -> None:
        """Record one event; ``detail`` is stored as sorted JSON."""
        self.rows.append((float(t), kind, subject, json.dumps(detail, sort_keys=True, default=str)))

    def frame(self) -> pd.DataFrame:
        """The log as a DataFrame with columns t, kind, subject, detail."""
        return pd.DataFrame(self.rows, columns=["t", "kind", "subject", "detail"])


class Series:
    """Tidy time series rows ``(t, metric, value)``."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, str, float]] = []

    def add(self, t: float, metric: str, value: float) -> None:
        """Record one sample."""
        self.rows.append((float(t), metric, float(value)))

    def frame(self) -> pd.DataFrame:
        """The samples as a DataFrame with columns t, metric, value."""
        return pd.DataFrame(self.rows, columns=["t", "metric", "value"])
