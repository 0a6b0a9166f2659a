"""Background jobs of the web app: worker processes, progress files, cancel, and no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BASE_SERVICES, ROOT, write_scenario

from simulation.config.scenario import load_scenario
from simulation.jobs.runs import cancel_job, heartbeat, job_status, list_jobs, running_jobs, same_job, start_job
from simulation.results.store import Store


@pytest.fixture(scope="module")
def scenarios(tiny_district: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("jobs")
    common = {"district": str(tiny_district), "start": "2026-05-12T17:00", "seed": 1, "services": BASE_SERVICES}
    return {
        "short": write_scenario(d, "short", common | {"duration": "1h", "replications": 2}),
        # Long enough to be caught running: 3 days of 10x the tiny district's people, 3 times.
        "long": write_scenario(d, "long", common | {"duration": "72h", "replications": 3, "population_scale": 10}),
    }


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except OSError:
        return False
    return state != "Z"


def worker_pid(store: Path, job: str) -> int:
    return int((store / "jobs" / job / "pid").read_text())


def wait(pred, timeout: float = 60.0, step: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out")


def test_a_job_reports_progress_and_lands_its_runs_in_the_store(scenarios, tmp_path):
    store = tmp_path / "store"
    job = start_job(load_scenario(scenarios["short"]), store)
    seen = set()

    def finished():
        s = job_status(store, job)
        seen.add(s.state)
        return s if s.finished else None

    s = wait(finished)
    assert s.state == "done" and s.done == s.total == 2 and s.fraction == 1.0
    assert seen >= {"running", "done"}
    assert sorted(Store(store).runs()["run_id"]) == sorted(s.run_ids)
    assert s.message == "2 runs in the store (2 new, 0 reused)"
    pid = worker_pid(store, job)
    wait(lambda: not alive(pid), timeout=10)  # it exits right after its last word


def test_cancel_kills_the_worker_group_and_leaves_no_half_written_run(scenarios, tmp_path):
    store = tmp_path / "store"
    job = start_job(load_scenario(scenarios["long"]), store)
    wait(lambda: job_status(store, job).sim_s > 0)  # well inside the first replication
    pid = worker_pid(store, job)
    s = cancel_job(store, job)
    assert s.state == "cancelled" and s.message == "cancelled in the app"
    assert not alive(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # nobody is left in the worker's process group
    assert Store(store).runs().empty  # the replication it was running was not written
    assert not list((store / "runs").glob(".tmp-*"))


def test_a_worker_does_not_outlive_the_app_that_started_it(scenarios, tmp_path):
    store = tmp_path / "store"
    app = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom simulation.jobs.runs import start_job\nfrom simulation.config.scenario import "
            f"load_scenario\nprint(start_job(load_scenario({str(scenarios['long'])!r}), {str(store)!r}), flush=True)\n"
            "time.sleep(120)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    job = app.stdout.readline().strip()
    wait(lambda: job_status(store, job).state == "running")
    pid = worker_pid(store, job)
    app.send_signal(signal.SIGKILL)  # the app dies without a chance to clean up
    app.wait()
    wait(lambda: not alive(pid), timeout=10)
    s = job_status(store, job)
    assert s.state == "cancelled" and "the app that started this job has exited" in s.message


def test_a_job_nobody_watches_stops_itself(scenarios, tmp_path):
    store = tmp_path / "store"
    job = start_job(load_scenario(scenarios["long"]), store, abandon_after_s=1.5)
    s = wait(lambda: (st := job_status(store, job)).finished and st, timeout=30)
    assert s.state == "cancelled" and "no page has shown this job" in s.message


def test_a_job_runs_on_without_any_page_watching_it(scenarios, tmp_path, monkeypatch):
    monkeypatch.delenv("PILOT_JOB_ABANDON_S", raising=False)
    store = tmp_path / "store"
    job = start_job(load_scenario(scenarios["long"]), store, started_by="alice")
    spec = json.loads((store / "jobs" / job / "spec.json").read_text())
    assert spec["abandon_after_s"] is None
    wait(lambda: job_status(store, job).state == "running")
    time.sleep(2.0)  # no heartbeat at all: it keeps running (only a cancel stops it)
    s = job_status(store, job)
    assert s.state == "running" and s.started_by == "alice"
    assert [j.job_id for j in running_jobs(store)] == [job]
    cancel_job(store, job)
    assert running_jobs(store) == []


def test_starting_the_same_runs_again_returns_the_running_job(scenarios, tmp_path):
    store = tmp_path / "store"
    sc = load_scenario(scenarios["long"])
    job = start_job(sc, store, started_by="alice")
    assert same_job(store, sc, [1, 2, 3]) == job == same_job(store, sc, [2])
    assert same_job(store, sc, [3, 4]) is None  # seed 4: work nobody does yet
    again = start_job(sc.with_(name="renamed"), store, started_by="bob")  # a name changes no run
    assert again == job and len(list((store / "jobs").iterdir())) == 1
    other = start_job(sc, store, seeds=[2, 3, 4, 5])  # 2 and 3 are under way: only 4 and 5 start
    spec = json.loads((store / "jobs" / other / "spec.json").read_text())
    assert other != job and spec["seeds"] == [4, 5] and spec["elsewhere"] == {"2": job, "3": job}
    for j in (job, other):
        cancel_job(store, j)


def test_heartbeats_keep_a_watched_job_alive(scenarios, tmp_path):
    store = tmp_path / "store"
    job = start_job(load_scenario(scenarios["long"]), store, abandon_after_s=1.5)
    end = time.monotonic() + 3.5
    while time.monotonic() < end:
        heartbeat(store, job)
        time.sleep(0.2)
    assert not job_status(store, job).finished  # 1.5 s without a heartbeat would have stopped it
    cancel_job(store, job)


def test_two_sessions_jobs_do_not_interfere(scenarios, tmp_path):
    store = tmp_path / "store"
    long_job = start_job(load_scenario(scenarios["long"]), store)
    short_job = start_job(load_scenario(scenarios["short"]), store)
    assert long_job != short_job
    wait(lambda: job_status(store, long_job).state == "running")
    assert cancel_job(store, long_job).state == "cancelled"
    s = wait(lambda: (st := job_status(store, short_job)).finished and st)
    assert s.state == "done" and len(s.run_ids) == 2
    assert {j.job_id for j in list_jobs(store)} == {long_job, short_job}
    assert set(Store(store).runs()["scenario"]) == {"short"}


def test_a_failing_worker_reports_the_cli_message(tiny_district, tmp_path):
    path = write_scenario(
        tmp_path,
        "bad",
        {
            "district": str(tiny_district),
            "duration": "1h",
            "replications": 1,
            "services": [{"use": "plugins/does_not_exist"}],
        },
    )
    store = tmp_path / "store"
    job = start_job(load_scenario(path), store)
    s = wait(lambda: (st := job_status(store, job)).finished and st)
    assert s.state == "failed"
    assert s.message.startswith(f"{path.resolve()}, at services.use: no plugin folder")


def test_old_finished_job_folders_are_swept_when_a_job_starts(scenarios, tmp_path):
    store = tmp_path / "store"
    old = start_job(load_scenario(scenarios["short"]), store)
    wait(lambda: job_status(store, old).finished)
    week_ago = time.time() - 8 * 86400
    os.utime(store / "jobs" / old / "progress.json", (week_ago, week_ago))
    new = start_job(load_scenario(scenarios["short"]), store)
    assert not (store / "jobs" / old).exists() and (store / "jobs" / new).is_dir()
    assert len(Store(store).runs()) == 2  # the old job's runs stay
    wait(lambda: job_status(store, new).finished)


def test_cancel_also_stops_plugin_sandboxes(tiny_district, tmp_path):
    plugin = ROOT / "plugins" / "clearsight_ai_cctv"
    path = write_scenario(
        tmp_path,
        "sandboxed",
        {
            "district": str(tiny_district),
            "start": "2026-05-12T17:00",
            "duration": "72h",
            "population_scale": 10,
            "replications": 2,
            "services": [*BASE_SERVICES, {"use": str(plugin)}],
        },
    )
    store = tmp_path / "store"
    job = start_job(load_scenario(path), store)
    wait(lambda: job_status(store, job).sim_s > 0)
    from simulation.jobs.runs import _descendants

    tree = _descendants(worker_pid(store, job))
    assert tree, "the plugin runs in a sandbox process below the worker"
    assert cancel_job(store, job).state == "cancelled"
    wait(lambda: not any(alive(p) for p in tree), timeout=5)  # zombies awaiting their reaper do not count
