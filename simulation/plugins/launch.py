"""Launching a service process: the bubblewrap command line, the staged files, the pipes and the log.

What the service process gets (see docs/sdk.md, "The sandbox and its limits"):

- a user namespace with an unprivileged uid/gid (65534), every capability dropped, no network
  (its own empty network namespace), its own pid, IPC and UTS namespaces, a new session, and death
  when the host goes away;
- read-only binds of only the Python installation, the venv's site-packages, the C libraries, a
  private folder holding a copy of ``simulation/sdk.py`` and the child runner (nothing else of the
  host package), and a snapshot of the plugin's own folder; an empty size-capped ``/tmp`` as its
  working directory; its own ``/proc`` and a minimal ``/dev``;
- rlimits (address space, CPU seconds, open files, processes, file size) set by the child runner
  before plugin code is imported, and a seccomp filter (``seccomp.py``) that bwrap loads before the
  interpreter starts;
- the protocol on two dedicated pipes (length-prefixed msgpack), stdout and stderr on a third pipe
  that the host drains into a capped log.

``degraded`` mode (opt-in, where bubblewrap cannot work) starts the same child runner as a plain
subprocess: rlimits only.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import py_compile
import select
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

from simulation.errors import PluginError
from simulation.plugins import protocol
from simulation.plugins.seccomp import filter_fd
from simulation.plugins.settings import SandboxSettings

__all__ = ["IN_LIB", "IN_PLUGIN", "ServiceProcess", "bwrap_argv", "exit_reason"]

F_SETPIPE_SZ = 1031
SIGNALS = {
    signal.SIGKILL: "killed (SIGKILL)",
    signal.SIGSEGV: "crashed with a segmentation fault (SIGSEGV)",
    signal.SIGABRT: "aborted (SIGABRT)",
    signal.SIGBUS: "crashed (SIGBUS)",
    signal.SIGSYS: "made a system call the sandbox forbids (SIGSYS)",
    signal.SIGXFSZ: "wrote a file larger than the sandbox allows (SIGXFSZ)",
}
IN_LIB = "/sandbox/lib"
IN_PLUGIN = "/sandbox/plugin"


# --------------------------------------------------------------------------- staging
_LIB: Path | None = None


def _stage_lib() -> Path:
    """A private folder with ``simulation/sdk.py`` and the child runner (once per process)."""
    global _LIB  # noqa: PLW0603 - one staged copy per process
    if _LIB is not None and (_LIB / "_pilot_child.py").is_file():
        return _LIB
    here = Path(__file__).resolve().parent
    d = Path(tempfile.mkdtemp(prefix="pilot-sandbox-lib-"))
    d.chmod(0o755)  # read by the sandbox's unprivileged user (mkdtemp makes it 0700)
    (d / "simulation").mkdir()
    (d / "simulation" / "__init__.py").write_text('"""Only the SDK is visible inside the sandbox."""\n')
    shutil.copyfile(here.parent / "sdk.py", d / "simulation" / "sdk.py")
    shutil.copyfile(here / "_child.py", d / "_pilot_child.py")
    # Compiled once here, so that each service process (python -B: it never writes them) loads
    # the byte code instead of compiling these modules at every start.
    for src in (d / "simulation" / "__init__.py", d / "simulation" / "sdk.py", d / "_pilot_child.py"):
        py_compile.compile(str(src), doraise=True)
    atexit.register(shutil.rmtree, d, True)
    _LIB = d
    return d


def _boot(lib: str, drop_to: int | None = None) -> str:
    """``python -c`` code that runs the child runner from the staged folder (its byte code).

    With ``drop_to`` it first becomes that user and group (real, effective and saved; no
    supplementary groups), which clears every capability, before anything else is imported.
    """
    drop = ""
    if drop_to is not None:
        u = int(drop_to)
        drop = f"import os; os.setgroups([]); os.setresgid({u}, {u}, {u}); os.setresuid({u}, {u}, {u}); "
    return f"{drop}import sys; sys.path.insert(0, {lib!r}); import _pilot_child; sys.exit(_pilot_child.main())"


def _site_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    out: list[str] = []
    for key in ("purelib", "platlib"):
        p = os.path.realpath(paths[key])
        if os.path.isdir(p) and p not in out:
            out.append(p)
    return out


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _system_binds() -> list[str]:
    """Read-only binds of the Python install, site-packages and C libraries (no /etc, no /home)."""
    args: list[str] = []
    bound: list[str] = []

    def ro(path: str) -> None:
        if path and os.path.exists(path) and not _inside(path, bound):
            args.extend(["--ro-bind", path, path])
            bound.append(path)

    ro("/usr/lib")
    for p in ("/usr/lib64", "/usr/lib32"):
        ro(os.path.realpath(p)) if os.path.isdir(p) and not os.path.islink(p) else None
    for p in ("/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(p):
            args.extend(["--symlink", os.readlink(p), p])
        elif os.path.isdir(p):
            ro(p)
    if os.path.isfile("/etc/ld.so.cache"):
        args.extend(["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"])
    ro(os.path.realpath(sys.base_prefix))
    exe = os.path.realpath(sys.executable)
    ro(exe)
    for site in _site_dirs():
        ro(site)
    return args


def drops_root() -> bool:
    """Whether the host runs as root, so that the sandbox must map its user to an unprivileged host uid.

    bwrap started by root maps the sandbox's user to host uid 0, and the kernel does not apply
    RLIMIT_NPROC to root. So, as root, the host writes the namespace's uid map itself (``0`` for
    bwrap's set-up, ``settings.uid`` for the service, both identity-mapped) and the service process
    switches to ``settings.uid`` before any plugin code runs, losing every capability.
    """
    return os.geteuid() == 0


def _parent_dirs(binds: list[str]) -> list[str]:
    """``--dir`` (mode 0755) for every folder above a bind's destination, which bwrap run as root makes 0700."""
    dests = [binds[i + 2] for i, a in enumerate(binds) if a in ("--ro-bind", "--bind", "--symlink")]
    parents: set[str] = set()
    for d in dests:
        p = os.path.dirname(d.rstrip("/"))
        while p not in ("/", "", "/tmp"):
            parents.add(p)
            p = os.path.dirname(p)
    out: list[str] = []
    for p in sorted(parents, key=lambda x: (x.count("/"), x)):
        out += ["--perms", "0755", "--dir", p]
    return out


def bwrap_argv(
    settings: SandboxSettings, stage_plugin: Path | None, seccomp_fd: int, userns: tuple[int, int] | None = None
) -> list[str]:
    """The bubblewrap command line (before the interpreter and its arguments).

    ``userns`` is (block fd, info fd) when the host maps the user namespace itself (see :func:`drops_root`).
    """
    bwrap = shutil.which("bwrap") or "bwrap"
    uid = str(settings.uid)
    if userns is None:
        user = ["--unshare-user", "--uid", uid, "--gid", uid, "--cap-drop", "ALL", "--disable-userns"]
    else:  # bwrap runs as ns-root to set up, the service drops to settings.uid (seccomp refuses new namespaces)
        user = ["--unshare-user", "--userns-block-fd", str(userns[0]), "--info-fd", str(userns[1])]
        user += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    argv = [
        bwrap,
        *user,
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
        # The private /tmp comes first: binds below it (a venv checked out under /tmp, say) are
        # then mounted on top of it instead of being hidden by it.
        "--perms",
        "1777",
        "--size",
        str(settings.tmpfs_mb << 20),
        "--tmpfs",
        "/tmp",
    ]
    binds = [*_system_binds(), "--ro-bind", str(_stage_lib()), IN_LIB]
    if stage_plugin is not None:
        binds += ["--ro-bind", str(stage_plugin), IN_PLUGIN]
    argv += _parent_dirs(binds) + binds
    argv += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        # Every tmpfs has a size, counted in the memory budget: /tmp above, /dev/shm here; the
        # root and /dev (bwrap makes both tmpfs) are remounted read-only, so nothing can fill them.
        "--perms",
        "1777",
        "--size",
        str(settings.shm_mb << 20),
        "--tmpfs",
        "/dev/shm",
        "--remount-ro",
        "/dev",
        "--remount-ro",
        "/",
        "--chdir",
        "/tmp",
        "--clearenv",
        "--setenv",
        "HOME",
        "/tmp",
        "--setenv",
        "PYTHONHASHSEED",
        "0",
        "--setenv",
        "PYTHONDONTWRITEBYTECODE",
        "1",
        "--setenv",
        "LANG",
        "C.UTF-8",
        "--setenv",
        "OPENBLAS_NUM_THREADS",
        "1",
        "--setenv",
        "OMP_NUM_THREADS",
        "1",
        "--setenv",
        "MKL_NUM_THREADS",
        "1",
        "--seccomp",
        str(seccomp_fd),
    ]
    return argv


# --------------------------------------------------------------------------- process
class ServiceProcess:
    """One service process (sandboxed or degraded) with its three pipes and capped log."""

    def __init__(
        self, mode: str, settings: SandboxSettings, cfg: dict[str, Any], stage_plugin: Path | None, workdir: Path
    ) -> None:
        self.mode, self.settings = mode, settings
        self.log = bytearray()
        self.log_total = 0
        self.rc: int | None = None
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        self.log_r, log_w = os.pipe()
        for fd in (self.req_w, rep_w):
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, F_SETPIPE_SZ, 1 << 20)
        lib = _stage_lib()
        cfg = {
            **cfg,
            "rfd": req_r,
            "wfd": rep_w,
            "max_bytes": int(settings.max_message_mb * (1 << 20)),
            "memory_mb": settings.address_space_mb(),
            "cpu_s": settings.cpu_s,
            "open_files": settings.open_files,
            "processes": settings.processes,
            "file_mb": settings.file_mb,
        }
        exe = os.path.realpath(sys.executable)
        passed = [req_r, rep_w]
        sec = -1
        userns: tuple[int, int, int, int] | None = None  # block r/w, info r/w
        if mode == "sandbox":
            sec = filter_fd()
            passed.append(sec)
            cfg.update(plugin_dir=IN_PLUGIN, path_front=[IN_LIB], path_back=_site_dirs())
            if drops_root():
                block_r, block_w = os.pipe()
                info_r, info_w = os.pipe()
                userns = (block_r, block_w, info_r, info_w)
                passed += [block_r, info_w]
            argv = [
                *bwrap_argv(settings, stage_plugin, sec, (userns[0], userns[3]) if userns else None),
                exe,
                "-I",
                "-S",
                "-B",
                "-c",
                _boot(IN_LIB, settings.uid if userns else None),
                json.dumps(cfg),
            ]
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            cwd = None
        else:
            cfg.update(
                plugin_dir=str(stage_plugin) if stage_plugin else "", path_front=[str(lib)], path_back=_site_dirs()
            )
            argv = [exe, "-I", "-S", "-B", "-c", _boot(str(lib)), json.dumps(cfg)]
            env = {
                "HOME": str(workdir),
                "PYTHONHASHSEED": "0",
                "PYTHONDONTWRITEBYTECODE": "1",
                "LANG": "C.UTF-8",
                "OPENBLAS_NUM_THREADS": "1",
                "OMP_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
            }
            cwd = str(workdir)
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_w,
                stderr=log_w,
                pass_fds=passed,
                close_fds=True,
                start_new_session=True,
                env=env,
                cwd=cwd,
            )
        except OSError as exc:
            for fd in (self.req_w, self.rep_r, self.log_r, *(userns[1:3] if userns else ())):
                os.close(fd)
            raise PluginError("sandbox", f"cannot start the service process ({argv[0]}): {exc}") from None
        finally:
            for fd in (req_r, rep_w, log_w, sec, *((userns[0], userns[3]) if userns else ())):
                if fd >= 0:
                    os.close(fd)
        if userns is not None:
            _map_user(userns[2], userns[1], settings.uid, time.monotonic() + max(10.0, settings.start_timeout_s))
        for fd in (self.req_w, self.rep_r, self.log_r):
            os.set_blocking(fd, False)
        self.channel = protocol.Channel(
            self.req_w, self.rep_r, self.log_r, self.drain, int(settings.max_message_mb * (1 << 20))
        )
        self.started = time.monotonic()
        self._fin = weakref.finalize(self, _reap, self.proc, (self.req_w, self.rep_r, self.log_r))

    # ------------------------------------------------------------ log
    def drain(self) -> None:
        """Move what the service wrote to stdout/stderr into the capped log."""
        cap = self.settings.log_cap_bytes
        while True:
            try:
                chunk = os.read(self.log_r, 1 << 16)
            except (BlockingIOError, OSError):
                return
            if not chunk:
                return
            self.log_total += len(chunk)
            room = cap - len(self.log)
            if room > 0:
                self.log += chunk[:room]

    def log_text(self) -> str:
        """The captured output (first ``log_cap_bytes``), with a note if more was dropped."""
        self.drain()
        text = self.log.decode("utf-8", "replace")
        if self.log_total > len(self.log):
            text += f"\n[... {self.log_total - len(self.log):,} more bytes dropped: the log keeps {len(self.log):,}]"
        return text

    # ------------------------------------------------------------ calls
    def call(self, msg: Any, timeout: float) -> Any:
        """Send one request and wait for its reply before the deadline."""
        deadline = time.monotonic() + timeout
        try:
            data = protocol.pack(msg)
        except (TypeError, ValueError, OverflowError) as exc:  # the host's data, not the service's fault
            raise protocol.Overrun(f"the request could not be encoded ({exc})") from None
        self.channel.send(data, deadline)
        return self.channel.recv(deadline)

    def recv(self, deadline: float) -> Any:
        """Wait for one message."""
        return self.channel.recv(deadline)

    def alive(self) -> bool:
        """Is the process still running?"""
        return self.proc.poll() is None

    def kill(self) -> None:
        """Stop the whole process group now."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.rc = self.proc.wait(timeout=5)
        self.drain()

    def wait_exit(self, timeout: float = 2.0) -> int | None:
        """The exit status, waiting a little for a process that is ending."""
        try:
            self.rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.drain()
        return self.rc

    def close(self) -> None:
        """Ask the service to exit, then make sure it has; release the pipes."""
        if self.proc.poll() is None:
            with contextlib.suppress(protocol.Deadline, protocol.Eof, OSError):
                protocol.send(self.req_w, protocol.pack({"op": "exit"}), time.monotonic() + 0.5)
            try:
                self.rc = self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                self.kill()
        self.drain()
        self._fin()


def _map_user(info_r: int, block_w: int, uid: int, deadline: float) -> None:
    """Write the sandbox's uid/gid maps (0 and ``uid``, identity) once bwrap reports its child, then let it go on.

    If bwrap fails before that it closes the info pipe; the caller then sees the process end.
    """
    try:
        buf = b""
        while b"}" not in buf and time.monotonic() < deadline:
            ready, _, _ = select.select([info_r], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(info_r, 4096)
            if not chunk:
                break
            buf += chunk
        try:
            pid = int(json.loads(buf.decode())["child-pid"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return
        mapping = f"0 0 1\n{uid} {uid} 1\n"
        with contextlib.suppress(OSError):
            for name in ("uid_map", "gid_map"):
                with open(f"/proc/{pid}/{name}", "w") as fh:
                    fh.write(mapping)
            os.write(block_w, b"1")
    finally:
        os.close(info_r)
        os.close(block_w)


def _reap(proc: subprocess.Popen, fds: tuple[int, ...]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.kill()
            proc.wait(timeout=5)
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def exit_reason(rc: int | None, log: str, settings: SandboxSettings) -> tuple[str, str]:
    """Turn an exit status (bwrap reports 128+N for a signal) and the log into (kind, message)."""
    tail = log.strip().splitlines()[-1][:300] if log.strip() else ""
    if "MemoryError" in log[-4000:]:
        return "memory", f"ran out of memory (limit {settings.memory_mb} MB)"
    if rc is None:
        return "crash", "stopped responding and was killed"
    sig = -rc if rc < 0 else rc - 128 if rc > 128 else 0
    if sig in (signal.SIGXCPU,):
        return "timeout", f"used up its CPU time ({settings.cpu_s} s for the run) and was stopped"
    if sig:
        try:
            what = SIGNALS.get(signal.Signals(sig), f"killed by {signal.Signals(sig).name}")
        except ValueError:
            what = f"killed by signal {sig}"
        return "crash", what + (f"; last output: {tail}" if tail else "")
    if "bwrap:" in log:
        line = next(ln for ln in log.splitlines() if "bwrap:" in ln)
        return "crash", f"the sandbox could not start ({line.strip()[:300]})"
    return "crash", f"exited with status {rc}" + (f"; last output: {tail}" if tail else "")
