"""Dependencies flow one way: the import rules of ARCHITECTURE.md, checked on the source.

Layers, bottom to top: ``cities`` (the city model) → ``agents`` (the simulations) →
``generative`` (the learned planner) → ``twin`` (API, CLI, scenarios, sweeps, exports) →
``dashboards`` (the Dash app, through ``twin``'s public names only).
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("cities", "agents", "generative", "twin", "dashboards")
OWN = set(PACKAGES)
# what each package may import of the project's own packages (itself included)
ALLOWED = {
    "cities": {"cities"},
    "agents": {"cities", "agents"},
    "generative": {"cities", "agents", "generative"},
    "twin": {"cities", "agents", "generative", "twin"},
    "dashboards": {"twin", "dashboards"},
}
# Dash only in the dashboards; the dashboards reach the twin only through its public names
DASH = {"dash", "dash_bootstrap_components"}
DASHBOARD_MAY_IMPORT_FROM_TWIN = {"twin"}
# training runs on HPC nodes without the GIS stack
GIS_STACK = {"geopandas", "osmnx", "osmium", "pyrosm", "shapely", "pyproj", "dash", "mesa"}
TRAINING_MODULES = (
    "generative/train.py",
    "generative/model.py",
    "generative/data.py",
    "generative/env.py",
    "generative/checkpoint.py",
    "generative/coverage.py",
    "generative/signal_data.py",
    "generative/signal_model.py",
    "generative/signal_train.py",
    "generative/atomic.py",
    "generative/model_card.py",
)


def _imported_modules(path: Path) -> set[str]:
    """Full dotted names of the modules a file imports (``from a import b``: ``a``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _tops(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imported_modules(path)}


def violations(root: Path) -> list[str]:
    """Every import in the tree at ``root`` that breaks a layer rule, as readable lines."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            modules = _imported_modules(path)
            upward = {m.split(".")[0] for m in modules} & OWN - ALLOWED[package]
            if upward:
                found.append(f"{relative} imports {sorted(upward)} (a layer above {package})")
            if package != "dashboards" and (bad := {m.split(".")[0] for m in modules} & DASH):
                found.append(f"{relative} imports {sorted(bad)} (Dash only in dashboards)")
            if package == "dashboards":
                inner = {m for m in modules if m.startswith("twin.")}
                if inner:
                    found.append(
                        f"{relative} imports {sorted(inner)} (the dashboard uses `from twin "
                        "import …`, the public API, only)"
                    )
    return found


def test_every_layer_imports_downwards_only():
    assert violations(REPO) == []


def _not_python(folder: str, names: list[str]) -> list[str]:
    return [
        n
        for n in names
        if n == "__pycache__" or not (n.endswith(".py") or Path(folder, n).is_dir())
    ]


@pytest.mark.parametrize(
    ("package", "line"),
    [
        ("cities", "from agents.traffic import model"),
        ("cities", "import twin.api"),
        ("agents", "from generative.propose import LearnedPlanner"),
        ("agents", "from twin.scenario import Scenario"),
        ("generative", "from twin.api import run_waste"),
        ("generative", "import dashboards.app"),
        ("twin", "from dashboards.app import serve"),
        ("twin", "import dash"),
        ("dashboards", "from cities.city import City"),
        ("dashboards", "from agents.waste.model import WasteModel"),
        ("dashboards", "from twin.api import run_waste"),
    ],
)
def test_a_planted_upward_import_is_caught(tmp_path, package, line):
    """The checker fails on one forbidden import planted in each package (so the test above can
    fail); the rest of the tree is the real one."""
    for name in PACKAGES:
        shutil.copytree(REPO / name, tmp_path / name, ignore=_not_python)
    planted = tmp_path / package / "planted.py"
    planted.write_text(f"{line}\n")
    found = violations(tmp_path)
    assert len(found) == 1 and found[0].startswith(f"{package}/planted.py imports"), found


def test_training_needs_only_torch_and_numpy():
    # nor the twin's own packages, which would bring the GIS stack along
    for relative in TRAINING_MODULES:
        path = REPO / relative
        assert path.exists(), relative
        assert not (_tops(path) & (GIS_STACK | OWN - {"generative"})), relative
