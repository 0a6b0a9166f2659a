"""The design's rules hold in code: contracts (import-linter), no cycles, a small top level, plugins on the SDK only."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_every_contract_is_kept():
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(r"Contracts: \d+ kept, 0 broken", res.stdout)


@pytest.fixture(scope="module")
def copy_of_the_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packages and pyproject in a scratch folder, to break a rule without touching the project."""
    dst = tmp_path_factory.mktemp("arch")
    for pkg in ("simulation", "webapp"):
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dst / "pyproject.toml")
    return dst


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("simulation/world/engine.py", "import simulation.plugins.runners", "The world knows no plugins"),
        ("simulation/sdk.py", "import simulation.errors", "simulation.sdk imports nothing else"),
        ("webapp/district.py", "import simulation.plugins.loader", "The web app never imports"),
        ("simulation/config/scenario.py", "import simulation.results.store", "Layers run one way"),
    ],
)
def test_a_broken_rule_is_caught(copy_of_the_project: Path, module: str, line: str, contract: str):
    target = copy_of_the_project / module
    original = target.read_text()
    target.write_text(original + f"\n{line}  # a rule broken on purpose\n")
    try:
        res = _lint(copy_of_the_project)
    finally:
        target.write_text(original)
    assert res.returncode == 1
    broken = res.stdout.split("Broken contracts")[-1]
    assert contract in " ".join(broken.split())


def test_no_import_cycle_inside_the_package():
    graph = grimp.build_graph("simulation", exclude_type_checking_imports=True)
    g = nx.DiGraph()
    for m in graph.modules:
        g.add_edges_from((m, d) for d in graph.find_modules_directly_imported_by(m))
    assert list(nx.simple_cycles(g)) == []


def test_the_top_level_is_small():
    modules = sorted(p.name for p in (ROOT / "simulation").glob("*.py"))
    assert len(modules) <= 10, modules


def test_long_modules_are_explained_in_the_architecture_page():
    doc = (ROOT / "docs" / "architecture.md").read_text().split("## Modules over 500 lines")[1].split("\n## ")[0]
    long = [p for p in (ROOT / "simulation").rglob("*.py") if len(p.read_text().splitlines()) > 500]
    missing = [str(p.relative_to(ROOT)) for p in long if str(p.relative_to(ROOT)) not in doc]
    assert missing == [], f"modules over 500 lines not named in docs/architecture.md: {missing}"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_example_plugins_import_only_the_sdk():
    files = sorted((ROOT / "plugins").glob("*/**/*.py"))
    assert files, "the example plugins should be found"
    bad = {
        f"{p.relative_to(ROOT)}: {m}"
        for p in files
        for m in _imports(p)
        if (m == "simulation" or m.startswith("simulation.")) and m != "simulation.sdk"
    }
    assert bad == set()
