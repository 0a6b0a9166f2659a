"""YAML and pydantic helpers shared by every loader: errors name file, key path and line."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from simulation.errors import _InputError

#: Every integer a file holds must fit a signed 64-bit integer (what the results store can hold).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _out_of_int64(value: Any, depth: int = 0) -> str | None:
    """The first key (dotted) whose integer does not fit int64, or None."""
    if isinstance(value, bool) or depth > MAX_YAML_DEPTH:
        return None
    if isinstance(value, int):
        return "" if not INT64_MIN <= value <= INT64_MAX else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list | tuple) else ()
    for k, v in items:
        sub = _out_of_int64(v, depth + 1)
        if sub is not None:
            return f"[{k}]" + sub if isinstance(k, int) else f".{k}" + sub
    return None


class Strict(BaseModel):
    """Frozen pydantic model that rejects unknown keys, NaN and infinities, and integers beyond int64."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for k, v in data.items():
                bad = _out_of_int64(v)
                if bad is not None:
                    raise ValueError(
                        f"{k}{bad} must fit a 64-bit integer (from {INT64_MIN} to {INT64_MAX}); "
                        f"got {excerpt(str(v), 30)}"
                    )
            allowed = {f.alias or n for n, f in cls.model_fields.items()} | set(cls.model_fields)
            unknown = sorted(str(k) for k in data if k not in allowed)
            if unknown:
                shown = sorted(f.alias or n for n, f in cls.model_fields.items())
                raise ValueError(f"unknown key {excerpt(unknown[0])}; allowed keys: {', '.join(shown)}")
        return data


#: Largest YAML file any loader reads (checked before a byte is parsed).
MAX_YAML_BYTES = 1 << 20
#: Deepest nesting of mappings and lists a YAML file may have.
MAX_YAML_DEPTH = 64
#: Most characters of a file an error message quotes (escaped).
EXCERPT_CHARS = 40
_PLAIN_TAGS = (None, "!")  # no tag, or the non-specific tag of a quoted scalar


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` cut to ``limit`` characters and escaped (control and non-ASCII characters as \\x.., \\u..)."""
    cut = text[:limit]
    shown = cut.encode("ascii", "backslashreplace").decode("ascii")
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in shown)
    return f"'{shown}{'...' if len(text) > limit else ''}'"


class YamlRefused(Exception):
    """The YAML uses something the safe reader refuses (an alias, a tag, too deep a nesting)."""

    def __init__(self, msg: str, mark: Any) -> None:
        super().__init__(msg)
        self.msg, self.mark = msg, mark


class _SafeLoader(yaml.SafeLoader):
    """SafeLoader without aliases, explicit tags or deep nesting: what it builds is as big as the file."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._last_mark: Any = None

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        self._last_mark = node.start_mark
        return super().construct_object(node, deep)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise YamlRefused(
                f"uses an alias (*{excerpt(str(event.anchor), 20)[1:-1]}); aliases are not allowed, "
                "write the value out",
                event.start_mark,
            )
        tag = getattr(event, "tag", None)
        if tag not in _PLAIN_TAGS:
            tag = str(tag).replace("tag:yaml.org,2002:", "!!")
            raise YamlRefused(
                f"uses the tag {excerpt(str(tag), 30)}; only plain values are allowed "
                "(no '!!int', '!!timestamp', '!x')",
                event.start_mark,
            )
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise YamlRefused(f"is nested deeper than {MAX_YAML_DEPTH} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _where(mark: Any, text: str, msg: str) -> str:
    """``line L, column C: msg, near '<short escaped excerpt>'`` (or just ``msg`` without a mark)."""
    if mark is None:
        return msg
    lines = text.splitlines()
    line = lines[mark.line] if 0 <= mark.line < len(lines) else ""
    near = line[max(0, mark.column - 10) :].strip()
    return f"line {mark.line + 1}, column {mark.column + 1}: {msg}" + (f", near {excerpt(near)}" if near else "")


def parse_yaml(text: str, where: object, error: type[_InputError], *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """Parse YAML text with the safe reader; every failure is ``error`` quoting at most a short excerpt."""
    if len(text) > max_bytes:
        raise error(where, f"is {len(text):,} characters; the most a YAML file may hold is {max_bytes:,}")
    loader: _SafeLoader | None = None
    try:
        loader = _SafeLoader(text)
        return loader.get_single_data()
    except yaml.reader.ReaderError as exc:
        raise error(
            where, f"character {exc.character:#06x} at offset {exc.position} is not allowed in YAML ({exc.reason})"
        ) from None
    except YamlRefused as exc:
        raise error(where, _where(exc.mark, text, exc.msg)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = str(getattr(exc, "problem", None) or type(exc).__name__)
        raise error(where, _where(mark, text, f"not valid YAML ({excerpt(problem, 80)[1:-1]})")) from None
    except (ValueError, OverflowError, TypeError, RecursionError) as exc:  # a value no Python type can hold
        mark = getattr(loader, "_last_mark", None) if loader is not None else None
        why = f"holds a value that cannot be read ({type(exc).__name__}: {excerpt(str(exc), 80)[1:-1]})"
        raise error(where, _where(mark, text, why)) from None
    finally:
        if loader is not None:
            loader.dispose()


def read_bytes_capped(path: Path, error: type[_InputError], max_bytes: int, *, no_links: bool = False) -> bytes:
    """The bytes of ``path``, refusing a link (when asked), a non-file or a file over ``max_bytes`` before reading."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) * no_links | getattr(os, "O_NONBLOCK", 0)
    try:
        if no_links and path.is_symlink():
            raise error(path, "is a symbolic link; links are not followed here (copy the file instead)")
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise error(path, "file not found") from None
    except OSError as exc:
        if no_links and exc.errno == errno.ELOOP:
            raise error(path, "is a symbolic link; links are not followed here (copy the file instead)") from None
        raise error(path, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise error(path, "is not a regular file")
        if st.st_size > max_bytes:
            raise error(path, f"is {st.st_size:,} bytes; the most this file may hold is {max_bytes:,}")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise error(path, f"is over {max_bytes:,} bytes; the most this file may hold is {max_bytes:,}")
    return data


def read_yaml(path: Path, error: type[_InputError], *, max_bytes: int = MAX_YAML_BYTES, no_links: bool = False) -> Any:
    """Read a YAML file safely: size checked first, no aliases, plain tags only, short escaped excerpts in errors."""
    raw = read_bytes_capped(path, error, max_bytes, no_links=no_links)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(path, f"is not UTF-8 text (bad byte at offset {exc.start})") from None
    return parse_yaml(text, path, error, max_bytes=max_bytes)


def key_path(loc: tuple[Any, ...]) -> str:
    """Render a pydantic location tuple as ``a.b[2].c``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            out += ("." if out else "") + (text if len(text) <= EXCERPT_CHARS and text.isprintable() else excerpt(text))
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
        return key_path(loc[:-1]), f"unknown key {excerpt(str(loc[-1]))}" if loc else "unknown key"
    if kind == "missing":
        return key_path(loc), "required key is missing"
    text = err["msg"]
    if text.startswith("Value error, "):
        text = text[len("Value error, ") :]
    if text.startswith("unknown key") or "; got " in text:  # our own message already shows the value
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


class _NoAliasDumper(yaml.SafeDumper):
    """A safe dumper that writes a value again wherever it repeats (our reader refuses aliases)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(data: Any, **kwargs: Any) -> str:
    """YAML text of ``data`` that :func:`parse_yaml` reads back: plain tags, no anchors or aliases."""
    return yaml.dump(data, Dumper=_NoAliasDumper, **kwargs)
