"""YAML and pydantic helpers shared by every loader: errors name file, key path and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from simulation.errors import _InputError


class Strict(BaseModel):
    """Frozen pydantic model that rejects unknown keys and lists the allowed ones."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = {f.alias or n for n, f in cls.model_fields.items()} | set(cls.model_fields)
            unknown = sorted(str(k) for k in data if k not in allowed)
            if unknown:
                shown = sorted(f.alias or n for n, f in cls.model_fields.items())
                raise ValueError(f"unknown key {unknown[0]!r}; allowed keys: {', '.join(shown)}")
        return data


def read_yaml(path: Path, error: type[_InputError]) -> Any:
    """Parse a YAML file, turning every failure into ``error`` with the line the parser gives."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(path, f"cannot be read ({exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(path, f"{where}not valid YAML ({problem})") from None


def key_path(loc: tuple[Any, ...]) -> str:
    """Render a pydantic location tuple as ``a.b[2].c``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def validation_message(exc: ValidationError) -> tuple[str, str]:
    """First error of a pydantic ValidationError as (key path, readable message)."""
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    # Drop pydantic's union/tagged-union branch names so paths read like the YAML.
    loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in _BRANCHES)))
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        return key_path(loc[:-1]), f"unknown key {loc[-1]!r}" if loc else "unknown key"
    if kind == "missing":
        return key_path(loc), "required key is missing"
    text = err["msg"]
    if text.startswith("Value error, "):
        text = text[len("Value error, ") :]
    if text.startswith("unknown key"):
        return key_path(loc), text
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return key_path(loc), f"{text}; got {shown}"


_BRANCHES: set[str] = set()


def parse_model[M: BaseModel](model: type[M], data: Any, path: Path | str, error: type[_InputError]) -> M:
    """Validate ``data`` against ``model``; raise ``error`` naming file and key path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        key, msg = validation_message(exc)
        raise error(path, msg, key=key) from None
