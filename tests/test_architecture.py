"""Dependencies flow one way: the import rules of ARCHITECTURE.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("cities", "twin", "agents", "generative", "dashboards")
# twin's composition root (public API and CLI) may import the layers above the core
COMPOSITION_ROOT = {
    "twin/api.py",
    "twin/cli.py",
    "twin/sweep.py",
    "twin/__main__.py",
    "twin/__init__.py",
}
FORBIDDEN = {
    "cities": {"twin", "agents", "generative", "dashboards", "dash"},
    "twin": {"agents", "generative", "dashboards", "dash"},
    "agents": {"generative", "dashboards", "dash"},
    "generative": {"dashboards", "dash"},
    "dashboards": set(),
}
# training runs on HPC nodes without the GIS stack
GIS_STACK = {"geopandas", "osmnx", "osmium", "pyrosm", "shapely", "pyproj", "dash", "mesa"}
TRAINING_MODULES = (
    "generative/train.py",
    "generative/model.py",
    "generative/data.py",
    "generative/env.py",
    "generative/checkpoint.py",
    "generative/coverage.py",
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_layers_import_downwards_only(package):
    violations = []
    for path in _modules(package):
        relative = path.relative_to(REPO).as_posix()
        if relative in COMPOSITION_ROOT:
            continue
        bad = _imports(path) & FORBIDDEN[package]
        if bad:
            violations.append(f"{relative} imports {sorted(bad)}")
    assert not violations, violations


def _module_imports(path: Path) -> set[str]:
    """Full dotted names of the modules a file imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_core_does_not_reach_up_through_the_composition_root():
    """twin's core must not import twin.api / cli / sweep, which import the twins."""
    root = {p.removesuffix(".py").replace("/", ".") for p in COMPOSITION_ROOT}
    violations = [
        f"{path.relative_to(REPO).as_posix()} imports {sorted(bad)}"
        for path in _modules("twin")
        if path.relative_to(REPO).as_posix() not in COMPOSITION_ROOT
        and (bad := _module_imports(path) & root)
    ]
    assert not violations, violations


def test_dash_only_in_dashboards():
    users = [
        p.relative_to(REPO).as_posix()
        for package in PACKAGES
        if package != "dashboards"
        for p in _modules(package)
        if "dash" in _imports(p)
    ]
    assert users == []


def test_training_needs_only_torch_and_numpy():
    # nor the twin's own packages, which would bring the GIS stack along
    for relative in TRAINING_MODULES:
        path = REPO / relative
        assert path.exists(), relative
        assert not (_imports(path) & (GIS_STACK | {"twin", "agents", "cities"})), relative


def test_the_rules_catch_a_violation(tmp_path):
    """The checker itself sees a forbidden import (so the tests above can fail)."""
    module = tmp_path / "bad.py"
    module.write_text("from agents.traffic import model\nimport dash\n")
    assert _imports(module) & FORBIDDEN["twin"] == {"agents", "dash"}
