"""Named streams: the same (seed, name) gives the same numbers whatever else draws."""

from simulation.rng import Streams, stream


def test_same_seed_and_name_same_numbers():
    assert (stream(7, "safety").random(5) == stream(7, "safety").random(5)).all()


def test_names_and_seeds_separate_streams():
    assert (stream(7, "safety").random(5) != stream(7, "connectivity").random(5)).all()
    assert (stream(7, "safety").random(5) != stream(8, "safety").random(5)).all()


def test_drawing_from_one_stream_does_not_shift_another():
    a, b = Streams(3), Streams(3)
    a("noise").random(1000)  # a component added in one run only
    assert (a("citizens").random(3) == b("citizens").random(3)).all()
