"""The README's shell snippets run as written.

Every command of every ``bash`` block is run, in a fresh folder with a copy of the repository's
examples, exactly as a reader pastes it, except where running it is not a test's job; each such
command is still checked by the real program that would run it:

- ``make`` targets: ``make -n`` (the recipe exists and expands) in the repository;
- ``pip`` installs: the extras they name are declared in ``pyproject.toml``;
- commands reading what an earlier one wrote (``decide``, ``audit``, ``field-docs``) run after
  the others, in the README's order;
- hours of training (``corpus``, ``train``, ``finetune``, ``propose``, ``signal-corpus``,
  ``train-signals`` and ``torchrun``), a
  run that reads the checkpoint such training writes, and a sweep on a cluster's scheduler: the
  real command-line parser takes the options (a renamed or mistyped option fails), and every
  input file they name exists.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pytest
from typer.main import get_command

from tests.conftest import REPO, twin_command

BASH = re.compile(r"^```bash\n(.*?)^```", re.DOTALL | re.MULTILINE)
TRAINING = {"corpus", "train", "finetune", "propose", "signal-corpus", "train-signals"}
# commands that read what an earlier command wrote: run in the README's order, after the rest
FOLLOW_UP = {"decide", "audit", "field-docs"}
INPUT_FILE = re.compile(r"\.(osm\.pbf|yaml|csv)$")


def _commands() -> list[list[str]]:
    commands = []
    for block in BASH.findall((REPO / "README.md").read_text(encoding="utf-8")):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                commands.append(argv)
    return commands


def _is_twin(argv: list[str]) -> bool:
    return Path(argv[0]).name == "twin"


def _is_run(argv: list[str]) -> bool:
    """Whether the test runs the command as written (see the module's docstring)."""
    if not _is_twin(argv) or argv[1] in TRAINING or "--scheduler" in argv:
        return False
    # a checkpoint that only the training above writes
    return not any(arg.startswith("runs/") and arg.endswith(".pt") for arg in argv)


def _parse_twin(argv: list[str]) -> None:
    """Parse a ``twin`` command with the CLI's own parser, down to its sub-command."""
    if argv[1] in ("train", "train-signals"):
        from generative import signal_train, train

        (train if argv[1] == "train" else signal_train)._parser().parse_args(argv[2:])
        return
    command: click.Command = get_command(__import__("twin.cli").cli.app)
    args = argv[1:]
    ctx = command.make_context("twin", list(args), resilient_parsing=False)
    while isinstance(command, click.Group):
        name, command, args = command.resolve_command(ctx, ctx.protected_args + ctx.args)
        ctx = command.make_context(name, list(args), parent=ctx)


def test_every_shell_command_is_run_or_checked():
    commands = _commands()
    assert len(commands) >= 20
    ran = [c for c in commands if _is_run(c)]
    assert len(ran) >= 12  # most of them run as written


def test_every_long_command_parses_and_names_existing_files():
    for argv in _commands():
        if _is_run(argv):
            continue
        if argv[0] == "make":
            done = subprocess.run(["make", "-n", *argv[1:]], cwd=REPO, capture_output=True)
            assert done.returncode == 0, f"make -n {argv[1:]}: {done.stderr.decode()}"
        elif "pip" in Path(argv[0]).name:
            _check_extras(argv)
        elif argv[0] == "python":
            assert argv[1:3] == ["-m", "venv"], argv
        elif argv[0] == "torchrun":
            from generative.train import _parser

            _parser().parse_args(argv[argv.index("generative.train") + 1 :])
        else:
            assert _is_twin(argv), f"README runs an unknown program: {shlex.join(argv)}"
            try:
                _parse_twin(argv)
            except (click.ClickException, SystemExit) as err:
                pytest.fail(f"{shlex.join(argv)}: the CLI refuses its options ({err})")
        for arg in argv:
            if INPUT_FILE.search(arg):
                assert (REPO / arg).is_file(), f"{shlex.join(argv)}: no file {arg}"


def _check_extras(argv: list[str]) -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = declared["optional-dependencies"]
    for arg in argv:
        if match := re.fullmatch(r"-e|\.\[(.*)\]", arg):
            for extra in filter(None, (match.group(1) or "").split(",")):
                assert extra in extras, f"{shlex.join(argv)}: no extra {extra!r}"


def test_every_short_command_runs_as_written(tmp_path):
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    env = {**os.environ, "COLUMNS": "200"}

    def run(argv: list[str]) -> tuple[list[str], subprocess.CompletedProcess]:
        redirect = argv.index(">") if ">" in argv else len(argv)
        command, target = argv[:redirect], argv[redirect + 1 :]
        done = subprocess.run(
            [*twin_command(), *command[1:]], cwd=tmp_path, env=env, capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip
        if target:  # the shell's redirection of standard output
            (tmp_path / target[0]).write_text(done.stdout)
        return command, done

    commands = [c for c in _commands() if _is_run(c)]
    first = [c for c in commands if c[1] not in FOLLOW_UP]
    # the longest first (waste runs coupled to a traffic simulation), so that the two workers
    # end together rather than one running the longest alone at the end; the results are
    # checked in the README's order
    order = sorted(range(len(first)), key=lambda i: "--traffic-trips" not in first[i])
    # two at a time: the commands write to distinct folders
    with ThreadPoolExecutor(max_workers=2) as pool:
        ran = dict(zip(order, pool.map(run, [first[i] for i in order]), strict=True))
    results = [ran[i] for i in range(len(first))]
    results += [run(c) for c in commands if c[1] in FOLLOW_UP]
    for argv, done in results:
        written = shlex.join(argv)
        assert done.returncode == 0, f"{written}: exit {done.returncode}\n{done.stderr}"
        assert "Traceback" not in done.stderr, written
        if "--json" in argv:
            assert isinstance(json.loads(done.stdout), dict), written
        if "--out" in argv:
            assert any((tmp_path / argv[argv.index("--out") + 1]).iterdir()), written
