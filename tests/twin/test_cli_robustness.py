"""CLI and loader edge cases: markup-like text, unwritable caches, upper-case file endings,
output folders a run cannot replace, a terminate while a folder is written."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from cities import resolve
from cities.city import load_city
from tests.conftest import REPO, flat, twin_command
from twin.errors import TwinError
from twin.results_io import _write_kpis, check_output_folder


def _run(*args, env=None):
    return subprocess.run(
        [*twin_command(), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_error_text_is_not_read_as_markup():
    result = _run("city", "info", "[/red]")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "[/red]" in lines[0]
    assert "Traceback" not in result.stderr


def test_unwritable_cache_gives_one_clear_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {**os.environ, "TWIN_CACHE_DIR": str(blocker / "cache")}
    result = _run("city", "info", "helsinki", "--json", env=env)
    assert result.returncode == 1 and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "TWIN_CACHE_DIR" in result.stderr and "--no-cache" in result.stderr
    with pytest.raises(TwinError, match="Cannot write the city cache"):
        load_city("helsinki", cache_dir=blocker / "cache")


def test_upper_case_ending_reads(tmp_path):
    upper = tmp_path / "HELSINKI.OSM.PBF"
    shutil.copy(resolve("helsinki").path, upper)
    reference = load_city("helsinki", use_cache=False).network
    assert load_city(upper, use_cache=False).network.n_edges == reference.n_edges


def test_the_working_folder_is_refused_as_output_before_the_run(tmp_path, monkeypatch):
    """A run's folder is renamed into place whole, which the working folder cannot be: refused
    before the run (it ran in full, then failed and wrote nothing)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for out in (".", "..", str(work)):
        with pytest.raises(
            TwinError, match=r"(the|above the) current folder, which a run cannot replace"
        ):
            check_output_folder(out)
    check_output_folder("results")
    result = subprocess.run(
        [*twin_command(), "traffic", "helsinki", "--trips", "10", "--out", "."],
        capture_output=True, text=True, timeout=120, cwd=work,
    )  # fmt: skip
    # a usage error, as every --out the command cannot take (exit status 2)
    assert result.returncode == 2 and "is the current folder" in flat(result.stderr)
    assert "Traceback" not in result.stderr and os.listdir(work) == []


def test_an_undefined_kpi_is_a_float_column_that_concatenates(tmp_path):
    import pandas as pd
    import pyarrow.parquet as pq

    for name, value in (("a", None), ("b", 2.5)):
        (tmp_path / name).mkdir()
        _write_kpis(tmp_path / name, {"cost_per_tonne_eur": value, "trips": 3})
    assert (
        str(pq.read_schema(tmp_path / "a" / "kpis.parquet").field("cost_per_tonne_eur").type)
        == "double"
    )
    both = pd.concat([pd.read_parquet(tmp_path / n / "kpis.parquet") for n in "ab"])
    assert (
        both["cost_per_tonne_eur"].dtype == float and both["cost_per_tonne_eur"].isna().sum() == 1
    )


def test_a_terminate_while_a_folder_is_written_leaves_nothing_behind(tmp_path):
    """SIGTERM in the middle of writing: exit 143, no output folder, no staging folder (it was
    left hidden beside the output; Ctrl-C already cleaned up)."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys, time
        sys.argv = ["twin", "traffic", "helsinki", "--trips", "20", "--duration", "5min",
                    "--out", {str(tmp_path / "out")!r}]
        from twin import results_io, cli

        def kpis_then_terminated(folder, kpis):
            (folder / "kpis.json").write_text("{{}}")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)

        results_io._write_kpis = kpis_then_terminated
        cli.main()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    assert "Stopped (terminated)" in result.stderr and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


def test_overwrite_replaces_output_of_the_same_kind_only(tmp_path):
    """A run's results, a proposal, field documents: each kind replaces only its own."""
    folder = tmp_path / "proposal"
    folder.mkdir()
    (folder / "proposal.json").write_text("{}")
    (folder / "plans.csv").write_text("")
    check_output_folder(folder, overwrite=True, manifest="proposal.json")
    others = {"run.json": "a run's results", "field-documents.json": "field documents"}
    for manifest, kind in others.items():
        with pytest.raises(TwinError, match=rf"holds a proposal \(proposal.json\), which "
                           rf"--overwrite does not replace with {kind}"):  # fmt: skip
            check_output_folder(folder, overwrite=True, manifest=manifest)


@pytest.mark.skipif(not os.path.ismount("/proc"), reason="needs Linux's /proc, a mount point")
def test_a_mount_point_is_refused_as_output_before_the_run():
    """Once it ran whole, then failed at the rename with "Device or resource busy"."""
    with pytest.raises(TwinError, match=r"Output folder /proc is a mount point, which a run "):
        check_output_folder("/proc", overwrite=True)
