"""A two-level event calendar in front of SimPy's heap.

A district-day schedules hundreds of thousands of callbacks hours ahead (every citizen's next
departure, every data session). Put straight into SimPy's heap they make it ~40,000 entries deep,
and every pop pays for that depth. The calendar keeps far-off callbacks in per-minute buckets and
hands a bucket to SimPy only when its minute starts, so the heap holds about a minute's events.
Callbacks still run at their exact times, in a deterministic order.

Each callback becomes one SimPy event (it takes an event id and a place in SimPy's queue, and
``env.step`` runs it), but a lighter one than ``env.timeout``: a plain callback needs no value,
no delay and no failure path, so :class:`Call` carries only its callback list. A domain that
keeps its own event object (a citizen's plan step, ``population.Step``) puts it on the calendar
as it is (:meth:`Calendar.put`), with no new object per callback. :func:`run_until` is SimPy's
``env.run(until=...)`` with the step written into the loop (the same events, order and ids).
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heapify, heappop, heappush
from typing import Any

import simpy
from simpy.core import NORMAL, URGENT

Callback = Callable[[Any], None]


class Call:
    """A triggered, successful SimPy event that only runs one callback (what ``env.step`` needs)."""

    __slots__ = ("callbacks",)
    _ok = True  # env.step reads it after the callbacks: a Call never fails
    _value = None

    def __init__(self, fn: Callback) -> None:
        self.callbacks: tuple[Callback, ...] | None = (fn,)


class Calendar:
    """``at(t, fn)`` runs ``fn(event)`` at simulated time ``t`` (``t >= now``)."""

    def __init__(self, env: simpy.Environment, horizon: float = 60.0) -> None:
        self.env, self.h = env, float(horizon)
        # minute -> SimPy queue entries (time, priority, event id, event), made when scheduled:
        # the minute's pump only moves them into SimPy's heap
        self.buckets: dict[int, list[tuple[float, int, int, Call]]] = {}
        self._queue: list = env._queue  # type: ignore[attr-defined]
        self._eid = env._eid  # type: ignore[attr-defined]
        env.process(self._pump())

    def at(self, t: float, fn: Callback) -> None:
        """Schedule ``fn`` at time ``t`` (a time in the past means now)."""
        now = self.env._now  # type: ignore[attr-defined]
        if t - now < self.h:
            heappush(self._queue, (t if t > now else now, NORMAL, next(self._eid), Call(fn)))
            return
        k = int(t // self.h)
        bucket = self.buckets.get(k)
        if bucket is None:
            self.buckets[k] = [(t, NORMAL, next(self._eid), Call(fn))]
        else:
            bucket.append((t, NORMAL, next(self._eid), Call(fn)))

    def put(self, t: float, event: Any) -> None:
        """Schedule a ready event (``callbacks`` set, ``_ok`` true) to be run at time ``t`` (as :meth:`at`)."""
        now = self.env._now  # type: ignore[attr-defined]
        if t - now < self.h:
            heappush(self._queue, (t if t > now else now, NORMAL, next(self._eid), event))
            return
        k = int(t // self.h)
        bucket = self.buckets.get(k)
        if bucket is None:
            self.buckets[k] = [(t, NORMAL, next(self._eid), event)]
        else:
            bucket.append((t, NORMAL, next(self._eid), event))

    def _pump(self):
        env, h, queue = self.env, self.h, self._queue
        k = int(env.now // h)
        while True:
            k += 1
            yield env.timeout(k * h - env.now)
            entries = self.buckets.pop(k, None)
            if entries:
                # every time here is >= now by design; one heapify of the lot costs less than a
                # heappush per entry, and SimPy pops the same sequence (the keys are unique: time,
                # priority, event id), whatever the heap's layout
                queue.extend(entries)
                heapify(queue)
                # Let go of the list now, not a minute later: each entry is then freed by SimPy as
                # it runs it (still in the CPU's cache), instead of a minute's entries all at once, cold.
                del entries


def run_until(env: simpy.Environment, until: float) -> None:
    """``env.run(until=until)``, with SimPy's ``step`` written into the loop.

    SimPy's ``run`` calls ``env.step()`` once per event; a district-day has ~240k events, and the
    call, its attribute look-ups and its ``try`` cost more than the heap pop they wrap. This loop
    does what ``run`` and ``step`` do, in the same order: the *until* event is scheduled as SimPy
    schedules it (same time arithmetic, URGENT, the next event id), every event's callbacks run
    and a failed event that nobody defused is raised again; it stops when the *until* event comes
    off the heap and puts it back as SimPy does (so even the count of event ids is the same).
    """
    now = env._now  # type: ignore[attr-defined]
    at = until if isinstance(until, int) else float(until)
    if at <= now:
        raise ValueError(f"until ({at}) must be greater than the current simulation time")
    stop = simpy.Event(env)
    stop._ok = True
    stop._value = None
    env.schedule(stop, URGENT, at - now)
    queue: list[Any] = env._queue  # type: ignore[attr-defined]
    while True:
        try:
            env._now, _, _, event = heappop(queue)  # type: ignore[attr-defined]
        except IndexError:
            raise RuntimeError(f'No scheduled events left but "until" event was not triggered: {stop}') from None
        if event is stop:
            # SimPy stops by raising from the until event's callback, and then puts the event back
            # on the heap, emptied, at priority -1 (it takes an event id; the next run pops it first)
            event.callbacks = []
            env.schedule(event, -1)  # type: ignore[arg-type]
            return
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)  # as env.step: a copy with a new traceback
            exc.__cause__ = event._value
            raise exc
