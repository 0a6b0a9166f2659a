"""Where runs execute: local worker processes, a Dask cluster, or (for debugging) this process.

Each pool exposes the same four calls — ``submit``, ``wait``, ``outcome``, ``close`` — and a number
of ``slots``: how many runs the batch keeps in flight (a bounded window, so the driver's memory does
not grow with the number of runs). An outcome is ``("ok", result)``, ``("error", reason)`` for an
exception in the run, or ``("died", reason)`` when the worker process itself was lost.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import traceback
from collections import deque
from collections.abc import Callable, Collection
from typing import Any

from simulation.batch.study import BatchError
from simulation.batch.worker import RunTask

__all__ = ["DaskPool", "InlinePool", "LocalPool", "default_workers", "open_pool"]

Outcome = tuple[str, Any]


def default_workers() -> int:
    """CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    remote = getattr(exc, "__cause__", None)
    tb = str(remote) if remote is not None and type(remote).__name__ == "_RemoteTraceback" else ""
    if not tb and exc.__traceback__ is not None:
        tb = "".join(traceback.format_tb(exc.__traceback__, limit=-3))
    return f"{text}\n{tb.strip()}" if tb else text


class InlinePool:
    """Runs each task in this process when it is submitted (``--workers 0``: debugging, profiling)."""

    name = "inline"
    isolates = False

    def __init__(self, fn: Callable[[RunTask], Any]) -> None:
        self.fn, self.slots, self.workers = fn, 1, 0

    def submit(self, task: RunTask, isolated: bool = False) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(self.fn(task))
        except Exception as exc:
            fut.set_exception(exc)
        return fut

    def wait(self, futures: Collection[Any], timeout: float) -> set[Any]:
        return set(futures)

    def outcome(self, fut: Any) -> Outcome:
        exc = fut.exception()
        return ("ok", fut.result()) if exc is None else ("error", _reason(exc))

    def close(self) -> None:
        """Nothing to release."""


class LocalPool:
    """Worker processes on this machine (forkserver where available, else spawn).

    A worker that dies breaks a ``ProcessPoolExecutor`` and every run in flight with it; those runs
    are retried one at a time in a one-worker pool, so only the run that kills its worker fails.
    """

    name = "local"
    isolates = True

    def __init__(self, fn: Callable[[RunTask], Any], workers: int) -> None:
        import multiprocessing as mp

        methods = mp.get_all_start_methods()
        self.ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
        if self.ctx.get_start_method() == "forkserver":
            self.ctx.set_forkserver_preload(["simulation.batch.worker"])
        self.fn, self.workers, self.slots = fn, workers, 2 * workers
        self.main = self._pool(workers)
        # Start every worker now (not at the first runs), so start-up is measured and paid once.
        cf.wait([self.main.submit(os.getpid) for _ in range(workers)])
        self.iso: cf.ProcessPoolExecutor | None = None
        self.iso_queue: deque[tuple[RunTask, cf.Future]] = deque()
        self.iso_running: tuple[cf.Future, cf.Future] | None = None  # (real future, the caller's future)
        self.owner: dict[cf.Future, cf.ProcessPoolExecutor] = {}  # runs in the shared pool -> that pool

    def _pool(self, n: int) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=n, mp_context=self.ctx)

    def submit(self, task: RunTask, isolated: bool = False) -> cf.Future:
        if isolated:
            proxy: cf.Future = cf.Future()
            self.iso_queue.append((task, proxy))
            self._pump()
            return proxy
        try:
            fut = self.main.submit(self.fn, task)
        except cf.process.BrokenProcessPool:  # it broke before we saw the outcome that says so
            self._replace_main()
            fut = self.main.submit(self.fn, task)
        self.owner[fut] = self.main
        return fut

    def _replace_main(self) -> None:
        self.main.shutdown(wait=False, cancel_futures=True)
        self.main = self._pool(self.workers)

    def _pump(self) -> None:
        """Move a finished isolated run's outcome to the caller's future; start the next one."""
        if self.iso_running is not None and self.iso_running[0].done():
            real, proxy = self.iso_running
            self.iso_running = None
            exc = real.exception()
            if exc is None:
                proxy.set_result(real.result())
            else:
                proxy.set_exception(exc)
                if isinstance(exc, cf.process.BrokenProcessPool) and self.iso is not None:
                    self.iso.shutdown(wait=False, cancel_futures=True)
                    self.iso = None
        if self.iso_running is None and self.iso_queue:
            task, proxy = self.iso_queue.popleft()
            self.iso = self.iso or self._pool(1)
            self.iso_running = (self.iso.submit(self.fn, task), proxy)

    def wait(self, futures: Collection[Any], timeout: float) -> set[Any]:
        self._pump()
        watch = set(futures) | ({self.iso_running[0]} if self.iso_running else set())
        cf.wait(watch, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        self._pump()
        return {f for f in futures if f.done()}

    def outcome(self, fut: Any) -> Outcome:
        pool = self.owner.pop(fut, None)
        exc = fut.exception()
        if exc is None:
            return "ok", fut.result()
        if isinstance(exc, cf.process.BrokenProcessPool):
            if pool is self.main:  # replace it once; the other runs it held come back here as "died" too
                self._replace_main()
            return "died", "the worker process died during the run (killed, out of memory, or crashed)"
        return "error", _reason(exc)

    def close(self) -> None:
        for pool in (self.main, self.iso):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)


class DaskPool:
    """A Dask cluster: an existing scheduler at ``address``, or a LocalCluster of worker processes."""

    name = "dask"
    isolates = False

    def __init__(self, fn: Callable[[RunTask], Any], workers: int, address: str | None, timeout_s: float) -> None:
        import dask
        from distributed import Client, LocalCluster

        self.fn, self.cluster = fn, None
        if address:
            try:
                self.client = Client(address, timeout=timeout_s, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise BatchError(
                    f"cannot reach the Dask scheduler at {address} within {timeout_s:g} s ({exc}); start "
                    "it with `dask scheduler`, check the address, or leave out --scheduler to use a "
                    "local cluster"
                ) from None
            try:
                self.client.wait_for_workers(1, timeout=timeout_s)
            except (OSError, TimeoutError):
                self.client.close()
                raise BatchError(
                    f"the Dask scheduler at {address} has no workers after {timeout_s:g} s; start some "
                    f"with `dask worker {address}`"
                ) from None
        else:
            # A run that kills its worker is failed at once by the scheduler; the batch retries it once.
            # Dask's statistical profiler samples the running task's stack every 10 ms: over a deep
            # simulation stack that made each run ~20 % slower than in a plain worker process.
            settings = {"distributed.scheduler.allowed-failures": 0, "distributed.worker.profile.enabled": False}
            with dask.config.set(settings):
                self.cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    host="127.0.0.1",
                    silence_logs=logging.CRITICAL,
                )
            self.client = Client(self.cluster, set_as_default=False)
        self.workers = sum(self.client.nthreads().values())
        self.slots = 2 * max(1, self.workers)

    def submit(self, task: RunTask, isolated: bool = False) -> Any:
        return self.client.submit(self.fn, task, pure=False)

    def wait(self, futures: Collection[Any], timeout: float) -> set[Any]:
        from distributed import wait

        try:
            with self.client.as_current():
                wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass
        return {f for f in futures if f.done()}

    def outcome(self, fut: Any) -> Outcome:
        from distributed import KilledWorker

        try:
            if fut.status == "finished":
                return "ok", fut.result()
            if fut.status == "cancelled":
                return "died", "the run was cancelled by the Dask scheduler (its worker was lost)"
            exc = fut.exception()
            if isinstance(exc, KilledWorker):
                return "died", f"the Dask worker died during the run ({exc})"
            return "error", _reason(exc)
        finally:
            fut.release()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def open_pool(
    executor: str,
    fn: Callable[[RunTask], Any],
    workers: int | None = None,
    scheduler: str | None = None,
    timeout_s: float = 5.0,
) -> InlinePool | LocalPool | DaskPool:
    """Start the executor the batch asked for (raises :class:`BatchError` if it cannot)."""
    n = default_workers() if workers is None else workers
    if n < 0:
        raise BatchError(f"--workers must be 0 (in this process) or more; got {n}")
    if executor == "dask":
        return DaskPool(fn, max(1, n), scheduler, timeout_s)
    if scheduler:
        raise BatchError("--scheduler goes with --executor dask")
    if executor != "local":
        raise BatchError(f"unknown executor {executor!r}; executors: local, dask")
    return InlinePool(fn) if n == 0 else LocalPool(fn, n)
