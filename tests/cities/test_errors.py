"""What a path that is not a file is called: missing, a folder, or a device or a pipe, through
every reader that takes a file from the user (a folder is not "no such file")."""

from __future__ import annotations

import os

import pytest

from agents.traffic.demand import read_od_table
from cities import load_city
from cities.errors import file_problem
from generative.checkpoint import CheckpointError, read_checkpoint_file
from twin.errors import TwinError
from twin.signal_files import read_plan_file


@pytest.fixture
def paths(tmp_path):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)  # opened for reading, it would wait for a writer: the test would hang
    return {"missing": tmp_path / "gone.csv", "folder": tmp_path, "pipe": pipe}


def test_file_problem_names_what_the_path_is(paths, tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("x\n")
    assert file_problem(plain, "OD table") is None
    assert file_problem(paths["missing"], "OD table") == f"No such OD table: {paths['missing']}"
    assert file_problem(paths["folder"], "OD table") == f"{tmp_path} is a folder, not an OD table"
    assert (
        file_problem(paths["pipe"], "checkpoint")
        == f"{paths['pipe']} is a device or a pipe, not a checkpoint"
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["missing", "folder", "pipe"])
def test_every_reader_says_what_the_path_is(helsinki, paths, kind):
    path = paths[kind]
    words = {"missing": "No such", "folder": "is a folder", "pipe": "is a device or a pipe"}[kind]
    with pytest.raises(TwinError, match=f"{words}.*OD table"):
        read_od_table(path, helsinki.network)
    with pytest.raises(TwinError, match=f"{words}.*signal plan file"):
        read_plan_file(path, helsinki.network, {})
    with pytest.raises(TwinError, match=words):  # "No such file" names no kind of file
        load_city(path)
    checkpoint_words = {"missing": "no such checkpoint", "folder": "is a folder"}.get(kind, words)
    with pytest.raises(CheckpointError, match=checkpoint_words):
        read_checkpoint_file(path)
