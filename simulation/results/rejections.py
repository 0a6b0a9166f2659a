"""Why the world rejects actions, and what a company can do about it: one table for check-plugin and the guide.

Each :class:`Rejection` is a reason the world gives (``pattern``: its text with ``.+`` where ids and
numbers go), the action or deployment step it belongs to, and a ``hint``. ``check-plugin`` attaches
the hint to every rejection it reports; ``sdk-reference`` prints the table in ``docs/sdk.md``; a test
checks that the fixed parts of every pattern still occur in the world's code, so the table cannot
drift from what the world says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

__all__ = ["REJECTIONS", "Rejection", "hint_for"]


@dataclass(frozen=True)
class Rejection:
    """One reason the world gives for refusing an action (or a deployment step), with a hint."""

    action: str
    pattern: str
    hint: str

    @property
    def text(self) -> str:
        """The reason as a reader sees it (``…`` where ids and numbers go)."""
        return self.pattern.replace(".+", "…")

    @property
    def fragments(self) -> list[str]:
        """The fixed parts of the reason, as they appear in the world's code."""
        return [f for f in self.pattern.split(".+") if f.strip()]


_R = Rejection
REJECTIONS: tuple[Rejection, ...] = (
    # deployment
    _R("install", "no pole .+", "use an id from site.poles"),
    _R("install", "unknown module type .+; known: .+", "pick a module type of site.module_types (the pole catalogue)"),
    _R("install", "pole .+ (model .+) cannot mount .+", "pick a pole whose model mounts it (see Module types below)"),
    _R(
        "install",
        "pole .+ has .+ free slots; .+ needs .+",
        "services listed earlier in the scenario mount first; pick poles with room to spare "
        "(PoleInfo.free_slots) and check obs.modules before relying on a module",
    ),
    _R(
        "install",
        "pole .+ has .+ W power headroom; .+ draws .+ W",
        "pick a pole with more PoleInfo.power_headroom_w (arterial SP-A poles have the largest feed)",
    ),
    _R("install", "module id .+ is already taken", "give every Install a unique id, or leave id empty"),
    _R("operate", "no device .+ in this district", "use ids from site.devices (or 'lights')"),
    # Flag
    _R(
        "Flag",
        "detection .+ was not delivered to this service",
        "flag only ids from your own cctv.detections feed: operate the camera (Deployment.operates)",
    ),
    _R(
        "Flag",
        "detection .+ was already flagged",
        "the built-in cctv_monitoring flags AI detections first (at or above its flag_threshold, 0.5 by "
        "default); set its param selective: false to hand flagging over, or flag only what it leaves",
    ),
    _R("Flag", "detection .+ is older than 10 minutes", "flag a detection within 10 minutes of its time_s"),
    # View
    _R("View", "camera .+ is not operated by this service", "list the camera in Deployment.operates"),
    _R(
        "View",
        "the video wall has .+ screens now; asked for .+",
        "the wall has screens_per_operator × operators on shift screens (fewer at night: control_centre); "
        "each service may show that many, and the wall shows every service's view at once",
    ),
    # SetLight
    _R(
        "SetLight",
        "this service does not operate streetlights",
        "deploy with operates=('lights',) and remove builtin:streetlights from your scenario (otherwise it "
        "sets every light at sunset and sunrise too)",
    ),
    _R("SetLight", "level must be from 0 to 1; got .+", "0 is off, 1 is full"),
    _R("SetLight", "pole .+ has no power", "its pole is down: watch infra.status and skip it"),
    # Transmit
    _R("Transmit", "device .+ was not installed by this service", "use an id of obs.modules (your own installs)"),
    _R("Transmit", "mbps must be from 0 to 1000; got .+", "0 stops the stream"),
    # Notify
    _R("Notify", "radius_m must be > 0; got .+", "a positive radius in metres"),
    # Dispatch / Reserve
    _R("Dispatch", "this service has no fleet", "declare a fleet in plugin.yaml and Deployment.fleet"),
    _R("Dispatch", "unit .+ is not in this service's fleet", "use ids of obs.fleet"),
    _R("Dispatch", "no request .+", "use ids of your logistics.requests feed"),
    _R("Dispatch", "request .+ was not routed to this service", "dispatch only requests routed to you"),
    _R("Dispatch", "request .+ was already dispatched", "dispatch each request once"),
    _R("Dispatch", "drones are grounded: rain of .+ mm/h", "watch obs.weather['drones_grounded']"),
    _R("Dispatch", "weighs .+ kg; a .+ carries up to .+ kg", "check weight_kg before dispatching"),
    _R("Dispatch", "is inside no-fly zone", "check the destination against site.no_fly"),
    _R("Dispatch", "crosses no-fly zone", "check the straight flight path against site.no_fly"),
    _R("Reserve", "no charger or dock .+ (chargers and docks: .+)", "use ids of the ev.chargers feed"),
    _R("Reserve", "cannot charge at .+", "drones charge at drone docks; robots and vans at EV chargers"),
    _R("Reserve", "minutes must be > 0 and <= 240; got .+", "reserve at most 4 hours at a time"),
    _R("Reserve", "start_s must be from now (.+) to the end of the run", "reserve ahead, never in the past"),
    _R("Reserve", "pad(s) reserved then", "every pad is held then: try another window"),
    # any action
    _R(
        "any",
        "not a valid action: .+",
        "return sdk action objects with every field set; numbers must be finite (no NaN or infinity)",
    ),
)


@cache
def _compiled() -> list[tuple[re.Pattern[str], Rejection]]:
    out = []
    for r in REJECTIONS:
        rx = ".+".join(re.escape(f) for f in r.pattern.split(".+"))
        out.append((re.compile(rx), r))
    return out


def hint_for(reason: str) -> str:
    """The hint for a rejection reason as the world gave it ('' when none is known)."""
    for rx, r in _compiled():
        if rx.search(reason):
            return r.hint
    return ""
