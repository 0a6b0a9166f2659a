"""SDK messages are plain data: every one round-trips, and garbage is refused with a reason."""

from __future__ import annotations

import json
import math

import pytest

from simulation import sdk


def test_every_action_round_trips_through_json():
    actions = [
        sdk.Flag("D1", 2),
        sdk.View(("c1", "c2")),
        sdk.SetLight(("p1",), 0.5),
        sdk.Notify("air_quality", "stay in", 1.0, 2.0, 300.0),
        sdk.Dispatch("u1", "r1"),
        sdk.Reserve("ch1", "u1", 60.0, 30.0),
        sdk.Transmit("m1", 4.0),
    ]
    for a in actions:
        assert sdk.from_data(json.loads(json.dumps(sdk.to_data(a)))) == a


def test_observation_round_trips():
    obs = sdk.Observation(
        60.0,
        "2026-05-12T00:01:00",
        1,
        False,
        {"rain_mm_h": 0.0},
        {"cctv.detections": ({"id": "D1", "confidence": 0.9},)},
        feedback=(sdk.Feedback(0, "Flag", False, "no detection"),),
    )
    assert sdk.from_data(json.loads(json.dumps(sdk.to_data(obs)))) == obs


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "Teleport"}, "unknown action type 'Teleport'"),
        ({"type": "Flag", "detection": "D1", "colour": 1}, "Flag has no field 'colour'"),
        ({"type": "SetLight", "poles": ["p"], "level": math.nan}, "SetLight.level must be a finite number"),
        ({"type": "Flag"}, "Flag: .*missing 1 required positional argument"),
        ([1, 2], "expected a message with a 'type'; got list"),
    ],
)
def test_garbage_is_refused(data, message):
    with pytest.raises(ValueError, match=message):
        sdk.from_data(data, actions_only=True)


def test_public_api_is_documented():
    import simulation

    for name in [*simulation.__all__, *sdk.__all__]:
        obj = getattr(simulation, name, None) or getattr(sdk, name)
        if callable(obj):
            assert obj.__doc__, f"{name} has no docstring"
