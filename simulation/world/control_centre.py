"""Control centres: operators on shifts serving a priority queue of jobs, and escalation.

A job is one incident (however many cameras saw it: later detections attach to it), one false
AI alarm, or one job from the centre's other cameras. Jobs wait in a priority queue (lower level
first, first come first served within a level) until an operator on duty is free. Priority
levels (documented in docs/model.md):

* 0 ``emergency``: a service flagged it with ``priority >= 2``;
* 1 ``urgent``: flagged with ``priority 1`` (the default);
* 2 ``flagged``: flagged with ``priority 0`` (seen first, but after anything urgent);
* 3 ``routine``: an operator spotted it on the video wall, or an unflagged job.

A job is never pre-empted; a later flag with a higher level moves a waiting job up. When the
number on duty drops at a shift change, busy operators finish their job first.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import simpy

from simulation.world.queues import QueueRecords

__all__ = ["LEVELS", "Centre", "Job"]

LEVELS = {0: "emergency", 1: "urgent", 2: "flagged", 3: "routine"}
ROUTINE = 3


@dataclass(eq=False)
class Job:
    """One operator job and its history across centres."""

    id: str
    user: str  # incident, false_alarm, other_camera, city_other
    level: int
    handling: float
    incident: Any = None
    created: float = 0.0
    waited: float = 0.0  # time queued in centres it already left
    attached: int = 0  # later detections that joined this job
    done: bool = False
    centre: Centre | None = None
    row: list = field(default_factory=list)
    seq: int = 0


class Centre:
    """A control centre's operators: a priority queue served by the operators on duty."""

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        records: QueueRecords,
        on_done: Callable[[Job, Centre], None],
        on_duty: int,
    ) -> None:
        self.env, self.name, self.records, self.on_done = env, name, records, on_done
        self.on_duty = int(on_duty)
        self.busy = 0
        self.heap: list[tuple[int, float, int, Job]] = []
        self.waiting: dict[str, Job] = {}
        self._seq = itertools.count()
        self.busy_s = 0.0
        self.duty_s = 0.0
        self._duty_since = 0.0
        self.q_area = 0.0
        self._q_since = 0.0

    # ---------------------------------------------------------------- bookkeeping
    def _q_change(self) -> None:
        now = self.env.now
        self.q_area += len(self.waiting) * (now - self._q_since)
        self._q_since = now

    def set_on_duty(self, n: int) -> None:
        """Operators on duty from now (a shift change); more operators start on waiting jobs."""
        now = self.env.now
        self.duty_s += self.on_duty * (now - self._duty_since)
        self._duty_since, self.on_duty = now, int(n)
        self._serve()

    # ---------------------------------------------------------------- jobs
    def submit(self, job: Job) -> None:
        """A job joins the queue now."""
        self._q_change()
        job.centre = self
        job.seq = next(self._seq)
        job.row = self.records.arrive(self.name, self.name, job.id, job.user, job.level, self.env.now)
        self.waiting[job.id] = job
        heapq.heappush(self.heap, (job.level, job.row[5], job.seq, job))
        self._serve()

    def raise_level(self, job: Job, level: int) -> None:
        """A later flag asks for a higher level: a waiting job moves up (its arrival time stays)."""
        if level >= job.level:
            return
        job.level = level
        if job.id in self.waiting:
            job.row[4] = level
            heapq.heappush(self.heap, (level, job.row[5], job.seq, job))

    def withdraw(self, job: Job, outcome: str) -> bool:
        """Take a waiting job out of the queue (escalated); False if an operator has it already."""
        if self.waiting.get(job.id) is not job:
            return False
        self._q_change()
        del self.waiting[job.id]
        self.records.end(job.row, self.env.now, outcome)
        job.waited += self.env.now - job.row[5]
        return True

    def _serve(self) -> None:
        while self.busy < self.on_duty and self.heap:
            level, _t, _s, job = heapq.heappop(self.heap)
            if self.waiting.get(job.id) is not job or level != job.level:
                continue  # withdrawn, or a stale entry of a job that moved up
            self._q_change()
            del self.waiting[job.id]
            self.busy += 1
            now = self.env.now
            self.records.start(job.row, now)
            job.waited += now - job.row[5]
            self.env.timeout(job.handling).callbacks.append(lambda _e, job=job: self._finish(job))

    def _finish(self, job: Job) -> None:
        now = self.env.now
        self.busy -= 1
        self.busy_s += job.handling
        self.records.end(job.row, now, "served")
        job.done = True
        self.on_done(job, self)
        self._serve()

    def finish(self) -> None:
        """Close the time integrals at the end of the run."""
        self._q_change()
        self.set_on_duty(self.on_duty)

    @property
    def queue_length(self) -> int:
        """Jobs waiting now."""
        return len(self.waiting)

    def utilisation(self) -> float:
        """Busy time over on-duty operator time (busy time of jobs cut by the end counts to the end)."""
        return self.busy_to(self.env.now) / self.duty_s if self.duty_s > 0 else math.nan

    def busy_to(self, t: float) -> float:
        """Operator-seconds spent on jobs up to ``t`` (jobs still in hand count up to ``t``)."""
        extra = sum(
            t - r[6] for r in self.records.rows if r[0] == self.name and r[8] == "in_service" and not math.isnan(r[6])
        )
        return self.busy_s + extra
