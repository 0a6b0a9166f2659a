"""``new-plugin``: write a small, working service a company can grow from."""

from __future__ import annotations

import re
from pathlib import Path

from simulation.errors import PluginError
from simulation.sdk import SDK_VERSION

__all__ = ["new_package", "new_plugin"]

_MANIFEST = """\
# The manifest of your service: validated strictly when it loads (unknown keys are errors).
# See docs/sdk.md for every key. Keep hardware, fleet and pricing honest: the city's economics
# (capex, opex, NPV, scale-up) are computed from them.
name: {name}
vendor: {vendor}
version: 0.1.0
sdk_version: "{sdk}"
entry: service:{cls}
category: {category}
description: >-
  Outage notices: when a pole loses power or backhaul, tell the people near it.
  (Replace with one paragraph an evaluator understands.)
trl: 4
feeds: [infra.status, lights.presence]
serves: [{category}.notifications]
hardware: []
pricing:
  opex_krw_per_month: 500000
  revenue_krw_per_request: 0
  subscription_krw_per_month: 0
params:
  radius_m:
    type: float
    default: 150
    min: 10
    max: 2000
    description: people within this distance of a failed pole are notified
isolation: sandbox
"""

_SERVICE = '''\
"""{title}: a service for the Pilot District Sandbox.

Import nothing from ``simulation`` except ``simulation.sdk``. The service runs in a sandbox: no
network, no files outside this folder, a deadline per call. See docs/sdk.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from simulation.sdk import Action, Deployment, Notify, Observation, Service, SiteView


class {cls}(Service):
    """Tell people near a pole that lost power or backhaul that the services there are down."""

    def deploy(self, site: SiteView, params: Mapping[str, Any]) -> Deployment:
        self.radius = float(params["radius_m"])
        self.where = {{p.id: (p.x, p.y) for p in site.poles}}
        self.notified: set[str] = set()
        return Deployment(feeds=("infra.status", "lights.presence"))

    def on_tick(self, obs: Observation) -> Sequence[Action]:
        people = {{item["pole"]: item["people"] for item in obs.feed("lights.presence")}}
        out: list[Action] = []
        for change in obs.feed("infra.status"):
            pole = change["id"]
            if change["kind"] != "pole" or pole not in self.where:
                continue
            if change["up"]:
                self.notified.discard(pole)
            elif pole not in self.notified and people.get(pole, 0) > 0:
                self.notified.add(pole)
                x, y = self.where[pole]
                out.append(Notify("outage", f"Public WiFi and CCTV near {{pole}} are down", x, y, self.radius))
        return out
'''

_README = """\
# {title}

*{vendor}* · category **{category}** · TRL 4 · SDK {sdk}

## What it does (for evaluators)

Replace this with two or three sentences: the problem in the district, what the service does about
it, and which KPIs should move (see `python -m simulation kpis`).

## What it needs

- **Feeds:** `infra.status`, `lights.presence`
- **Hardware:** none
- **Params:** `radius_m` (10–2000 m, default 150)

## Check it

    python -m simulation check-plugin {folder}

runs the service in the sandbox on a short standard scenario in every shipped district and prints
a conformance report. `{test_cmd}` runs its unit test.
"""

_TEST = '''\
"""Unit test of the service's policy, without the simulator: plain SDK messages in, actions out."""

from simulation.sdk import Notify, Observation, PoleInfo, SiteView

from {name}.service import {cls}


def site() -> SiteView:
    pole = PoleInfo("pole-1", 0.0, 0.0, "SP-L", "local", ("light",), 3, 500.0, "link-1")
    return SiteView("test", (pole,), (), (), (), (), {{}}, {{}}, 60.0, 3600.0)


def test_notifies_people_near_a_failed_pole():
    svc = {cls}()
    dep = svc.deploy(site(), {{"radius_m": 150.0}})
    assert "infra.status" in dep.feeds
    obs = Observation(60.0, "2026-05-12T18:01:00", 1, False, {{}},
                      {{"infra.status": ({{"id": "pole-1", "kind": "pole", "up": False, "time_s": 55.0}},),
                       "lights.presence": ({{"pole": "pole-1", "people": 4}},)}})
    actions = svc.on_tick(obs)
    assert len(actions) == 1 and isinstance(actions[0], Notify) and actions[0].radius_m == 150.0
    assert svc.on_tick(obs) == []  # once per outage
'''


def _check_name(name: str, category: str) -> None:
    if not re.match(r"^[a-z][a-z0-9_]{1,63}$", name):
        raise PluginError(
            name, "a plugin name is lower-case letters, digits and '_' (2-64 characters, starting with a letter)"
        )
    from simulation.plugins.manifest import CATEGORIES

    if category not in CATEGORIES:
        raise PluginError(name, f"unknown category {category!r}; categories: {', '.join(CATEGORIES)}")


def _fill(name: str, vendor: str, category: str, folder: Path, test_cmd: str) -> dict[str, object]:
    return {
        "name": name,
        "vendor": vendor,
        "sdk": SDK_VERSION,
        "cls": "".join(part.capitalize() for part in name.split("_")) + "Service",
        "category": category,
        "title": name.replace("_", " ").capitalize(),
        "folder": folder,
        "test_cmd": test_cmd,
    }


def new_plugin(
    name: str, folder: str | Path = "plugins", vendor: str = "Your Company", category: str = "safety"
) -> Path:
    """Create ``folder/name`` with plugin.yaml, service.py, README.md, test_service.py; return it."""
    _check_name(name, category)
    dest = Path(folder) / name
    if dest.exists():
        raise PluginError(name, f"{dest} already exists; choose another name or --dir")
    fill = _fill(name, vendor, category, dest, f"pytest {dest}/test_service.py")
    dest.mkdir(parents=True)
    (dest / "plugin.yaml").write_text(_MANIFEST.format(**fill))
    (dest / "service.py").write_text(_SERVICE.format(**fill))
    (dest / "README.md").write_text(_README.format(**fill))
    (dest / "test_service.py").write_text(_TEST.format(**fill))
    (dest / "__init__.py").write_text("")
    return dest


_PYPROJECT = """\
# An installable company service: `pip install .` (offline: `pip install --no-build-isolation .`,
# using the setuptools the city's environment already has). The sandbox finds it through the entry
# point below without importing it, and runs the package folder (holding plugin.yaml) sandboxed.
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "{title}: a service for the Pilot District Sandbox"
readme = "README.md"
requires-python = ">=3.12"
# No dependency on the sandbox itself: simulation.sdk is provided where the service runs.
dependencies = []

[project.entry-points."pilot_sandbox.services"]
{name} = "{name}"

[tool.setuptools]
packages = ["{name}"]

[tool.setuptools.package-data]
# plugin.yaml and README.md must travel with the code: the sandbox reads them from the package folder.
{name} = ["plugin.yaml", "README.md", "*.json", "*.npz", "*.csv"]
"""


def new_package(name: str, folder: str | Path = ".", vendor: str = "Your Company", category: str = "safety") -> Path:
    """Create an installable project ``folder/name``: pyproject.toml, the package ``name/`` and a test."""
    _check_name(name, category)
    root = Path(folder) / name
    if root.exists():
        raise PluginError(name, f"{root} already exists; choose another name or --dir")
    pkg = root / name
    fill = _fill(name, vendor, category, pkg, f"pytest {root}/tests")
    pkg.mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(_PYPROJECT.format(dist=name.replace("_", "-"), **fill))
    (root / "README.md").write_text(_README.format(**fill))
    (pkg / "__init__.py").write_text(
        f'"""{fill["title"]}: the package folder is the plugin (plugin.yaml next to it)."""\n'
    )
    (pkg / "plugin.yaml").write_text(_MANIFEST.format(**fill))
    (pkg / "service.py").write_text(_SERVICE.format(**fill))
    (pkg / "README.md").write_text(_README.format(**fill))
    (root / "tests" / "test_service.py").write_text(_TEST.format(**fill))
    return root
