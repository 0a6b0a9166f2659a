"""Running a service object inside this process (built-ins; plugins only with ``--allow-inline``)."""

from __future__ import annotations

import contextlib
import io
import random
from collections.abc import Iterator

from simulation import sdk
from simulation.world.host import ServiceFailure

LOG_CAP_BYTES = 1 << 20  # as the sandbox's default: what an inline service prints is kept up to this


class _CappedLog(io.TextIOBase):
    """A text stream keeping the first ``cap`` bytes written to it and counting the rest."""

    def __init__(self, cap: int = LOG_CAP_BYTES) -> None:
        self.cap, self.kept, self.total = cap, io.StringIO(), 0

    def write(self, text: str) -> int:
        n = len(text.encode("utf-8", "replace"))
        room = self.cap - self.total
        if room > 0:
            self.kept.write(text if n <= room else text.encode("utf-8", "replace")[:room].decode("utf-8", "ignore"))
        self.total += n
        return len(text)

    def text(self) -> str:
        out = self.kept.getvalue()
        if self.total > self.cap:
            out += f"\n[... {self.total - self.cap:,} more bytes dropped: the log keeps {self.cap:,}]"
        return out


class InlineRunner:
    """Runs a service object in this process, still passing plain data both ways; keeps what it prints."""

    isolation = "inline"

    def __init__(self, service: sdk.Service, capture: bool = True) -> None:
        self.service = service
        self._log = _CappedLog()
        self.capture = capture  # built-ins print nothing: they skip the ~15 µs a call of redirecting output

    @contextlib.contextmanager
    def _captured(self) -> Iterator[None]:
        if not self.capture:
            yield
            return
        with contextlib.redirect_stdout(self._log), contextlib.redirect_stderr(self._log):  # type: ignore[type-var]
            yield

    def log_text(self) -> str:
        """What the service printed (and its ``Service.log`` entries), capped."""
        return self._log.text()

    def deploy(self, site: dict, params: dict, seed: int) -> dict:
        self.service.random = random.Random(seed)
        sdk._LOG_CLOCK[0] = None  # Service.log stamps no time during deploy (as in a fresh sandbox process)
        try:
            with self._captured():
                dep = self.service.deploy(sdk.from_data(site), params)
        except Exception as exc:
            raise ServiceFailure("deploy_error", f"{type(exc).__name__}: {exc}") from None
        if not isinstance(dep, sdk.Deployment):
            raise ServiceFailure("garbage", f"deploy returned {type(dep).__name__}, not a Deployment")
        return sdk.to_data(dep)

    def tick(self, obs: sdk.Observation) -> list:
        try:
            obs_copy = sdk.from_data(sdk.to_data(obs))  # a copy: the world's dicts stay its own
            if self.capture:
                with self._captured():
                    actions = self.service.on_tick(obs_copy)
            else:  # (a tick a minute: the context manager's own cost is worth skipping)
                actions = self.service.on_tick(obs_copy)
        except Exception as exc:
            raise ServiceFailure("exception", f"{type(exc).__name__}: {exc}") from None
        if not isinstance(actions, list | tuple):
            raise ServiceFailure("garbage", f"on_tick returned {type(actions).__name__}, not a list of actions")
        return [sdk.to_data(a) if isinstance(a, sdk.Action) else a for a in actions]

    def end(self, summary: dict) -> None:
        try:
            with self._captured():
                self.service.on_end(sdk.from_data(summary))
        except Exception as exc:
            raise ServiceFailure("exception", f"on_end: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        """Nothing to release inline."""
