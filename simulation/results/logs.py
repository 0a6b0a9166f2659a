"""A service's own output, kept per run: what it printed and its structured ``Service.log`` entries.

Sandboxed services write to a capped pipe (``SETTINGS.log_cap_bytes``; the note ``[... N more bytes
dropped ...]`` says when the cap was hit); services run inline write to a capped buffer the runner
keeps. After a run, :func:`collect_logs` turns each service's output into a :data:`ServiceLog` —
lines marked with :data:`simulation.sdk.LOG_MARK` become entries, the rest stays text — and the
store keeps them as ``logs.json`` next to ``run.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, TypedDict

from simulation.sdk import LOG_MARK

__all__ = ["ServiceLog", "collect_logs", "format_log", "parse_output"]

_DROPPED = re.compile(r"\[\.\.\. ([\d,]+) more bytes dropped")


class ServiceLog(TypedDict):
    """One service's output in one run."""

    text: str  # what it printed (structured entries removed), as kept
    entries: list[dict[str, Any]]  # Service.log entries: time_s, message, and the fields given
    truncated: bool  # the output cap was hit: later output was dropped
    dropped_bytes: int  # how much was dropped


def parse_output(raw: str) -> ServiceLog:
    """Split captured output into plain text and structured entries; note truncation."""
    lines, entries = [], []
    for line in raw.splitlines():
        if line.startswith(LOG_MARK):
            try:
                entry = json.loads(line[len(LOG_MARK) :])
            except ValueError:
                lines.append(line)  # cut by the cap mid-line: keep it as text
                continue
            if isinstance(entry, dict):
                entries.append(entry)
                continue
        lines.append(line)
    m = _DROPPED.search(raw)
    dropped = int(m.group(1).replace(",", "")) if m else 0
    return {"text": "\n".join(lines), "entries": entries, "truncated": bool(m), "dropped_bytes": dropped}


def collect_logs(services: Iterable[Any]) -> dict[str, ServiceLog]:
    """Each service's output after a run (``ServiceState`` objects of the world's host)."""
    out: dict[str, ServiceLog] = {}
    for s in services:
        fn = getattr(s.runner, "log_text", None)
        raw = fn() if callable(fn) else ""
        out[s.name] = parse_output(raw or "")
    return out


def format_log(name: str, log: ServiceLog, tail: int | None = None) -> str:
    """A service's log as text for a terminal: entries (time, message, fields), then printed output."""
    out = [f"== {name}: {len(log['entries'])} log entr{'y' if len(log['entries']) == 1 else 'ies'}"]
    entries = log["entries"][-tail:] if tail else log["entries"]
    for e in entries:
        t = e.get("time_s")
        fields = " ".join(f"{k}={v}" for k, v in e.items() if k not in ("time_s", "message"))
        out.append(f"  t={t if t is not None else '-':>8} {e.get('message', '')}" + (f"  {fields}" if fields else ""))
    text = log["text"].strip()
    if text:
        lines = text.splitlines()
        lines = lines[-tail:] if tail else lines
        out.append(f"-- printed output ({len(text.splitlines())} line(s)):")
        out += [f"  {ln}" for ln in lines]
    if log["truncated"]:
        out.append(f"  [truncated: {log['dropped_bytes']:,} bytes over the output cap were dropped]")
    if len(out) == 1 and not text:
        out.append("  (no output)")
    return "\n".join(out)
