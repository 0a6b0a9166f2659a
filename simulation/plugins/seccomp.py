"""The system-call filter every sandboxed service runs under (compiled once, loaded by bwrap).

A deny-list on top of bubblewrap's namespaces: the interpreter needs most ordinary calls, so the
filter refuses (``EPERM``) what a policy never needs — sockets other than AF_UNIX, new processes,
signals to other processes, tracing, mounting, namespaces, kernel keyrings, io_uring (which could
bypass the socket rule), BPF, perf, module loading. Threads stay allowed (``clone`` with
``CLONE_THREAD``); ``clone3`` answers ``ENOSYS`` so the C library falls back to ``clone``.
Calls of a foreign architecture (x32, i386) kill the process.
"""

from __future__ import annotations

import errno
import os
import tempfile
from functools import cache

__all__ = ["DENIED", "bpf_program"]

AF_UNIX = 1
CLONE_THREAD = 0x00010000

#: System calls refused outright (EPERM), whatever their arguments.
DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_open",
    "pidfd_getfd",
    "pidfd_send_signal",
    "tkill",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "fork",
    "vfork",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "syslog",
    "quotactl",
    "name_to_handle_at",
    "open_by_handle_at",
    "lookup_dcookie",
    "iopl",
    "ioperm",
    "uselib",
    "vhangup",
    "sethostname",
    "setdomainname",
    "personality",
    "socketcall",
)


@cache
def bpf_program() -> bytes:
    """The compiled filter (classic BPF), ready for ``bwrap --seccomp FD``."""
    import pyseccomp as sc

    f = sc.SyscallFilter(sc.ALLOW)
    eperm = sc.ERRNO(errno.EPERM)
    for name in DENIED:
        try:
            f.add_rule(eperm, name)
        except (OSError, ValueError, RuntimeError):  # a call this architecture does not have
            continue
    f.add_rule(eperm, "socket", sc.Arg(0, sc.NE, AF_UNIX))
    f.add_rule(eperm, "socketpair", sc.Arg(0, sc.NE, AF_UNIX))
    f.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    # kill(0, sig) signals the service's own process group; any other target is refused.
    f.add_rule(eperm, "kill", sc.Arg(0, sc.NE, 0))
    with tempfile.TemporaryFile() as fh:
        f.export_bpf(fh)
        fh.flush()
        fh.seek(0)
        return fh.read()


def filter_fd() -> int:
    """A pipe read end holding the compiled filter (the caller passes it to bwrap, then closes it)."""
    data = bpf_program()
    r, w = os.pipe()
    try:
        os.write(w, data)  # a few KB: fits the pipe buffer
    finally:
        os.close(w)
    return r
