"""``python -m simulation export DISTRICT|RUN --format ngsi-ld``: city-platform shaped data.

A district name (or folder) exports its poles and devices; a run id found in ``--store`` exports
the district with the run's final device state and its S-DoT readings (the 15-minute sample the run
keeps; ``--all-samples`` for every one of them, the last one otherwise). Output is one JSON array
of NGSI-LD entities (FIWARE Smart Data Models), validated before it is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from simulation._files import write_atomic
from simulation.errors import DistrictError, SandboxError, StoreError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand."""
    p = sub.add_parser(
        "export",
        help="export a district or a stored run as FIWARE Smart Data Models entities (NGSI-LD)",
        description="Export a district's devices, or a stored run's device state and S-DoT readings, as NGSI-LD "
        "entities (Streetlight, AccessPoint, Camera, Device, EVChargingStation, AirQualityObserved, "
        "NoiseLevelObserved).",
    )
    p.add_argument("target", metavar="DISTRICT|RUN", help="a district name or folder, or a run id in --store")
    p.add_argument("--format", default="ngsi-ld", choices=["ngsi-ld"], help="output format (default: ngsi-ld)")
    p.add_argument("--store", default="results", metavar="DIR", help="results folder to look runs up in")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--all-samples", action="store_true", help="one observation entity per stored sample")
    p.add_argument(
        "--batch-dir",
        metavar="DIR",
        help="write broker-sized batch files DIR/batch-0001.json ... (at most --batch-entities entities and "
        "--batch-bytes bytes each), ready for POST /ngsi-ld/v1/entityOperations/upsert",
    )
    p.add_argument("--batch-entities", type=int, default=1000, metavar="N", help="entities per batch (default 1000)")
    p.add_argument("--batch-bytes", type=int, default=1_000_000, metavar="B", help="bytes per batch (default 1 MB)")
    p.add_argument("--json", action="store_true", help="with --out/--batch-dir: print a summary as JSON on stdout")
    p.set_defaults(fn=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    """Build, validate and write the entities."""
    from simulation.config.district import list_districts, load_district
    from simulation.results import sdm
    from simulation.results.export import check_all, district_entities, run_entities
    from simulation.results.store import Store

    store = Store(args.store)
    if store.has(args.target):
        run = store.load(args.target)
        ref = run.provenance.get("scenario_resolved", {}).get("district") or run.district
        try:
            d = load_district(ref)
        except DistrictError as exc:
            raise StoreError(
                f"run {args.target!r} was made in district {ref!r}, which is not available: {exc}"
            ) from None
        entities = run_entities(d, run, all_samples=args.all_samples)
    else:
        try:
            d = load_district(args.target)
        except DistrictError:
            known = ", ".join(p.name for p in list_districts()) or "(none)"
            raise SandboxError(
                f"{args.target!r} is neither a district (known: {known}) nor a run in {store.root}/runs/"
            ) from None
        entities = district_entities(d)
    check_all(entities)
    sdm.check(entities)  # the official Smart Data Models JSON Schemas
    counts = Counter(e["type"] for e in entities)
    if args.batch_dir:
        return _write_batches(args, entities, counts)
    text = json.dumps(entities, indent=1, ensure_ascii=False)
    if args.json and args.out:
        write_atomic(_mkparent(args.out), text)
        print(json.dumps({"entities": len(entities), "types": dict(counts), "files": [args.out]}, indent=1))
        return 0
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, text)
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        print(f"wrote {len(entities)} NGSI-LD entities to {out} ({summary})", file=sys.stderr)
    else:
        print(text)
    return 0


def _mkparent(path: str) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _write_batches(args: argparse.Namespace, entities: list, counts: Counter) -> int:
    """Broker-sized batch files: each a JSON array within the entity and byte limits."""
    from simulation.results.sdm import chunks

    if args.batch_entities < 1 or args.batch_bytes < 1000:
        raise SandboxError(
            f"--batch-entities must be at least 1 and --batch-bytes at least 1000; "
            f"got {args.batch_entities} and {args.batch_bytes}"
        )
    dest = Path(args.batch_dir)
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("batch-*.json"):
        old.unlink()
    files = []
    for i, batch in enumerate(chunks(entities, args.batch_entities, args.batch_bytes), start=1):
        p = dest / f"batch-{i:04d}.json"
        write_atomic(p, json.dumps(batch, ensure_ascii=False))
        files.append(p)
    sizes = [p.stat().st_size for p in files]
    if args.json:
        doc = {"entities": len(entities), "types": dict(counts), "files": [str(p) for p in files], "bytes": sizes}
        print(json.dumps(doc, indent=1))
    else:
        print(
            f"wrote {len(entities)} NGSI-LD entities in {len(files)} batch files to {dest} "
            f"(largest {max(sizes):,} bytes; limits {args.batch_entities} entities, {args.batch_bytes:,} bytes)",
            file=sys.stderr,
        )
    return 0
