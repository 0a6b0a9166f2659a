"""Host side of the sandbox protocol: length-prefixed msgpack on pipes, every wait with a deadline.

The host never blocks on a service: writes and reads are non-blocking and polled together with the
service's log pipe (which is drained meanwhile, so a chatty service cannot stall on a full pipe).
"""

from __future__ import annotations

import os
import select
import struct
import time
from collections.abc import Callable
from typing import Any

import msgpack

from simulation import sdk

__all__ = ["HEADER", "Channel", "Deadline", "Eof", "Overrun", "check_plain", "decode", "pack", "recv", "send"]

HEADER = struct.Struct(">I")
MAX_DEPTH = 32
#: Decoding limits on what a service sends: a container longer than MAX_CONTAINER_LEN, a string or
#: bytes longer than MAX_STR_LEN, or more than MAX_CONTAINERS containers in one message is refused
#: while decoding, before it costs memory (7.9 M empty maps in 7.5 MB would cost ~0.5 GB otherwise).
MAX_CONTAINER_LEN = 100_000
MAX_STR_LEN = 1 << 20
MAX_CONTAINERS = 200_000


class Deadline(Exception):
    """The service did not answer in time."""


class Eof(Exception):
    """The service's end of the pipe closed (the process ended)."""


class Overrun(Exception):
    """The service announced a message larger than the cap, or sent bytes that are not msgpack."""


def _plain(obj: Any) -> Any:
    if type(obj) in sdk._FIELDS:  # an SDK message: the map to_data makes of it
        return sdk._to_map(obj)
    item = getattr(obj, "item", None)  # numpy scalars the world may hand out
    if callable(item):
        v = item()
        if isinstance(v, int | float | bool | str):
            return v
    return sdk._to_map(obj)  # other dataclasses and mappings as to_data has them; else TypeError


def pack(msg: Any) -> bytes:
    """One framed message; SDK messages in it are packed as :func:`simulation.sdk.to_data` has them."""
    data = msgpack.packb(msg, use_bin_type=True, default=_plain)
    return HEADER.pack(len(data)) + data


def _wait(fd: int, events: int, deadline: float, drain: Callable[[], None] | None, log_fd: int | None) -> None:
    poller = select.poll()
    poller.register(fd, events)
    if log_fd is not None:
        poller.register(log_fd, select.POLLIN)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Deadline
        ready = poller.poll(min(left, 3600.0) * 1000)
        hit = False
        for rfd, ev in ready:
            if rfd == log_fd:
                if drain:
                    drain()
                if ev & (select.POLLHUP | select.POLLERR) and not ev & select.POLLIN:
                    poller.unregister(log_fd)
            else:
                hit = True
        if hit:
            return


def send(
    fd: int, data: bytes, deadline: float, drain: Callable[[], None] | None = None, log_fd: int | None = None
) -> None:
    """Write all of ``data`` before ``deadline`` (``fd`` is non-blocking)."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
            view = view[n:]
            continue
        except BlockingIOError:
            pass
        except (BrokenPipeError, OSError) as exc:
            raise Eof from exc
        _wait(fd, select.POLLOUT, deadline, drain, log_fd)


def _read(fd: int, n: int, deadline: float, drain: Callable[[], None] | None, log_fd: int | None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = os.read(fd, min(n - len(buf), 1 << 20))
        except BlockingIOError:
            _wait(fd, select.POLLIN, deadline, drain, log_fd)
            continue
        if not chunk:
            raise Eof
        buf += chunk
    return bytes(buf)


def recv(
    fd: int, max_bytes: int, deadline: float, drain: Callable[[], None] | None = None, log_fd: int | None = None
) -> Any:
    """Read one framed message before ``deadline``; raise Overrun if it is too big or not msgpack."""
    (n,) = HEADER.unpack(_read(fd, HEADER.size, deadline, drain, log_fd))
    if n > max_bytes:
        raise Overrun(f"announced a reply of {n:,} bytes; the cap is {max_bytes:,}")
    data = _read(fd, n, deadline, drain, log_fd)
    return decode(data)


class _Budget:
    """Counts the containers one message has built; refuses the message past MAX_CONTAINERS."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_CONTAINERS

    def hook(self, obj: Any) -> Any:
        self.left -= 1
        if self.left < 0:
            raise Overrun(f"holding more than {MAX_CONTAINERS:,} lists and maps")
        return obj


def decode(data: bytes) -> Any:
    """Decode one message body with limits on containers, strings and their number (raise Overrun)."""
    budget = _Budget()
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_array_len=MAX_CONTAINER_LEN,
            max_map_len=MAX_CONTAINER_LEN,
            max_str_len=MAX_STR_LEN,
            max_bin_len=MAX_STR_LEN,
            max_ext_len=1,
            object_hook=budget.hook,
            list_hook=budget.hook,
        )
    except Overrun as exc:
        raise Overrun(f"sent {len(data):,} bytes {exc}; refused while decoding") from None
    except ValueError as exc:
        if "exceeds max" in str(exc):
            raise Overrun(
                f"sent {len(data):,} bytes with a list, map or string over the decoding limit "
                f"({MAX_CONTAINER_LEN:,} items, {MAX_STR_LEN:,} bytes): {str(exc)[:120]}"
            ) from None
        raise Overrun(f"sent {len(data):,} bytes that are not valid msgpack (ValueError)") from None
    except Exception as exc:
        raise Overrun(f"sent {len(data):,} bytes that are not valid msgpack ({type(exc).__name__})") from None


class Channel:
    """The host's end of one service's protocol pipes, kept for the life of the process.

    Same contract as :func:`send` and :func:`recv` (non-blocking fds, every wait with a deadline,
    the log pipe drained meanwhile), with one poll object for all calls, a read attempted before
    any poll, and a reply read in as few ``read`` calls as it arrived in.
    """

    def __init__(self, wfd: int, rfd: int, log_fd: int, drain: Callable[[], None], max_bytes: int) -> None:
        self.wfd, self.rfd, self.log_fd, self.drain, self.max_bytes = wfd, rfd, log_fd, drain, max_bytes
        self._buf = bytearray()
        self._poller = select.poll()
        self._poller.register(rfd, select.POLLIN)
        self._poller.register(log_fd, select.POLLIN)
        self._log_open = True

    def _wait(self, deadline: float) -> None:
        """Until the reply pipe is readable (or closed), draining the log meanwhile."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Deadline
            hit = False
            for fd, ev in self._poller.poll(min(left, 3600.0) * 1000):
                if fd == self.log_fd:
                    self.drain()
                    if ev & (select.POLLHUP | select.POLLERR) and not ev & select.POLLIN and self._log_open:
                        self._poller.unregister(fd)
                        self._log_open = False
                else:
                    hit = True
            if hit:
                return

    def send(self, data: bytes, deadline: float) -> None:
        """Write all of ``data`` before ``deadline``."""
        try:
            n = os.write(self.wfd, data)
        except BlockingIOError:
            n = 0
        except OSError as exc:
            raise Eof from exc
        if n < len(data):  # the pipe is full: wait for room (the log is drained meanwhile)
            send(self.wfd, data[n:], deadline, self.drain, self.log_fd if self._log_open else None)

    def _fill(self, need: int, deadline: float) -> None:
        buf = self._buf
        while len(buf) < need:
            try:
                chunk = os.read(self.rfd, max(need - len(buf), 1 << 16))
            except BlockingIOError:
                self._wait(deadline)
                continue
            if not chunk:
                raise Eof
            buf += chunk

    def recv(self, deadline: float) -> Any:
        """Read one framed message before ``deadline``; raise Overrun if it is too big or not msgpack."""
        self._fill(HEADER.size, deadline)
        (n,) = HEADER.unpack_from(self._buf)
        if n > self.max_bytes:
            raise Overrun(f"announced a reply of {n:,} bytes; the cap is {self.max_bytes:,}")
        end = HEADER.size + n
        self._fill(end, deadline)
        data = bytes(memoryview(self._buf)[HEADER.size : end])
        del self._buf[:end]
        return decode(data)


def check_plain(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` is not plain message data (dict/list/str/int/float/bool/None), or None."""
    if depth > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    if value is None or isinstance(value, bool | str):
        return None
    if isinstance(value, int | float):  # NaN and inf pass here; the world rejects them per action
        return None
    if isinstance(value, list):
        for v in value:
            why = check_plain(v, depth + 1)
            if why:
                return why
        return None
    if isinstance(value, dict):
        for v in value.values():
            why = check_plain(v, depth + 1)
            if why:
                return why
        return None
    return f"holds a {type(value).__name__}, which is not plain data"
