"""Notices: what citizens do when a service's ``Notify`` reaches them, by topic and by group.

A notice reaches the people within its radius now: those at a place (found through Mesa's street
cells near the point, see :meth:`Notices.reach`) and those walking there. Each person complies
or not with a probability that depends on the topic and on their group (elderly, children,
workers, visitors), drawn once per person and topic from the named stream ``notices.compliance``
(so a notice never shifts another domain's draws). Responses, each a simple documented rule:

- ``heat``: stay in or go to a cooling shelter for ``HEAT_SHELTER_MIN``: errands wait (the
  citizen's ``stay_in_until``) and the time counts as indoors for heat exposure (``heat.py``).
- ``air_quality``: the environment domain's stay-indoors response (unchanged, ``environment.py``).
- ``parking``: drivers heading for the area are guided to a block (``parking.py``).
- ``outage``, ``crowd``, ``safety``: avoid the area: a complying citizen's next errands inside it
  go to the nearest block of the same land use outside it (homes, jobs and schools are kept);
  ``safety`` also keeps people in for ``SAFETY_STAY_MIN``.

Nothing runs per tick: a notice is one pass over the people it reaches, and rerouting is a rule the
population consults at a departure only while an avoid-area notice is active.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from simulation import sdk
from simulation.config.district import District
from simulation.rng import Streams
from simulation.world.population import CHILD, ELDERLY, RESIDENT, VISITOR, WALK_M_S, Citizen, Population

TOPICS = ("heat", "air_quality", "parking", "outage", "safety", "crowd")
GROUPS = ("elderly", "children", "workers", "visitors")
# Share of people reached who comply, by topic and group (judgement: the vulnerable heed heat
# advice most, visitors least; children's compliance is their carers' and schools').
COMPLIANCE: dict[str, dict[str, float]] = {
    "heat": {"elderly": 0.6, "children": 0.7, "workers": 0.3, "visitors": 0.25},
    "outage": {"elderly": 0.4, "children": 0.5, "workers": 0.5, "visitors": 0.6},
    "safety": {"elderly": 0.7, "children": 0.8, "workers": 0.6, "visitors": 0.6},
    "crowd": {"elderly": 0.6, "children": 0.6, "workers": 0.4, "visitors": 0.35},
}
HEAT_SHELTER_MIN = 180.0  # judgement: a heat notice keeps people in through the afternoon peak
AVOID_MIN = {"outage": 120.0, "safety": 30.0, "crowd": 120.0}  # judgement: how long an area is avoided
SAFETY_STAY_MIN = 30.0  # judgement
REACH_SLACK_M = 90.0  # a block's people stand within ~60 m of its centroid (population.block_half)


def group_of(c: Citizen) -> str:
    """The notice group of a citizen: elderly, children, workers (working-age adults) or visitors."""
    if c.group == ELDERLY:
        return "elderly"
    if c.group == CHILD:
        return "children"
    return "visitors" if c.kind == VISITOR else "workers"


class Notices:
    """Delivers notices, draws compliance, keeps avoid-areas and heat shelter windows."""

    def __init__(self, d: District, streams: Streams, pop: Population, travelling: dict[Citizen, None]) -> None:
        self.d, self.pop, self.travelling = d, pop, travelling
        n_ids = max((c.unique_id for c in pop.citizens), default=0) + 1
        self.u = streams("notices.compliance").random((n_ids, len(TOPICS)))
        self.counts: dict[str, list[int]] = {t: [0, 0, 0] for t in TOPICS}  # notices, reached, complied
        self.by_group: dict[str, list[int]] = {g: [0, 0] for g in GROUPS}  # reached, complied
        self.heat_windows: list[tuple[int, float, float]] = []  # (citizen, from, until)
        self.zones: list[tuple[float, float, float, float]] = []  # avoid-areas: (x, y, r, until)
        self.avoiding: dict[int, float] = {}  # citizen id -> avoid until
        self.rerouted = 0
        self.sent: list[tuple[float, float, int, int]] = []  # (x, y, reached, complied) per notice
        self.rerouted_from: list[int] = []  # the block each rerouted errand was moved away from
        self._alt: dict[int, list[int]] = {}
        self._rule_on = False
        self.handlers: dict[str, Callable[[sdk.Notify], str | None]] = {}

    # ---------------------------------------------------------------- reach
    def reach(self, x: float, y: float, r: float, now: float) -> list[Citizen]:
        """People within ``r`` of (x, y) now: at a place (via Mesa's cells) or walking."""
        pop, r2 = self.pop, r * r
        out: list[Citizen] = []
        cells, nodes = pop.street_cells(), self.d.nodes
        for node, (nx_, ny_) in nodes.items():
            if math.hypot(nx_ - x, ny_ - y) > r + pop.node_reach.get(node, 0.0):
                continue
            for c in cells[node].agents:  # Mesa's public API: the agents in a street cell
                if c.block >= 0 and (c.x - x) ** 2 + (c.y - y) ** 2 <= r2:  # type: ignore[attr-defined]
                    out.append(c)  # type: ignore[arg-type]
        for c in list(self.travelling):
            trip = c.trip
            if trip is None:
                continue
            half = 0.5 * (trip[1] - trip[0]) * WALK_M_S
            (sx, sy), (ex, ey) = nodes[trip[2]], nodes[trip[3]]
            if min(math.hypot(sx - x, sy - y), math.hypot(ex - x, ey - y)) > r + half:
                continue
            px, py = pop.trip_position(c, now)
            if (px - x) ** 2 + (py - y) ** 2 <= r2:
                out.append(c)
        return out

    # ---------------------------------------------------------------- delivery
    def notify(self, a: sdk.Notify, now: float) -> str | None:
        """Deliver one notice; return a rejection reason or None."""
        topic = a.topic
        if topic not in TOPICS:
            return f"unknown notice topic {topic!r}; topics: {', '.join(TOPICS)}"
        self.counts[topic][0] += 1
        handler = self.handlers.get(topic)
        if handler is not None:  # air_quality (environment) and parking (drivers) answer in their domains
            return handler(a)
        k = TOPICS.index(topic)
        table = COMPLIANCE[topic]
        x, y, r = float(a.x), float(a.y), float(a.radius_m)
        before = self.counts[topic][1:]
        for c in self.reach(x, y, r, now):
            g = group_of(c)
            self.counts[topic][1] += 1
            self.by_group[g][0] += 1
            if self.u[c.unique_id, k] >= table[g]:
                continue
            self.counts[topic][2] += 1
            self.by_group[g][1] += 1
            if topic == "heat":
                until = now + HEAT_SHELTER_MIN * 60
                c.stay_in_until = max(c.stay_in_until, until)
                self.heat_windows.append((c.unique_id, now, until))
            else:
                until = now + AVOID_MIN[topic] * 60
                self.avoiding[c.unique_id] = max(self.avoiding.get(c.unique_id, 0.0), until)
                if topic == "safety":
                    c.stay_in_until = max(c.stay_in_until, now + SAFETY_STAY_MIN * 60)
        self.sent.append((x, y, self.counts[topic][1] - before[0], self.counts[topic][2] - before[1]))
        if topic in AVOID_MIN:
            self.zones.append((x, y, r, now + AVOID_MIN[topic] * 60))
            if not self._rule_on:
                self.pop.deciders.append(self.avoid_rule)
                self._rule_on = True
        return None

    # ---------------------------------------------------------------- rerouting
    def _blocked(self, b: int, now: float) -> bool:
        blk = self.d.blocks[b]
        return any(until > now and math.hypot(blk.x - x, blk.y - y) <= r for x, y, r, until in self.zones)

    def avoid_rule(self, c: Citizen, k: int, dest: int, now: float) -> int:
        """A complying citizen's errand into an avoided area goes to the nearest like block outside it."""
        if dest < 0 or self.avoiding.get(c.unique_id, 0.0) <= now:
            return dest
        anchors = (c.start, c.plan[0][1]) if c.kind == RESIDENT else (c.plan[0][1],)
        if dest in anchors or not self._blocked(dest, now):
            return dest  # homes, jobs and schools are kept
        for alt in self._alternatives(dest):
            if not self._blocked(alt, now):
                self.rerouted += 1
                self.rerouted_from.append(dest)
                return alt
        return dest

    def _alternatives(self, b: int) -> list[int]:
        hit = self._alt.get(b)
        if hit is None:
            blocks = self.d.blocks
            same = [i for i, o in enumerate(blocks) if o.land_use == blocks[b].land_use and i != b]
            d2 = np.array([(blocks[i].x - blocks[b].x) ** 2 + (blocks[i].y - blocks[b].y) ** 2 for i in same])
            hit = self._alt[b] = [same[i] for i in np.argsort(d2, kind="stable").tolist()]
        return hit
