"""Limits a hostile service meets: tmpfs sizes inside its memory budget, an unprivileged host uid that
makes the thread limit hold, and replies refused while decoding before they cost memory."""

from __future__ import annotations

import os
import re
import shutil
import time
import tracemalloc
from pathlib import Path

import msgpack
import pytest

from simulation import sdk
from simulation.plugins import SETTINGS, protocol
from simulation.plugins.discovery import open_plugin
from simulation.plugins.launch import bwrap_argv, drops_root
from simulation.plugins.sandbox import SandboxRunner
from simulation.world.host import ServiceFailure

HOSTILE = Path(__file__).parent / "hostile"
SITE = sdk.to_data(sdk.SiteView("empty", (), (), (), (), (), {}, {}, 60.0, 3600.0))

pytestmark = pytest.mark.usefixtures("working_sandbox")


def _shmem_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1])
    raise AssertionError("no Shmem line in /proc/meminfo")


def _service_pids(root: int) -> list[int]:
    """The sandboxed interpreter(s) below ``root`` (bwrap's own set-up processes excluded)."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for f in Path(f"/proc/{pid}/task").glob("*/children"):
            for child in f.read_text().split():
                todo.append(int(child))
                try:
                    cmd = Path(f"/proc/{child}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"_pilot_child" in cmd and not cmd.split(b"\0")[0].endswith(b"bwrap"):
                    out.append(int(child))
    return out


def _uids(pid: int) -> list[int]:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("Uid:"))
    return [int(v) for v in line.split()[1:]]


def test_every_tmpfs_is_sized_and_counted_in_the_memory_budget():
    argv = bwrap_argv(SETTINGS, None, 3)
    sizes = {argv[i + 3]: int(argv[i + 1]) for i, a in enumerate(argv) if a == "--size" and argv[i + 2] == "--tmpfs"}
    assert sizes == {"/tmp": SETTINGS.tmpfs_mb << 20, "/dev/shm": SETTINGS.shm_mb << 20}
    remounted = [argv[i + 1] for i, a in enumerate(argv) if a == "--remount-ro"]
    assert remounted == ["/dev", "/"]  # bwrap's own tmpfs mounts hold nothing: they are read-only
    assert SETTINGS.address_space_mb() == SETTINGS.memory_mb - SETTINGS.tmpfs_mb - SETTINGS.shm_mb


def test_a_service_filling_dev_shm_is_refused_and_host_shared_memory_is_unchanged():
    host_shm = shutil.disk_usage("/dev/shm").used
    shmem = _shmem_kb()
    runner = SandboxRunner(open_plugin(HOSTILE / "shm_fill"), "shm_fill")
    try:
        runner._await_ready()  # the import has written as much as it could and holds it
        assert runner.proc.alive()
        held_kb = _shmem_kb() - shmem
        assert shutil.disk_usage("/dev/shm").used == host_shm  # the host's /dev/shm is not its /dev/shm
        # it asked for 1 GB; it holds at most its 16 MB (other processes on the machine add noise)
        assert held_kb < 256 * 1024, f"host shared memory grew by {held_kb / 1024:.0f} MB"
        with pytest.raises(ServiceFailure) as err:
            runner.deploy(SITE, {}, 1)
    finally:
        runner.close()
    msg = str(err.value)
    assert f"/dev/shm refused after {SETTINGS.shm_mb} MB (No space left on device)" in msg
    assert "/hog refused (Read-only file system)" in msg and "/dev/hog refused (Read-only file system)" in msg


def test_the_service_runs_as_an_unprivileged_host_uid():
    runner = SandboxRunner(open_plugin(HOSTILE / "thread_bomb"), "uid")
    try:
        runner._await_ready()
        pids = _service_pids(runner.proc.proc.pid)
        assert pids, "the sandboxed interpreter should be running"
        for pid in pids:
            assert _uids(pid) == [SETTINGS.uid] * 4  # real, effective, saved, filesystem: never root
    finally:
        runner.close()
    assert drops_root() == (os.geteuid() == 0)


def test_64_threads_are_stopped_at_the_process_limit():
    runner = SandboxRunner(open_plugin(HOSTILE / "thread_bomb"), "threads")
    try:
        with pytest.raises(ServiceFailure) as err:
            runner.deploy(SITE, {}, 1)
    finally:
        runner.close()
    m = re.search(r"started (\d+) threads, then: can't start new thread", str(err.value))
    assert m, str(err.value)
    assert int(m.group(1)) < SETTINGS.processes  # the interpreter's own thread counts too


def _flat_empty_maps(n: int) -> bytes:
    return b"\xdd" + n.to_bytes(4, "big") + b"\x80" * n


def _nested_empty_maps(outer: int, inner: int) -> bytes:
    one = b"\xdc" + inner.to_bytes(2, "big") + b"\x80" * inner
    return b"\xdc" + outer.to_bytes(2, "big") + one * outer


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (_flat_empty_maps(7_900_000), r"with a list, map or string over the decoding limit .*max_array_len"),
        (_nested_empty_maps(1000, 7900), r"holding more than 200,000 lists and maps; refused while decoding"),
        (b"\xdb" + (5 << 20).to_bytes(4, "big") + b"x" * (5 << 20), r"over the decoding limit .*max_str_len"),
    ],
    ids=["7.9M maps in one list", "7.9M maps in 1000 lists", "a 5 MB string"],
)
def test_a_huge_reply_is_refused_while_decoding_before_it_costs_memory(data, pattern):
    tracemalloc.start()
    t0 = time.process_time()
    try:
        with pytest.raises(protocol.Overrun, match=pattern):
            protocol.decode(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"decoding took {peak / 2**20:.0f} MB before refusing"  # vs ~0.5 GB undecoded
    assert time.process_time() - t0 < 5


def test_an_ordinary_reply_decodes_unchanged():
    reply = {"ok": True, "actions": [{"type": "SetLight", "poles": ["p1", "p2"], "level": 0.5}] * 1000, "cpu": 0.1}
    assert protocol.decode(msgpack.packb(reply)) == reply


def test_the_self_check_refuses_a_sandbox_that_is_root_on_the_host():
    from simulation.plugins.selfcheck import _judge, host_uid, probe_sandbox

    result = probe_sandbox()
    assert host_uid(result["uid"], result["uid_map"]) == SETTINGS.uid
    assert _judge(result) is None
    as_root = {**result, "uid_map": f"{SETTINGS.uid} 0 1\n"}  # what bwrap started by root maps by itself
    assert "runs as host uid 0 (root outside its namespace" in (_judge(as_root) or "")
