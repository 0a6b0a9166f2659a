"""The tick request on the wire: a sandboxed service gets exactly the Observation an inline one gets.

The host packs the Observation straight from the dataclass and the child rebuilds it while
unpacking (no plain-data copy on either side); what comes out must be what
``from_data(to_data(obs))`` gives inline — same values, same types (tuples, dicts, messages).
"""

from __future__ import annotations

import dataclasses
import math
import types
from pathlib import Path

import msgpack
import numpy as np
import pytest

from simulation import sdk
from simulation.plugins import _child, protocol
from simulation.plugins.protocol import HEADER

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class _WorldThing:
    name: str
    level: float


def _wire(obs: sdk.Observation) -> sdk.Observation:
    """What the child rebuilds from the host's tick request."""
    frame = protocol.pack(("tick", obs))
    (n,) = HEADER.unpack(frame[: HEADER.size])
    body = frame[HEADER.size :]
    assert n == len(body)
    assert body[:1] == _child.TICK
    return _child.decode_tick(body, sdk, msgpack)


def _inline(obs: sdk.Observation) -> sdk.Observation:
    """What the old wire format gave (to_data, msgpack, from_data): what an inline service gets,
    numpy scalars aside (inline keeps them, the wire makes Python numbers of them)."""
    ref = sdk.from_data(sdk.to_data(obs))
    old = sdk.from_data(msgpack.unpackb(protocol.pack(sdk.to_data(obs))[HEADER.size :], raw=False))
    assert old == ref
    return old


def _obs(**kw) -> sdk.Observation:
    base = dict(time_s=60.0, clock="2026-05-12T00:01:00", tick=1, daylight=True, weather={}, feeds={})
    return sdk.Observation(**{**base, **kw})


CASES = {
    "empty": _obs(),
    "feeds, modules, fleet and feedback": _obs(
        weather={"rain_mm_h": 1.5, "heat_wave": False, "drones_grounded": True},
        feeds={
            "cctv.detections": ({"id": "D1", "confidence": 0.9, "x": 1, "y": -2.5},),
            "ev.chargers": ({"id": "ev-1", "reserved": [[0.0, 60.0, "u1"]], "up": True},),
            "sdot.readings": (),
        },
        modules=({"id": "m1", "pole": "p1", "module": "cam", "up": False},),
        feedback=(sdk.Feedback(0, "Flag", False, "no detection 'D9'"), sdk.Feedback(-1, "install", True)),
        fleet=({"id": "s:drone-1", "battery_min": 30.0, "request": None},),
    ),
    "numpy scalars": _obs(
        time_s=np.float64(120.0), weather={"rain_mm_h": np.float64(0.25), "n": np.int64(3), "b": np.bool_(True)}
    ),
    "keys that are not strings": _obs(
        weather={1: "one", 2.5: "x", False: "f", None: "n", ("a", 1): "tuple"},
        feeds={"wifi.load": ({7: {8: [9]}, "id": "ap"},)},
    ),
    "items with a type key": _obs(
        feeds={
            "infra.status": (
                {"type": "camera", "id": "c1"},
                {"type": 3, "id": "c2"},
                {"type": "Feedback", "index": 1, "action": "Flag", "accepted": True, "reason": ""},
            )
        }
    ),
    "mappings and dataclasses the world hands out": _obs(
        weather=types.MappingProxyType({"rain_mm_h": 0.0}),
        feeds={"infra.status": ({"thing": _WorldThing("x", 0.5)}, {"nested": ((1, 2), [3, (4,)])})},
    ),
    "unicode, big and negative numbers": _obs(
        clock="2026-05-12T00:01:00+09:00", tick=2**40, feeds={"x": ({"s": "é✓", "n": -(2**62), "f": -0.0},)}
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_child_rebuilds_exactly_what_an_inline_service_gets(name):
    obs = CASES[name]
    got, want = _wire(obs), _inline(obs)
    assert repr(got) == repr(want)  # repr tells tuples from lists and 1 from 1.0
    assert got == want


def test_a_bad_observation_is_refused_as_from_data_refuses_it():
    obs = _obs(time_s=math.nan)
    with pytest.raises(ValueError, match=r"Observation\.time_s must be a finite number"):
        sdk.from_data(sdk.to_data(obs))
    with pytest.raises(ValueError, match=r"Observation\.time_s must be a finite number"):
        _wire(obs)


def test_what_the_host_cannot_encode_is_refused_before_sending():
    with pytest.raises(TypeError):
        protocol.pack(("tick", _obs(weather={"s": {1, 2}})))


def test_every_observation_of_a_real_run_crosses_the_wire_unchanged(tiny_district, tmp_path, monkeypatch):
    """All example services (every feed) in the tiny district: each observation the host built."""
    from simulation.config.scenario import load_scenario
    from simulation.plugins.loader import GuardedRunner
    from simulation.results.run import run_scenario
    from tests.conftest import write_scenario

    seen: list[sdk.Observation] = []
    tick = GuardedRunner.tick

    def record(self, obs):
        seen.append(obs)
        return tick(self, obs)

    monkeypatch.setattr(GuardedRunner, "tick", record)
    examples = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "plugin.yaml").is_file())
    services = [{"use": "builtin:cctv_monitoring"}, {"use": "builtin:public_wifi"}]
    services += [{"use": str(p), "isolation": "inline"} for p in examples]
    sc = write_scenario(
        tmp_path,
        "wire_examples",
        {
            "district": str(tiny_district),
            "start": "2026-05-12T17:30",
            "duration": "2h",
            "seed": 4,
            "services": services,
        },
    )
    run_scenario(load_scenario(sc), allow_inline=True)
    assert len(seen) >= 5 * 100
    assert {f for o in seen for f in o.feeds} >= {"sdot.readings", "lights.presence", "ev.chargers"}
    for obs in seen:
        assert repr(_wire(obs)) == repr(_inline(obs))


TALKER_YAML = """\
name: talker
vendor: Test
version: 0.0.1
sdk_version: "1.0"
entry: service:Talker
category: safety
description: prints without flushing
trl: 1
"""
TALKER_PY = """\
from simulation.sdk import Service


class Talker(Service):
    def on_tick(self, obs):
        print("tick", obs.tick, sorted(obs.weather.items()), obs.feedback)
        return []

    def on_end(self, summary):
        print("bye after", summary.actions, "actions")
"""


def test_a_sandboxed_service_gets_its_observations_and_its_output_is_kept_at_exit(tmp_path, working_sandbox):
    """Ticks over the real pipes; what the service printed last (never flushed) is in the log after close."""
    from simulation.plugins import SandboxRunner, open_plugin

    folder = tmp_path / "talker"
    folder.mkdir()
    (folder / "plugin.yaml").write_text(TALKER_YAML)
    (folder / "service.py").write_text(TALKER_PY)
    runner = SandboxRunner(open_plugin(folder), "talker")
    try:
        site = sdk.to_data(sdk.SiteView("t", (), (), (), (), (), {}, {}, 60.0, 3600.0))
        runner.deploy(site, {}, 1)
        fb = (sdk.Feedback(0, "Flag", False, "no detection 'D1'"),)
        for k in (1, 2):
            assert runner.tick(_obs(tick=k, weather={"rain_mm_h": 0.5 * k}, feedback=fb)) == []
        runner.end(sdk.to_data(sdk.EndSummary(120.0, 3, 1)))
    finally:
        runner.close()
    log = runner.log_text()
    assert "tick 2 [('rain_mm_h', 1.0)] (Feedback(index=0, action='Flag', accepted=False" in log
    assert "bye after 3 actions" in log
    assert runner.proc.rc == 0
