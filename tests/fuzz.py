"""The long fuzz run (``make fuzz``): mutated scenarios, districts, manifests, studies and uploads.

    .venv/bin/python tests/fuzz.py --examples 10000 [--seed 1] [--only scenario]

Prints, per target and in total, the inputs tried, the project errors, the inputs accepted and the
raw exceptions (anything that is not the project's error), with the first few raw ones in full.
Exits 1 if there was any raw exception.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_targets import RawException, Tally, Targets, strategies
from hypothesis import HealthCheck, Phase, given, seed, settings

from simulation.config.generator import make_district


def _runner(strat, feed, tally, name, raws, per, rng_seed):
    @seed(rng_seed)
    @settings(
        max_examples=per, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )
    @given(strat)
    def run(x):
        try:
            tally.add(feed(x))
        except RawException as exc:
            tally.add("raw")
            raws.append((name, repr(x)[:400], str(exc)))
            print(f"RAW in {name}: {exc}\n  input: {repr(x)[:2000]}", file=sys.stderr, flush=True)

    return run


def main(argv: list[str] | None = None) -> int:
    """Run every target for its share of ``--examples`` inputs and print the tally."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=10_000, help="inputs in total, shared by the targets")
    ap.add_argument("--seed", type=int, default=1, help="hypothesis seed (the run is reproducible)")
    ap.add_argument("--only", action="append", help="run only this target (repeatable)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pilot-fuzz-") as tmp:
        district = Path(tmp) / "tiny"
        make_district(
            district,
            name="tiny",
            title="Fuzz district",
            origin_lat=37.55,
            origin_lon=126.99,
            width_m=500,
            height_m=500,
            residents=1200,
            workers=600,
            visitors=200,
            seed=7,
        )
        targets = Targets(Path(tmp) / "scratch", district)
        strats = strategies(targets)
        names = args.only or list(strats)
        per = max(1, args.examples // len(names))
        total, raws, t0 = Tally(), [], time.monotonic()
        print(f"{'target':<16}{'tried':>8}{'project errors':>16}{'accepted':>10}{'raw':>6}{'time s':>9}", flush=True)
        for name in names:
            strat, feed = strats[name]
            tally = Tally()

            t1 = time.monotonic()
            _runner(strat, feed, tally, name, raws, per, args.seed)()
            for k in ("tried", "project", "accepted", "raw"):
                setattr(total, k, getattr(total, k) + getattr(tally, k))
            print(
                f"{name:<16}{tally.tried:>8,}{tally.project:>16,}{tally.accepted:>10,}{tally.raw:>6}"
                f"{time.monotonic() - t1:>9.1f}",
                flush=True,
            )
        print(
            f"{'total':<16}{total.tried:>8,}{total.project:>16,}{total.accepted:>10,}{total.raw:>6}"
            f"{time.monotonic() - t0:>9.1f}"
        )
        for name, inp, why in raws[:10]:
            print(f"\nRAW in {name}: {why}\n  input: {inp}")
        print(
            f"\n{total.tried:,} inputs tried, {total.project:,} project errors, {total.accepted:,} accepted, "
            f"{total.raw} raw exceptions"
        )
    return 1 if total.raw else 0


if __name__ == "__main__":
    sys.exit(main())
