"""The service side of the sandbox protocol. Runs inside bubblewrap, never in the host process.

It is copied, with ``simulation/sdk.py`` and nothing else of the package, into a private folder
that the sandbox mounts read-only. It sets the rlimits, then imports the plugin, then answers
length-prefixed msgpack requests on two dedicated pipe fds: one batched call per decision tick.
Only the standard library, ``msgpack`` and ``simulation.sdk`` may be imported here.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import importlib
import json
import os
import random
import resource
import struct
import sys
import traceback
import types
from typing import Any

HEADER = struct.Struct(">I")
TICK = b"\x92"  # msgpack: an array of two, which only a tick request is
PACKAGE = "_pilot_plugin"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _plain(obj: Any) -> Any:
    """msgpack ``default``: numpy scalars and other number-likes become Python numbers."""
    item = getattr(obj, "item", None)
    if callable(item):
        v = item()
        if isinstance(v, int | float | bool | str):
            return v
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    raise TypeError(f"cannot send a {type(obj).__name__}")


class Channel:
    """Length-prefixed msgpack messages over two pipe fds."""

    def __init__(self, rfd: int, wfd: int, max_bytes: int) -> None:
        import msgpack

        self.rfd, self.wfd, self.max = rfd, wfd, max_bytes
        self.msgpack = msgpack
        self.buf = bytearray()

    def _fill(self, need: int) -> None:
        while len(self.buf) < need:
            chunk = os.read(self.rfd, max(need - len(self.buf), 1 << 16))
            if not chunk:
                raise EOFError
            self.buf += chunk

    def recv_bytes(self) -> bytes:
        """One framed message, undecoded (header and body usually come in one read)."""
        self._fill(HEADER.size)
        (n,) = HEADER.unpack_from(self.buf)
        if n > self.max:
            raise EOFError
        end = HEADER.size + n
        self._fill(end)
        body = bytes(memoryview(self.buf)[HEADER.size : end])
        del self.buf[:end]
        return body

    def recv(self) -> Any:
        return self.msgpack.unpackb(self.recv_bytes(), raw=False, strict_map_key=True)

    def send(self, msg: Any) -> None:
        if isinstance(msg, dict):
            use = resource.getrusage(resource.RUSAGE_SELF)
            msg["cpu"] = use.ru_utime + use.ru_stime  # CPU seconds so far, for the host's accounting
        try:
            data = self.msgpack.packb(msg, use_bin_type=True, default=_plain)
        except (TypeError, ValueError, OverflowError) as exc:
            data = self.msgpack.packb({"ok": False, "kind": "garbage", "message": f"reply cannot be sent: {exc}"})
        if len(data) > self.max:
            data = self.msgpack.packb(
                {
                    "ok": False,
                    "kind": "garbage",
                    "message": f"reply of {len(data):,} bytes is over the cap of {self.max:,}",
                }
            )
        _write_all(self.wfd, HEADER.pack(len(data)) + data)


def _str_keys(sdk: Any) -> Any:
    def hook(d: dict) -> Any:
        if any(k.__class__ is not str for k in d):
            d = {str(k): v for k, v in d.items()}
        return sdk._from_map(d)

    return hook


def decode_tick(body: bytes, sdk: Any, msgpack: Any) -> Any:
    """The Observation of a tick request (the array ``["tick", observation]``), as ``from_data`` makes it.

    Arrays are unpacked as tuples and each map that is a message is rebuilt as it is unpacked, so the
    observation is built once, in one pass, without a plain-data copy first. Map keys that are not
    strings (which ``to_data`` turns into strings) take a slower second pass.
    """
    enabled = gc.isenabled()
    gc.disable()  # decoding allocates many containers and no cycles: no collections meanwhile
    try:
        try:
            msg = msgpack.unpackb(body, raw=False, use_list=False, object_hook=sdk._from_map)
        except ValueError:
            msg = msgpack.unpackb(body, raw=False, use_list=False, strict_map_key=False, object_hook=_str_keys(sdk))
    finally:
        if enabled:
            gc.enable()
    if not isinstance(msg, tuple) or len(msg) != 2 or msg[0] != "tick" or not isinstance(msg[1], sdk.Observation):
        raise ValueError("a tick request holds no Observation")
    return msg[1]


def _limits(cfg: dict) -> None:
    """rlimits, soft = hard so that plugin code cannot raise them again."""
    mb = 1 << 20
    for name, value in (
        ("RLIMIT_AS", cfg["memory_mb"] * mb),
        ("RLIMIT_NOFILE", cfg["open_files"]),
        ("RLIMIT_NPROC", cfg["processes"]),
        ("RLIMIT_FSIZE", cfg["file_mb"] * mb),
        ("RLIMIT_CORE", 0),
    ):
        res = getattr(resource, name)
        resource.setrlimit(res, (value, value))
    cpu = int(cfg["cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))


def _why(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, OSError) and exc.errno in (
        errno.EPERM,
        errno.EACCES,
        errno.ENOENT,
        errno.EROFS,
        errno.ENETUNREACH,
    ):
        text += (
            " (the sandbox allows no network, no new processes, no signals to others"
            " and no files outside the service's folder)"
        )
    tb = traceback.extract_tb(exc.__traceback__)
    own = [f for f in tb if "/plugin/" in f.filename]
    if own:
        f = own[-1]
        text += f" [at {os.path.basename(f.filename)}:{f.lineno}]"
    return text[:2000]


def _failure(exc: BaseException, where: str, kind: str) -> dict:
    """A typed failure; ``where`` prefixes the message (the host already names deploy and on_tick)."""
    prefix = f"{where}: " if where else ""
    if isinstance(exc, MemoryError):
        return {"ok": False, "kind": "memory", "message": f"{prefix}ran out of memory (MemoryError)"}
    if isinstance(exc, SystemExit):
        return {
            "ok": False,
            "kind": "crash" if kind == "exception" else kind,
            "message": f"{prefix}called sys.exit({exc.code!r})",
        }
    if isinstance(exc, KeyboardInterrupt):
        return {"ok": False, "kind": "crash", "message": f"{prefix}KeyboardInterrupt"}
    return {"ok": False, "kind": kind, "message": f"{prefix}{_why(exc)}"}


def _load(plugin_dir: str, entry: str, sdk: Any) -> Any:
    pkg = types.ModuleType(PACKAGE)
    pkg.__path__ = [plugin_dir]
    sys.modules[PACKAGE] = pkg
    mod_name, cls_name = entry.split(":", 1)
    mod = importlib.import_module(f"{PACKAGE}.{mod_name}")
    cls = getattr(mod, cls_name, None)
    if not isinstance(cls, type) or not issubclass(cls, sdk.Service):
        raise TypeError(f"entry {entry!r} is not a subclass of simulation.sdk.Service")
    return cls()


def _exit_now() -> None:
    """Exit at once, the service's output flushed: no interpreter teardown (the host is waiting)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):  # a service may have replaced or closed its streams
            stream.flush()
    os._exit(0)


def _serve(ch: Channel, service: Any, sdk: Any) -> None:
    while True:
        try:
            body = ch.recv_bytes()
        except EOFError:
            return
        if body[:1] == TICK:  # every decision tick: ["tick", observation]
            try:
                obs = decode_tick(body, sdk, ch.msgpack)
                actions = service.on_tick(obs)
                if not isinstance(actions, list | tuple):
                    ch.send(
                        {
                            "ok": False,
                            "kind": "garbage",
                            "message": f"on_tick returned {type(actions).__name__}, not a list of actions",
                        }
                    )
                    continue
                ch.send({"ok": True, "result": [sdk.to_data(a) if isinstance(a, sdk.Action) else a for a in actions]})
            except BaseException as exc:
                ch.send(_failure(exc, "", "exception"))
            continue
        req = ch.msgpack.unpackb(body, raw=False, strict_map_key=True)
        op = req.get("op") if isinstance(req, dict) else None
        if op == "exit":
            _exit_now()
        try:
            if op == "deploy":
                cpu = req.get("cpu")
                if isinstance(cpu, int):  # the host's CPU: each call then a switch on it, no cross-CPU wake-up
                    with contextlib.suppress(OSError, ValueError):
                        os.sched_setaffinity(0, {cpu})
                service.random = random.Random(req["seed"])
                dep = service.deploy(sdk.from_data(req["site"]), req["params"])
                if not isinstance(dep, sdk.Deployment):
                    ch.send(
                        {
                            "ok": False,
                            "kind": "garbage",
                            "message": f"deploy returned {type(dep).__name__}, not a Deployment",
                        }
                    )
                    continue
                ch.send({"ok": True, "result": sdk.to_data(dep)})
            elif op == "end":
                service.on_end(sdk.from_data(req["summary"]))
                ch.send({"ok": True, "result": None})
            else:
                ch.send({"ok": False, "kind": "protocol", "message": f"unknown request {op!r}"})
        except BaseException as exc:
            where = "on_end" if op == "end" else ""
            kind = "deploy_error" if op == "deploy" else "exception"
            ch.send(_failure(exc, where, kind))


# --------------------------------------------------------------------------- self-check probe
def _probe(cfg: dict) -> dict:
    """Try what the sandbox must forbid; report what happened (the host judges)."""
    import socket  # only the probe needs it: services start without it

    out: dict[str, Any] = {"uid": os.getuid(), "pid": os.getpid()}
    with contextlib.suppress(OSError), open("/proc/self/uid_map") as fh:  # the host reads its host uid from it
        out["uid_map"] = fh.read()
    for host, port in cfg["connect"]:
        key = f"connect {host}:{port}"
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(1.0)
            s.connect((host, int(port)))
            out[key] = "connected"
            s.close()
        except OSError as exc:
            out[key] = f"refused: {exc}"
    for path in cfg["read"]:
        key = f"read {path}"
        try:
            with open(path, "rb") as fh:
                fh.read(16)
            out[key] = "read"
        except OSError as exc:
            out[key] = f"refused: {exc}"
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        out["fork"] = "forked"
    except OSError as exc:
        out["fork"] = f"refused: {exc}"
    try:
        with open("/usr/lib/.pilot-probe", "wb") as fh:
            fh.write(b"x")
        out["write /usr/lib"] = "written"
    except OSError as exc:
        out["write /usr/lib"] = f"refused: {exc}"
    try:
        os.kill(1, 0)
        out["signal pid 1"] = "signalled"
    except OSError as exc:
        out["signal pid 1"] = f"refused: {exc}"
    out["rlimit_as"] = resource.getrlimit(resource.RLIMIT_AS)[0]
    return out


def main() -> int:
    cfg = json.loads(sys.argv[1])
    sys.path[:0] = cfg.get("path_front", [])
    sys.path.extend(cfg.get("path_back", []))
    rfd, wfd = int(cfg["rfd"]), int(cfg["wfd"])
    sys.stdin = open(os.devnull)  # noqa: SIM115 - kept for the life of the process
    _limits(cfg)
    ch = Channel(rfd, wfd, int(cfg["max_bytes"]))
    if cfg.get("probe"):
        ch.send({"op": "probe", "result": _probe(cfg)})
        return 0
    from simulation import sdk

    try:
        service = _load(cfg["plugin_dir"], cfg["entry"], sdk)
    except BaseException as exc:
        fail = _failure(exc, "import", "deploy_error")
        if isinstance(exc, SystemExit):
            fail["message"] = f"called sys.exit({exc.code!r}) while being imported"
        ch.send({"op": "error", **fail})
        return 0
    ch.send({"op": "ready", "pid": os.getpid()})
    _serve(ch, service, sdk)
    return 0


if __name__ == "__main__":
    sys.exit(main())
