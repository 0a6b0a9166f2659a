"""First paint of the District and Compare maps in a real browser, and the bytes sent to draw them.

    .venv/bin/python benchmarks/map_paint.py [--store DIR] [--districts sangam_dmc seongsu] [--repeat 3]

For each shipped district: a store with a baseline and a candidate (2 seeds of a 1 h evening, built
once into ``--store``, default a temporary folder), a fresh server started as ``make run`` starts it
(``python -m webapp``), and Debian's Chromium through Playwright with the flags of
``tests/chromium_flags.py`` (software WebGL, no GPU). It opens the District page, then the Compare
page, each in a new tab, three ways:

- **cold server**: the server's first view (of the first page measured): its caches are empty, and
  its pages' modules as far as the server loaded them while it started;
- **first visit**: a browser profile that has never seen the app (Streamlit's 10 MB of JavaScript
  are fetched and compiled on this visit);
- **returning**: a browser profile that opened the app before, as an evaluator's browser has:
  Streamlit's scripts are immutable, cached files, so they come from the browser's cache.

and prints, best of ``--repeat`` visits:

- first paint: seconds from the navigation until every map canvas on the page has drawn (deck.gl's
  first WebGL draw call on that canvas, recorded by a hook installed before the page loads);
- websocket bytes: what the server sent over Streamlit's websocket until then, counted on the wire
  (a counting proxy between browser and server: with the app's websocket compression, these are the
  compressed bytes), and the same frames after decompression ("payload");
- the time the page's title appeared (the app's shell: Streamlit's own scripts, before any map).

Reference: a one-point deck on an otherwise empty Streamlit page, measured the same ways in the same
browser first (what Streamlit and deck.gl cost before any of our data); each page's first paint is
also printed as a ratio to it, which moves less with the machine's load than seconds do.

Target: first paint ≤ 2 s for both pages on the shipped districts. Figures, no asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright  # noqa: E402

from simulation.config.scenario import load_scenario  # noqa: E402
from simulation.results.reuse import run_or_reuse  # noqa: E402
from simulation.results.store import Store  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from chromium_flags import CHROMIUM_ARGS  # noqa: E402

#: District -> (baseline, candidate) shipped scenarios, run for 1 h from 18:00 with 2 seeds.
PAIRS = {
    "sangam_dmc": ("sangam_baseline", "sangam_fibre_cut"),
    "seongsu": ("seongsu_baseline", "seongsu_power_outage"),
}
#: Marks each WebGL canvas with the time of its first draw call (ms since navigation start).
HOOK = """
(() => {
  new MutationObserver((_, obs) => {
    if (document.querySelector('h1')) { window.__shell = performance.now(); obs.disconnect(); }
  }).observe(document, {childList: true, subtree: true});
  for (const C of [window.WebGLRenderingContext, window.WebGL2RenderingContext]) {
    if (!C) continue;
    for (const fn of ['drawArrays', 'drawElements', 'drawArraysInstanced', 'drawElementsInstanced']) {
      const orig = C.prototype[fn];
      if (!orig) continue;
      C.prototype[fn] = function (...a) {
        if (this.canvas && this.canvas.__firstDraw === undefined) this.canvas.__firstDraw = performance.now();
        return orig.apply(this, a);
      };
    }
  }
})();
"""
PAINTED = """(n) => {
  const c = [...document.querySelectorAll('[data-testid="stDeckGlJsonChart"] canvas')];
  return c.length >= n && c.every(x => x.__firstDraw !== undefined) ? Math.max(...c.map(x => x.__firstDraw)) : null;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CountingProxy:
    """A TCP proxy on a free port that counts bytes from the server on websocket connections."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.ws_bytes = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:  # the server has stopped (the browser reconnects after a page is measured)
                client.close()
                continue
            is_ws = [False]
            threading.Thread(target=self._pipe, args=(client, server, is_ws, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, is_ws, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, is_ws: list[bool], upstream: bool) -> None:
        try:
            while data := src.recv(65536):
                if upstream and b"/_stcore/stream" in data[:200]:
                    is_ws[0] = True
                elif not upstream and is_ws[0]:
                    with self.lock:
                        self.ws_bytes += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def take(self) -> int:
        """Bytes counted since the last call."""
        with self.lock:
            n, self.ws_bytes = self.ws_bytes, 0
        return n

    def close(self) -> None:
        """Stop accepting connections."""
        self.sock.close()


def build_store(store: Path, district: str) -> None:
    """Baseline and candidate of ``district``, 2 seeds of 1 h, into ``store`` (reused when there)."""
    for name in PAIRS[district]:
        sc = load_scenario(ROOT / "scenarios" / f"{name}.yaml").with_(
            duration="1h", start="2026-05-12T18:00", replications=2
        )
        for seed in (1, 2):
            run_or_reuse(sc, seed, Store(store))


REFERENCE_APP = """
import pydeck as pdk
import streamlit as st

st.title("Reference")
layer = pdk.Layer("ScatterplotLayer", data=[{"p": [127.0, 37.5]}], get_position="p", get_radius=50)
view = pdk.ViewState(latitude=37.5, longitude=127.0, zoom=14)
st.pydeck_chart(pdk.Deck(layers=[layer], initial_view_state=view, map_provider=None), height=600)
"""


def serve(store: Path, district_dir: Path, log: Path, script: Path | None = None) -> tuple[subprocess.Popen, str]:
    """The app as ``make run`` serves it (``python -m webapp``), or ``streamlit run script``, on a free port,
    showing only this district and this store."""
    port = _free_port()
    env = os.environ | {"PILOT_STORE": str(store), "PILOT_DISTRICTS": str(district_dir)}
    start = ("-m", "webapp") if script is None else ("-m", "streamlit", "run", str(script))
    proc = subprocess.Popen(
        [
            *(sys.executable, *start, "--server.port", str(port)),
            *("--server.address", "127.0.0.1", "--server.headless", "true"),
            *("--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 60
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(log.read_text()[-2000:]) from None
            time.sleep(0.2)


def measure(pg: Page, url: str, n_maps: int) -> tuple[float, float, int]:
    """Open ``url``; return (seconds to the page's title, to the last map's first draw, websocket payload bytes)."""
    got = [0]

    def on_ws(ws: object) -> None:
        ws.on("framereceived", lambda payload: got.__setitem__(0, got[0] + len(payload)))  # type: ignore[attr-defined]

    pg.on("websocket", on_ws)
    pg.goto(url)
    handle = pg.wait_for_function(PAINTED, arg=n_maps, timeout=180_000, polling=50)
    shell = pg.evaluate("window.__shell || 0")
    return float(shell) / 1000, float(handle.json_value()) / 1000, got[0]


#: Page -> (its address under the app, how many maps it draws when it opens). District is the app's
#: default page, at the root: ``/district`` would open a "Page not found" dialog first.
MAPS = {"district": ("", 1), "compare": ("compare", 1)}


def _visit(browser: Browser | BrowserContext, url: str, n_maps: int, proxy: CountingProxy | None) -> tuple:
    """One visit in a new tab: (title s, first paint s, wire bytes, payload bytes)."""
    fresh = isinstance(browser, Browser)  # a new profile per visit; else the returning browser's own
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}) if isinstance(browser, Browser) else browser
    pg = ctx.new_page()
    pg.add_init_script(HOOK)
    if proxy:
        proxy.take()
    try:
        shell, secs, payload = measure(pg, url, n_maps)
    finally:
        pg.close()
        if fresh:
            ctx.close()
    return shell, secs, proxy.take() if proxy else 0, payload


def main() -> None:
    """Print first paint and websocket bytes of the District and Compare maps per shipped district."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, default=None, help="store folder to build into and reuse")
    ap.add_argument("--districts", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    ap.add_argument(
        "--pages", nargs="+", default=list(MAPS), choices=list(MAPS), help="pages to measure (default both)"
    )
    ap.add_argument("--repeat", type=int, default=3, help="visits per page and kind; the best counts (default 3)")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1, not {args.repeat}")
    tmp = Path(tempfile.mkdtemp(prefix="map-paint-"))
    rows = []
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; best of {args.repeat} visits")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            returning = p.chromium.launch_persistent_context(
                str(tmp / "profile"),
                executable_path=shutil.which("chromium"),
                args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000},
            )
            ref_app = tmp / "reference_app.py"
            ref_app.write_text(REFERENCE_APP)
            proc, url = serve(tmp / "empty", tmp, tmp / "reference.log", script=ref_app)
            try:
                _visit(returning, url, 1, None)  # the profile now holds Streamlit's scripts
                ref = {
                    "first visit": min(_visit(browser, url, 1, None)[1] for _ in range(args.repeat)),
                    "returning": min(_visit(returning, url, 1, None)[1] for _ in range(args.repeat)),
                }
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(10)
            print(
                f"reference   one-point deck   first visit {ref['first visit']:5.2f} s, "
                f"returning {ref['returning']:5.2f} s"
            )
            for name in args.districts:
                store = (args.store or tmp / "stores") / name
                t0 = time.perf_counter()
                build_store(store, name)
                print(f"{name}: store ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
                proc, url = serve(store, ROOT / "districts" / name, tmp / f"{name}.log")
                proxy = CountingProxy(int(url.rsplit(":", 1)[1]))
                base = f"http://127.0.0.1:{proxy.port}"
                try:
                    for page in args.pages:
                        path, n_maps = MAPS[page]
                        runs: dict[str, list[tuple]] = {}
                        if page == args.pages[0]:  # the server's first view: imports and caches empty
                            runs["cold server"] = [_visit(browser, f"{base}/{path}", n_maps, proxy)]
                        runs["first visit"] = [
                            _visit(browser, f"{base}/{path}", n_maps, proxy) for _ in range(args.repeat)
                        ]
                        runs["returning"] = [
                            _visit(returning, f"{base}/{path}", n_maps, proxy) for _ in range(args.repeat)
                        ]
                        for kind, got in runs.items():
                            shell, secs, wire, payload = min(got, key=lambda r: r[1])
                            ratio = secs / ref["returning" if kind == "returning" else "first visit"]
                            rows.append((name, page, kind, secs))
                            print(
                                f"{name:11s} {page:8s} {kind:11s} title {shell:5.2f} s, first paint {secs:5.2f} s "
                                f"({ratio:3.1f}× reference)  websocket {wire:>8,} B on the wire "
                                f"({payload:>8,} B payload)",
                                flush=True,
                            )
                finally:
                    proxy.close()
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(10)
            returning.close()
            browser.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for kind in ("cold server", "first visit", "returning"):
        got = [r[3] for r in rows if r[2] == kind]
        if got:
            print(f"worst first paint, {kind:11s}: {max(got):5.2f} s (target ≤ 2 s)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
