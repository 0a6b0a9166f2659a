"""A two-level event calendar in front of SimPy's heap.

A district-day schedules hundreds of thousands of callbacks hours ahead (every citizen's next
departure, every data session). Put straight into SimPy's heap they make it ~40,000 entries deep,
and every pop pays for that depth. The calendar keeps far-off callbacks in per-minute buckets and
hands a bucket to SimPy only when its minute starts, so the heap holds about a minute's events.
Callbacks still run at their exact times, in a deterministic order.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush
from typing import Any

import simpy
from simpy.core import NORMAL
from simpy.events import Timeout

Callback = Callable[[Any], None]


class Calendar:
    """``at(t, fn)`` runs ``fn(event)`` at simulated time ``t`` (``t >= now``)."""

    def __init__(self, env: simpy.Environment, horizon: float = 60.0) -> None:
        self.env, self.h = env, float(horizon)
        self.buckets: dict[int, list[tuple[float, Callback]]] = {}
        env.process(self._pump())

    def at(self, t: float, fn: Callback) -> None:
        """Schedule ``fn`` at time ``t``."""
        delay = t - self.env._now
        if delay < self.h:
            self.env.timeout(delay if delay > 0 else 0.0).callbacks.append(fn)
            return
        k = int(t // self.h)
        bucket = self.buckets.get(k)
        if bucket is None:
            self.buckets[k] = [(t, fn)]
        else:
            bucket.append((t, fn))

    def _pump(self):
        env, h = self.env, self.h
        k = int(env.now // h)
        while True:
            k += 1
            yield env.timeout(k * h - env.now)
            items = self.buckets.pop(k, None)
            if items:
                # Hand the minute's callbacks to SimPy as ready-made timeouts (what env.timeout
                # would build, without its per-call checks: every delay here is >= 0 by design).
                now, push, eid, queue = env._now, heappush, env._eid, env._queue
                for t, fn in items:
                    ev = Timeout.__new__(Timeout)
                    ev.env, ev.callbacks, ev._delay, ev._ok, ev._value = env, [fn], t - now, True, None
                    push(queue, (t, NORMAL, next(eid), ev))
