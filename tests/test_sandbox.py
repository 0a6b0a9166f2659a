"""The sandbox holds: every hostile fixture is stopped and recorded, and nothing else changes."""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BASE_SERVICES, write_scenario

from simulation.config.scenario import load_scenario
from simulation.errors import PluginError
from simulation.plugins import SETTINGS, ensure_sandbox, probe_sandbox, reset_self_check
from simulation.plugins import launch as launch_mod
from simulation.plugins import selfcheck as selfcheck_mod
from simulation.results.kpis import compute_kpis
from simulation.results.run import build_world
from simulation.world import World

HOSTILE = Path(__file__).parent / "hostile"
GOOD = Path(__file__).resolve().parent.parent / "plugins" / "lumen_adaptive_lighting"
SECRET = "TOP-SECRET-CANARY-7f3a"

pytestmark = pytest.mark.usefixtures("working_sandbox")

# name -> (status, kind of the first error, regex its message must match)
EXPECTED = {
    "import_error": ("failed", "deploy_error", r"ModuleNotFoundError: No module named 'definitely_not_a_module_xyz'"),
    "exit_at_import": ("failed", "deploy_error", r"called sys\.exit\(3\) while being imported"),
    "hang_at_import": ("failed", "timeout", r"did not finish starting and importing 'service:Hostile' within 3 s"),
    "deploy_raises": (
        "failed",
        "deploy_error",
        r"^deploy: RuntimeError: deploy exploded on purpose \[at service\.py:8\]$",
    ),
    "tick_raises": ("failed", "exception", r"^on_tick: ZeroDivisionError: division by zero \[at service\.py:11\]$"),
    "infinite_loop": (
        "failed",
        "timeout",
        r"^on_tick: did not return within 2 s \(the deadline\); the service was stopped$",
    ),
    "memory_bomb": ("failed", "memory", r"ran out of memory"),
    "fork_bomb": ("failed", "exception", r"PermissionError: \[Errno 1\] Operation not permitted .*no new processes"),
    "network": ("failed", "deploy_error", r"127\.0\.0\.1:\d+ refused .*; 1\.1\.1\.1:443 refused"),
    "read_files": ("failed", "deploy_error", r"/etc/passwd refused \(FileNotFoundError\)"),
    "kill_others": ("failed", "deploy_error", r"refused \(\[Errno 1\] Operation not permitted\)"),
    "big_output": ("degraded", "output", r"^on_tick: wrote 50\.\d MB to stdout/stderr; the log keeps the first 1 MB$"),
    "protocol_forgery": ("failed", "protocol", r"announced a reply of 4,294,967,280 bytes; the cap is"),
    "returns_garbage": ("failed", "garbage", r"on_tick returned dict, not a list of actions"),
    "undeclared_hardware": (
        "failed",
        "deploy_error",
        r"installs 1 'edge_unit' module\(s\), which plugin.yaml does not declare",
    ),
}
REJECTED = {  # services whose actions the world rejects, with the reasons it gives
    "wrong_actions": [
        "unknown action type 'Explode'",
        "int: not a valid action: expected a message with a 'type'",
        "Flag.__init__() missing 1 required positional argument: 'detection'",
        "unknown action type 'PoleInfo'",
        "detection ('not', 'a', 'string') was not delivered",
    ],
    "not_owned": [
        "does not operate streetlights",
        "device 'someone-elses-module' was not installed by this service",
        "is not operated by this service",
        "Dispatch: ",
    ],
    "nan_inf": [
        "SetLight.level must be a finite number",
        "Notify.x must be a finite number",
        "Notify.radius_m must be a finite number",
    ],
}
QUIET = ["stdout_garbage"]


def _run(path: Path) -> World:
    sc = load_scenario(path)
    world = build_world(sc)
    world.run()
    return world


@pytest.fixture(scope="module")
def hostile(tiny_district: Path, tmp_path_factory: pytest.TempPathFactory):
    """One run with every hostile fixture next to the city's services and a good plugin, and one without them."""
    tmp = tmp_path_factory.mktemp("hostile")
    results = tmp / "results" / "runs"
    results.mkdir(parents=True)
    (results / "run.json").write_text(SECRET)
    other = tmp / "other_company"
    other.mkdir()
    (other / "service.py").write_text(f"KEY = '{SECRET}'")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.setblocking(False)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    params = {
        "network": {"port": listener.getsockname()[1]},
        "kill_others": {"pid": sleeper.pid},
        "read_files": {
            "paths": "|".join(
                ["/etc/passwd", str(other / "service.py"), str(results / "run.json"), str(GOOD / "service.py")]
            )
        },
    }
    names = [*EXPECTED, *REJECTED, *QUIET]
    good = [{"use": str(GOOD)}]
    common = {"district": str(tiny_district), "start": "2026-05-12T18:30", "duration": "1h", "seed": 3}
    bad = [{"use": str(HOSTILE / n), "name": n, "params": params.get(n, {})} for n in names]
    with SETTINGS.override(
        start_timeout_s=3.0, deploy_timeout_s=3.0, tick_timeout_s=2.0, end_timeout_s=1.0, memory_mb=256
    ):
        world = _run(write_scenario(tmp, "hostile", {**common, "services": good + BASE_SERVICES + bad}))
        reference = _run(write_scenario(tmp, "reference", {**common, "services": good + BASE_SERVICES}))
    try:
        conn, _ = listener.accept()
        conn.close()
        reached = True
    except BlockingIOError:
        reached = False
    listener.close()
    alive = sleeper.poll() is None
    sleeper.kill()
    sleeper.wait()
    services = {s.name: s for s in world.host.services}
    return {"world": world, "reference": reference, "services": services, "reached": reached, "alive": alive}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_service_is_recorded_with_its_reason(hostile, name):
    status, kind, pattern = EXPECTED[name]
    s = hostile["services"][name]
    assert s.status == status, s.errors
    assert s.errors[0]["kind"] == kind
    assert s.errors[0]["message"] and re.search(pattern, s.errors[0]["message"]), s.errors[0]["message"]


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_invalid_actions_are_rejected_with_reasons(hostile, name):
    s = hostile["services"][name]
    assert s.status == "ok" and s.actions > 0 and s.rejected == s.actions
    reasons = " | ".join(s.runner.rejections)
    for text in REJECTED[name]:
        assert text in reasons, (text, reasons)


def test_the_run_completes_and_other_services_are_untouched(hostile):
    world, reference = hostile["world"], hostile["reference"]
    assert world.env.now == reference.env.now == 3600
    a, b = compute_kpis(world), compute_kpis(reference)
    assert all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in b), {
        k: (a[k], b[k]) for k in b if a[k] != b[k]
    }
    ref = {s.name: s for s in reference.host.services}
    for name in ("lumen_adaptive_lighting", "cctv_monitoring", "public_wifi", "streetlights"):
        mine = hostile["services"][name]
        assert (mine.status, mine.actions, mine.rejected) == (ref[name].status, ref[name].actions, ref[name].rejected)


def test_stdout_garbage_cannot_corrupt_the_protocol(hostile):
    s = hostile["services"]["stdout_garbage"]
    assert (s.status, s.errors) == ("ok", [])
    assert "garbage" in s.runner.log_text()


def test_big_output_is_capped(hostile):
    log = hostile["services"]["big_output"].runner.log_text()
    assert len(log) < 1.1 * (1 << 20) and "more bytes dropped" in log


def test_no_connection_reached_the_host(hostile):
    assert not hostile["reached"]


def test_no_host_file_was_read(hostile):
    msg = hostile["services"]["read_files"].errors[0]["message"]
    assert SECRET not in msg and "READ" not in msg and msg.count("refused") == 4


def test_no_other_process_was_signalled(hostile):
    assert hostile["alive"]
    assert "KILLED" not in hostile["services"]["kill_others"].errors[0]["message"]


def test_failed_services_leave_no_process_behind(hostile):
    for s in hostile["services"].values():
        proc = getattr(getattr(s.runner, "inner", None), "proc", None)
        if proc is not None:
            assert proc.proc.poll() is not None, s.name


# --------------------------------------------------------------------------- self-check
def test_probe_finds_the_confinement_holding():
    result = probe_sandbox()
    assert result["uid"] == 65534 and result["fork"].startswith("refused")
    assert all(v.startswith("refused") for k, v in result.items() if k.startswith(("connect", "read", "write")))


def test_self_check_refuses_a_sandbox_with_network(monkeypatch):
    real = launch_mod.bwrap_argv

    def leaky(settings, stage, fd, userns=None):
        argv = real(settings, stage, fd, userns)
        i = argv.index("--seccomp")
        del argv[i : i + 2]
        return [a for a in argv if a != "--unshare-net"]

    monkeypatch.setattr(launch_mod, "bwrap_argv", leaky)
    reset_self_check()
    try:
        with pytest.raises(
            PluginError,
            match=r"refusing to run third-party code: the sandbox self-check failed: "
            r"connect 127\.0\.0\.1:\d+: connected",
        ):
            ensure_sandbox("svc")
    finally:
        reset_self_check()


def test_degraded_isolation_needs_an_opt_in(monkeypatch):
    monkeypatch.setattr(selfcheck_mod.shutil, "which", lambda name: None)
    monkeypatch.delenv("PILOT_SANDBOX_ALLOW_DEGRADED", raising=False)
    reset_self_check()
    try:
        with pytest.raises(PluginError, match=r"bubblewrap \(bwrap\) is not installed.*PILOT_SANDBOX_ALLOW_DEGRADED=1"):
            ensure_sandbox("svc")
        monkeypatch.setenv("PILOT_SANDBOX_ALLOW_DEGRADED", "1")
        assert ensure_sandbox("svc") == "degraded"
    finally:
        reset_self_check()


def test_degraded_runs_are_marked(tiny_district, tmp_path, monkeypatch):
    monkeypatch.setattr(selfcheck_mod, "sandbox_problem", lambda settings=None: "bwrap is not installed")
    monkeypatch.setenv("PILOT_SANDBOX_ALLOW_DEGRADED", "1")
    path = write_scenario(
        tmp_path, "degraded", {"district": str(tiny_district), "duration": "30m", "services": [{"use": str(GOOD)}]}
    )
    world = _run(path)
    s = world.host.services[0]
    assert (s.status, s.summary()["isolation"]) == ("ok", "degraded")


def test_cpu_limit_stops_a_busy_service(tiny_district, tmp_path):
    path = write_scenario(
        tmp_path,
        "cpu",
        {"district": str(tiny_district), "duration": "10m", "services": [{"use": str(HOSTILE / "infinite_loop")}]},
    )
    with SETTINGS.override(cpu_s=1, tick_timeout_s=30.0):
        world = _run(path)
    err = world.host.services[0].errors[0]
    assert (err["kind"], world.host.services[0].status) == ("timeout", "failed")
    assert "used up its CPU time (1 s for the run)" in err["message"]


def test_sandbox_sees_only_its_own_files(tmp_path):
    assert os.path.exists("/etc/passwd")  # on the host it is there; in the sandbox it is not (probe above)
    result = probe_sandbox()
    assert result["read /etc/passwd"].startswith("refused")


def _service_processes(made: list) -> list[subprocess.Popen]:
    return [r.inner.proc.proc for r in made if getattr(getattr(r, "inner", None), "proc", None) is not None]


@pytest.mark.parametrize("where", ["world build", "run"])
def test_a_world_that_fails_stops_its_service_processes(tiny_district, tmp_path, monkeypatch, where):
    """Services start first (their imports overlap the world's build): a failure later must stop them."""
    import simulation.plugins.runners as runners_mod
    import simulation.world.engine as engine_mod

    made: list = []
    real = runners_mod.make_runner

    def recording(*args, **kwargs):
        runner, params, info = real(*args, **kwargs)
        made.append(runner)
        return runner, params, info

    monkeypatch.setattr(runners_mod, "make_runner", recording)

    def boom(*_args, **_kwargs):
        raise RuntimeError(f"broke during the {where}")

    if where == "world build":
        monkeypatch.setattr(engine_mod, "Logistics", boom)
    else:
        monkeypatch.setattr(engine_mod.World, "_sampler", boom)
    path = write_scenario(
        tmp_path, "broken", {"district": str(tiny_district), "duration": "30m", "services": [{"use": str(GOOD)}]}
    )
    sc = load_scenario(path)
    with pytest.raises(RuntimeError, match=f"broke during the {where}"):
        build_world(sc).run()
    procs = _service_processes(made)
    assert procs, "the plugin should have been started in a sandbox"
    for p in procs:
        assert p.poll() is not None  # stopped, not left running


def _descendants(pid: int) -> list[int]:
    out = []
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in tasks.read_text().split():
            out += [int(child), *_descendants(int(child))]
    return out


def _cpus(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(line.split(":", 1)[1].strip() for line in status if line.startswith("Cpus_allowed_list"))


@pytest.mark.parametrize("share", [True, False])
def test_a_run_keeps_to_one_cpu_with_its_sandboxed_services(tiny_district, tmp_path, monkeypatch, share):
    """Host and service answer each other in turn: on one CPU no call has to wake the other CPU."""
    import simulation.world.host as host_mod

    before = os.sched_getaffinity(0)
    assert len(before) > 1, "this machine has one CPU: nothing to keep together"
    seen: dict[str, object] = {}
    real = host_mod.ServiceHost.deploy

    def deploy(self):
        real(self)
        seen["host"] = os.sched_getaffinity(0)
        [bwrap] = _service_processes([s.runner for s in self.services])
        procs = [p for p in _descendants(bwrap.pid) if "python" in Path(f"/proc/{p}/comm").read_text()]
        seen["services"] = {_cpus(p) for p in procs}

    monkeypatch.setattr(host_mod.ServiceHost, "deploy", deploy)
    path = write_scenario(
        tmp_path, "pinned", {"district": str(tiny_district), "duration": "30m", "services": [{"use": str(GOOD)}]}
    )
    with SETTINGS.override(share_cpu=share):
        world = _run(path)
    assert world.host.services[0].status == "ok"
    if share:
        [cpu] = seen["host"]
        assert seen["services"] == {str(cpu)}  # the service process keeps to the host's CPU
    else:
        assert seen["host"] == before and seen["services"] == {_cpus(os.getpid())}
    assert os.sched_getaffinity(0) == before  # as before once the run is over
