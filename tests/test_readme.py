"""The README's Python snippets run as written, in order, in one session (what a newcomer
pasting them does), in a fresh folder with a copy of the repository's examples."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
# the Slurm snippet starts a cluster's jobs: it is compiled here, not run
NEEDS_A_CLUSTER = "SLURMCluster("


def _snippets() -> list[str]:
    return FENCE.findall((REPO / "README.md").read_text(encoding="utf-8"))


def test_the_readme_has_its_snippets():
    snippets = _snippets()
    assert len(snippets) >= 5
    assert sum(NEEDS_A_CLUSTER in s for s in snippets) == 1


def test_every_python_snippet_runs_as_written(tmp_path, helsinki):
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    namespace: dict[str, object] = {"__name__": "__readme__"}
    here = Path.cwd()
    os.chdir(tmp_path)
    try:
        for number, snippet in enumerate(_snippets(), 1):
            code = compile(snippet, f"README.md python snippet {number}", "exec")
            if NEEDS_A_CLUSTER in snippet:
                continue
            try:
                exec(code, namespace)  # the README's own code, as a reader runs it
            except Exception as err:  # pragma: no cover - the message is the test's output
                pytest.fail(f"README python snippet {number} fails: {type(err).__name__}: {err}")
    finally:
        os.chdir(here)
    # what the snippets say they write is there, each in its own folder
    for written in ("edges.parquet", "results/traffic/kpis.json", "results/waste/waste.gpkg"):
        assert (tmp_path / written).exists(), written
