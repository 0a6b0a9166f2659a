"""Check NGSI-LD entities against the official FIWARE Smart Data Models JSON Schemas (vendored, offline).

The schemas (``sdm_schemas/``, CC BY 4.0, sources and commits in its README) describe an entity's
key-values form; :func:`key_values` turns a normalized NGSI-LD entity into it the way the Smart
Data Models validators do, and :func:`problems` lists what the official schema rejects, and any
attribute it does not declare (the schemas allow extra attributes, so a misspelt or renamed one
would pass unnoticed).
Broker limits: :func:`chunks` splits entities into batches of at most :data:`MAX_ENTITIES`
entities and :data:`MAX_BYTES` bytes (the common limits of NGSI-LD brokers' batch operations).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from simulation.errors import SandboxError

__all__ = [
    "MAX_BYTES",
    "MAX_ENTITIES",
    "SCHEMAS",
    "check",
    "chunks",
    "key_values",
    "problems",
    "published_attributes",
]

HERE = Path(__file__).resolve().parent / "sdm_schemas"
MAX_ENTITIES = 1000
MAX_BYTES = 1_000_000

#: entity type -> its schema file under ``sdm_schemas/``
SCHEMAS = {
    "Streetlight": "dataModel.Streetlighting/Streetlight/schema.json",
    "AccessPoint": "dataModel.WifiNetwork/AccessPoint/schema.json",
    "Camera": "dataModel.Device/Camera/schema.json",
    "Device": "dataModel.Device/Device/schema.json",
    "EVChargingStation": "dataModel.Transportation/EVChargingStation/schema.json",
    "AirQualityObserved": "dataModel.Environment/AirQualityObserved/schema.json",
    "NoiseLevelObserved": "dataModel.Environment/NoiseLevelObserved/schema.json",
}
#: the published URLs the schemas reference, served from the vendored copies
_URLS = {
    "https://smart-data-models.github.io/data-models/common-schema.json": "data-models/common-schema.json",
    "https://smart-data-models.github.io/dataModel.Device/device-schema.json": "dataModel.Device/device-schema.json",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/Environment-schema.json": (
        "dataModel.Environment/Environment-schema.json"
    ),
}


@cache
def _registry() -> Any:
    """The vendored schemas, under the URLs they are published at."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    docs = {url: json.loads((HERE / rel).read_text()) for url, rel in _URLS.items()}
    for rel in SCHEMAS.values():
        doc = json.loads((HERE / rel).read_text())
        docs[doc["$id"]] = doc
    registry: Registry = Registry().with_resources(
        (url, Resource.from_contents(doc, default_specification=DRAFT202012)) for url, doc in docs.items()
    )
    return registry


@cache
def _validators() -> dict[str, Any]:
    from jsonschema import Draft202012Validator, FormatChecker

    registry = _registry()
    out = {}
    for kind, rel in SCHEMAS.items():
        schema = json.loads((HERE / rel).read_text())
        out[kind] = Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())
    return out


@cache
def published_attributes(kind: str) -> frozenset[str]:
    """Every attribute name the type's schema declares (its own and its ``allOf`` commons)."""
    v = _validators()[kind]
    names: set[str] = set(v.schema.get("properties", {}))
    for part in v.schema.get("allOf", []):
        if "$ref" in part:
            part = _registry().resolver().lookup(part["$ref"]).contents
        names |= set(part.get("properties", {}))
    return frozenset(names)


def _plain(v: Any) -> Any:
    if isinstance(v, dict) and "@value" in v:  # {"@type": "DateTime", "@value": "..."}
        return v["@value"]
    return v


def key_values(e: Mapping[str, Any]) -> dict[str, Any]:
    """A normalized NGSI-LD entity in key-values form (Property/GeoProperty -> value, Relationship -> object)."""
    out: dict[str, Any] = {}
    for k, v in e.items():
        if k == "@context":
            continue
        if isinstance(v, dict) and v.get("type") in ("Property", "GeoProperty"):
            out[k] = _plain(v.get("value"))
        elif isinstance(v, dict) and v.get("type") == "Relationship":
            out[k] = v.get("object")
        else:
            out[k] = v
    return out


def problems(e: Mapping[str, Any]) -> list[str]:
    """What the official Smart Data Models schema of ``e``'s type rejects (empty when valid)."""
    kind = str(e.get("type"))
    v = _validators().get(kind)
    if v is None:
        return [f"{e.get('id', '?')}: no Smart Data Models schema for type {kind!r} (known: {', '.join(SCHEMAS)})"]
    out = [
        f"{e.get('id', '?')}: {k}: not an attribute of the published {kind} model"
        for k in key_values(e)
        if k not in published_attributes(kind)
    ]
    for err in sorted(v.iter_errors(key_values(e)), key=lambda x: list(x.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(entity)"
        out.append(f"{e.get('id', '?')}: {where}: {err.message[:200]}")
    return out


def check(entities: Iterable[Mapping[str, Any]]) -> int:
    """Raise a SandboxError naming the first problems if any entity is invalid; return how many were checked."""
    n, probs = 0, []
    for e in entities:
        n += 1
        probs += problems(e)
    if probs:
        more = f" (and {len(probs) - 5} more)" if len(probs) > 5 else ""
        raise SandboxError(
            "NGSI-LD export is not valid against the official Smart Data Models schemas: " + "; ".join(probs[:5]) + more
        )
    return n


def chunks(
    entities: Iterable[Mapping[str, Any]], max_entities: int = MAX_ENTITIES, max_bytes: int = MAX_BYTES
) -> Iterator[list[Mapping[str, Any]]]:
    """Consecutive batches, each at most ``max_entities`` entities and ``max_bytes`` bytes as a JSON array."""
    batch: list[Mapping[str, Any]] = []
    size = 2  # "[]"
    for e in entities:
        n = len(json.dumps(e, ensure_ascii=False).encode()) + 2  # ",\n" or "[\n"
        if n + 2 > max_bytes:
            raise SandboxError(f"entity {e.get('id', '?')} alone is {n} bytes, over the batch limit of {max_bytes}")
        if batch and (len(batch) >= max_entities or size + n > max_bytes):
            yield batch
            batch, size = [], 2
        batch.append(e)
        size += n
    if batch:
        yield batch
