"""Fuzz targets shared by the fixed-seed tests (tests/test_fuzz.py) and the long run (tests/fuzz.py, `make fuzz`).

Each target takes a valid input of its kind (a scenario, a district's YAML or GeoJSON, a plugin
manifest, a study, an uploaded zip), mutates it — values swapped for hostile ones (huge integers,
NaN, NUL bytes, long strings, dates, wrong types), keys removed or added, YAML tags, aliases and
stray characters inserted into the text, bytes of a zip flipped — and feeds it to the loader the
CLI and the web app use. The only allowed outcomes are "accepted" and the project's error
(:class:`simulation.errors.SandboxError`) with a short message; anything else is a raw exception.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from simulation.errors import SandboxError

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "plugins" / "lumen_adaptive_lighting"
MAX_MESSAGE = 2000  # a project error longer than this counts as a defect (the alias bomb printed 52 MB)

# --------------------------------------------------------------------------- hostile values
HOSTILE_SCALARS = [
    0,
    -1,
    1,
    2**31,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    99999999999999999999,
    1e308,
    -1e308,
    1e-320,
    "",
    "\x00",
    "a\x00b",
    "x" * 5000,
    "24h",
    "100000000h",
    "99999999d",
    "1e400",
    "-1h",
    "+2h",
    "25:99",
    "9999-12-31T23:59",
    "0001-01-01T00:00",
    "2026-05-12T16:00",
    "../../../../etc/passwd",
    "/etc/shadow",
    "builtin:nope",
    "builtin:",
    ":",
    "a" * 300 + ".yaml",
    "é中\u202e",
    True,
    False,
    None,
    [],
    {},
    [None],
    {"": None},
]
VALUES: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(HOSTILE_SCALARS),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.dates(),
    st.datetimes(),
    st.lists(st.one_of(st.integers(), st.text(max_size=4), st.floats()), max_size=3),
    st.dictionaries(st.text(max_size=4), st.one_of(st.integers(), st.text(max_size=4)), max_size=2),
)
TOKENS = [
    "!!int ",
    "!!timestamp ",
    "!!float ",
    "!!binary ",
    "!!str ",
    "!!python/object/apply:os.system ",
    "!x ",
    "&a ",
    "*a",
    "<<: *a\n",
    "\x00",
    "\x07",
    "\t",
    "\ufeff",
    "\ud800",
    "{",
    "[",
    "]",
    "}",
    ": ",
    "- ",
    "'",
    '"',
    "\n",
    "\n  ",
    "#",
    "%YAML 1.1\n",
    "---\n",
    "...\n",
    "? ",
    "|\n",
    ">",
    "9" * 30,
    "9" * 5000,
    "[" * 200,
    "\\u0000",
    "\r",
    ".nan",
    ".inf",
    "-.inf",
    "0x7fffffffffffffffff",
    "0o777",
    "1_000",
    "2026-13-45",
    "2026-05-12 25:00:00",
    "NaN",
    "Infinity",
    "1e999",
    ",",
]


# --------------------------------------------------------------------------- structured mutation
def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


@st.composite
def mutated(draw: st.DrawFn, base: Any, focus: list[tuple] | None = None) -> Any:
    """``base`` with one to three random edits: a value replaced, a key removed or added, an item doubled."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc) if focus is None else [p for p in focus if _has(doc, p)] or [()]
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "double"]))
        if not path:
            if op == "replace" and draw(st.booleans()):
                doc = copy.deepcopy(draw(VALUES))
            continue
        parent, last = _get(doc, path[:-1]), path[-1]
        if not isinstance(parent, dict | list):
            continue
        if op == "replace":
            parent[last] = copy.deepcopy(draw(VALUES))  # sampled lists and dicts are shared objects
        elif op == "delete":
            del parent[last]
        elif op == "add" and isinstance(parent, dict):
            key = draw(st.sampled_from(["extends", "zz_unknown", "seed", "duration", "use", "", "type"]))
            parent[key] = copy.deepcopy(draw(VALUES))
        elif op == "double" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
    return doc


def _has(doc: Any, path: tuple) -> bool:
    for p in path:
        if (isinstance(doc, dict) and p in doc) or (
            isinstance(doc, list) and isinstance(p, int) and -len(doc) <= p < len(doc)
        ):
            doc = doc[p]
        else:
            return False
    return True


@st.composite
def text_edits(draw: st.DrawFn, text: str, tokens: list[str] = TOKENS) -> str:
    """``text`` with zero to two random edits: a hostile token inserted, a slice cut or replaced."""
    for _ in range(draw(st.integers(0, 2))):
        if not text:
            text = draw(st.sampled_from(tokens))
            continue
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "insert", "cut", "replace"]))
        if op == "insert":
            text = text[:i] + draw(st.sampled_from(tokens)) + text[i:]
        elif op == "cut":
            text = text[:i] + text[i + draw(st.integers(1, 40)) :]
        else:
            text = text[:i] + draw(st.text(max_size=8)) + text[i + draw(st.integers(1, 8)) :]
    return text


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


@st.composite
def yaml_inputs(draw: st.DrawFn, base: Any, focus: list[tuple] | None = None) -> str:
    """YAML text: a structured mutation of ``base``, then text edits."""
    doc = draw(mutated(base, focus))
    return draw(text_edits(_dump(doc)))


# --------------------------------------------------------------------------- outcomes
@dataclass
class Tally:
    """What the inputs did."""

    tried: int = 0
    project: int = 0
    accepted: int = 0
    raw: int = 0

    def add(self, outcome: str) -> None:
        """Count one input's outcome."""
        self.tried += 1
        setattr(self, outcome, getattr(self, outcome) + 1)


class RawException(AssertionError):
    """A loader raised something other than the project's error (or an error message far too long)."""


def classify(call: Callable[[], Any]) -> str:
    """``"accepted"`` or ``"project"``; raise :class:`RawException` for anything else."""
    try:
        call()
    except SandboxError as exc:
        if len(str(exc)) > MAX_MESSAGE:
            raise RawException(f"project error of {len(str(exc)):,} characters: {str(exc)[:300]}") from exc
        if "Traceback" in str(exc):
            raise RawException(f"project error with a traceback in it: {str(exc)[:300]}") from exc
        return "project"
    except Exception as exc:
        raise RawException(f"{type(exc).__name__}: {str(exc)[:300]}") from exc
    return "accepted"


# --------------------------------------------------------------------------- targets
class Targets:
    """Valid inputs of every kind, in a scratch folder, and the loaders to feed mutations to."""

    def __init__(self, scratch: Path, district: Path) -> None:
        self.scratch, self.district = scratch, district
        self.n = 0
        self.scenario_base = {
            "district": str(district),
            "start": "2026-05-12T16:00",
            "duration": "6h",
            "seed": 1,
            "replications": 2,
            "population_scale": 1.0,
            "tick": "60s",
            "demand": {"safety": {"incidents_per_day": 36, "mix": {"crime": 0.5, "fall": 0.5}}},
            "faults": [{"kind": "heavy_rain", "at": "18:00", "duration": "2h", "intensity_mm_h": 20}],
            "services": [{"use": "builtin:cctv_monitoring", "params": {"flag_threshold": 0.7}}],
        }
        self.district_yaml = yaml.safe_load((district / "district.yaml").read_text())
        self.geojson = json.loads((district / "layout.geojson").read_text())
        self.manifest_text = (MANIFEST / "plugin.yaml").read_text()
        self.manifest = yaml.safe_load(self.manifest_text)
        self.study_base = {
            "name": "fuzz",
            "base": "base.yaml",
            "factors": {
                "demand.safety.incidents_per_day": {"levels": [10, 40]},
                "services.cctv_monitoring.params.flag_threshold": {"range": [0.5, 0.9]},
            },
            "design": {"kind": "lhs", "samples": 3},
            "replications": 1,
            "budget": 10,
            "kpis": ["safety.detected_pct"],
        }
        study_dir = scratch / "study"
        study_dir.mkdir(parents=True, exist_ok=True)
        (study_dir / "base.yaml").write_text(_dump(self.scenario_base))
        # GeoJSON edits aim at a few features of each kind, not at the thousands of coordinates.
        feats = self.geojson["features"]
        picks: dict[str, int] = {}
        for i, f in enumerate(feats):
            picks.setdefault(f.get("properties", {}).get("kind", "?"), i)
        self.geo_focus: list[tuple] = [(), ("type",), ("features",)]
        for i in picks.values():
            f = feats[i]
            self.geo_focus += [("features", i, *p) for p in _paths(f)[:40]]

    def _folder(self, kind: str) -> Path:
        self.n += 1
        d = self.scratch / kind / str(self.n)
        d.mkdir(parents=True)
        return d

    def _done(self, d: Path) -> None:
        shutil.rmtree(d, ignore_errors=True)

    # ---- scenarios
    def scenario(self, text: str) -> str:
        """Load a scenario file holding ``text``."""
        from simulation.config.scenario import load_scenario

        d = self._folder("scenario")
        try:
            p = d / "s.yaml"
            p.write_text(text, encoding="utf-8", errors="surrogatepass")
            return classify(lambda: load_scenario(p))
        finally:
            self._done(d)

    # ---- districts
    def _district(self, yml: str, geo: str) -> str:
        from simulation.config.district import load_district

        d = self._folder("district")
        try:
            (d / "district.yaml").write_text(yml, encoding="utf-8", errors="surrogatepass")
            (d / "layout.geojson").write_text(geo, encoding="utf-8", errors="surrogatepass")
            return classify(lambda: load_district(d))
        finally:
            self._done(d)

    def district_yaml_text(self, text: str) -> str:
        """Load a district whose district.yaml holds ``text``."""
        return self._district(text, json.dumps(self.geojson))

    def district_geojson(self, text: str) -> str:
        """Load a district whose layout.geojson holds ``text``."""
        return self._district(_dump(self.district_yaml), text)

    # ---- manifests
    def manifest_file(self, text: str) -> str:
        """Load a plugin folder whose plugin.yaml holds ``text``."""
        from simulation.plugins.manifest import load_manifest

        d = self._folder("manifest")
        try:
            shutil.copy(MANIFEST / "service.py", d / "service.py")
            (d / "plugin.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
            return classify(lambda: load_manifest(d))
        finally:
            self._done(d)

    # ---- studies
    def study(self, text: str) -> str:
        """Plan a study file holding ``text`` (base scenario next to it)."""
        from simulation.batch.plan import make_plan

        p = self.scratch / "study" / f"s{self.n}.yaml"
        self.n += 1
        try:
            p.write_text(text, encoding="utf-8", errors="surrogatepass")
            return classify(lambda: make_plan(p))
        finally:
            p.unlink(missing_ok=True)

    # ---- uploads
    def upload(self, members: list[tuple[str, bytes]], flips: list[tuple[int, int]]) -> str:
        """Unpack a zip of ``members``, with bytes at ``flips`` (offset, value) overwritten."""
        from simulation.plugins.upload import safe_unpack

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members:
                zf.writestr(name, data)
        raw = bytearray(buf.getvalue())
        for off, val in flips:
            raw[off % len(raw)] = val
        d = self._folder("upload")
        try:
            return classify(lambda: safe_unpack(bytes(raw), d, "fuzz.zip"))
        finally:
            self._done(d)


def strategies(t: Targets) -> dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], str]]]:
    """Each target's input strategy and the function that feeds one input to its loader."""
    service = (MANIFEST / "service.py").read_bytes()
    names = st.sampled_from(
        ["plugin.yaml", "p/plugin.yaml", "service.py", "p/service.py", "../x.py", "/abs.py", "a/../../b", "p\\..\\x"]
    )
    own_name = {**t.manifest, "name": "fuzz_uploaded_plugin"}  # shipped names are refused before anything else
    upload = st.tuples(
        yaml_inputs(own_name),
        st.lists(st.tuples(names, st.binary(max_size=20)), max_size=2),
        st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3),
    ).map(lambda x: ([("plugin.yaml", x[0].encode("utf-8", "surrogatepass")), ("service.py", service), *x[1]], x[2]))
    geo = st.builds(
        lambda doc, edit: edit,
        st.just(None),
        mutated(t.geojson, t.geo_focus).flatmap(
            lambda doc: text_edits(json.dumps(doc, default=str), [*TOKENS, "NaN", "-Infinity", "1e999", "[" * 5000])
        ),
    )
    return {
        "scenario": (yaml_inputs(t.scenario_base), t.scenario),
        "district.yaml": (yaml_inputs(t.district_yaml), t.district_yaml_text),
        "layout.geojson": (geo, t.district_geojson),
        "plugin.yaml": (st.one_of(yaml_inputs(t.manifest), text_edits(t.manifest_text)), t.manifest_file),
        "study": (yaml_inputs(t.study_base), t.study),
        "upload": (upload, lambda x: t.upload(*x)),
    }
