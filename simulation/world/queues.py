"""Per-job queue records: every job that queued for a finite resource, and what became of it.

One row per job and queue: the control centres' operators, the drone pads, the EV chargers and
the WiFi APs' client slots. ``arrival`` is when the job joined the queue, ``start`` when a server
took it (NaN if never), ``end`` when it left (served, escalated, gave up; NaN if still there at
the end of the run). A job that never waited has ``start == arrival``; one turned away at once
(a full AP, a driver who sees a queue) has ``end == arrival`` and no ``start``.

Time in queue = (``start``, else ``end``, else the end of the run) − ``arrival``; time in
system = (``end``, else the end of the run) − ``arrival`` (``results.queueing`` computes both).
"""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["COLUMNS", "OUTCOMES", "QueueRecords"]

COLUMNS = ("queue", "server", "job", "user", "priority", "arrival", "start", "end", "outcome")
# served: done; in_service: still being served at the end; waiting: still queued at the end;
# escalated: passed up to the city centre; reneged: gave up waiting; balked: turned away at once;
# blocked: no free slot (an AP); taken_over: a reservation's hold taken over by its unit;
# dropped: cut off in service (an AP that lost power or backhaul).
OUTCOMES = ("served", "in_service", "waiting", "escalated", "reneged", "balked", "blocked", "taken_over", "dropped")
NAN = math.nan


class QueueRecords:
    """Rows of every queue in a run; a row is a mutable list until the run ends."""

    def __init__(self) -> None:
        self.rows: list[list] = []

    def arrive(self, queue: str, server: str, job: str, user: str, priority: int, t: float) -> list:
        """A job joins ``queue`` at ``t``; returns its row to update later."""
        row = [queue, server, job, user, int(priority), float(t), NAN, NAN, "waiting"]
        self.rows.append(row)
        return row

    @staticmethod
    def start(row: list, t: float, server: str | None = None) -> None:
        """A server takes the job."""
        row[6] = float(t)
        row[8] = "in_service"
        if server is not None:
            row[1] = server

    @staticmethod
    def end(row: list, t: float, outcome: str = "served") -> None:
        """The job leaves the queue or its server."""
        row[7] = float(t)
        row[8] = outcome

    def frame(self) -> pd.DataFrame:
        """The records as a table (one row per job and queue)."""
        df = pd.DataFrame(self.rows, columns=list(COLUMNS))
        if not len(df):
            df = df.astype({"priority": "int64", "arrival": float, "start": float, "end": float})
        return df
