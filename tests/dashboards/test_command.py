"""`twin dashboard`, the README's main command: it serves the app on 127.0.0.1 by default, with
debug off, and refuses an impossible port."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import run_twin, twin_command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_dashboard_command_serves_the_bundled_city_on_localhost(helsinki, tmp_path):
    port = _free_port()
    server = subprocess.Popen(
        [*twin_command(), "dashboard", "--port", str(port), "--store", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    try:
        deadline, page = time.monotonic() + 120, None
        while time.monotonic() < deadline and page is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    page = response.read().decode()
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.5)
        assert page is not None and "CitiVerse Twin" in page
        # bound to the loopback interface only: the port is closed on every other address
        outward = socket.gethostbyname(socket.gethostname())
        if not outward.startswith("127."):
            with socket.socket() as probe:
                probe.settimeout(2)
                assert probe.connect_ex((outward, port)) != 0
        # debug off: no dev-tools UI in the page (and Flask's debugger off, below)
        assert '"ui":false' in page.replace(" ", "")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "Debug mode: off" in server.stdout.read()


def test_an_impossible_port_is_refused():
    result = run_twin("dashboard", "--port", "70000")
    assert result.returncode == 2 and "1–65535" in result.stderr


def test_a_host_that_is_not_here_or_a_port_in_use_is_said_before_the_city_loads():
    result = run_twin("dashboard", "--host", "999.1.1.1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: --host '999.1.1.1': not an address or host name")
    assert "http://" not in result.stdout + result.stderr  # no address said that never served
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_twin("dashboard", "--port", str(port))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"error: --port {port}: in use on 127.0.0.1 (another dashboard?): choose another port"
    )


def test_debug_mode_serves_this_machine_only():
    """Dash's debugger runs code a request sends: --debug on every interface is refused before
    the city loads; on 127.0.0.1 it is the developer's choice."""
    from dashboards.__main__ import debug_problem
    from dashboards.app import serve
    from twin.errors import TwinError

    result = run_twin("dashboard", "--host", "0.0.0.0", "--debug")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: --debug runs code that a request sends")
    assert "http://" not in result.stdout + result.stderr
    for host in ("127.0.0.1", "localhost", "::1"):
        assert debug_problem(host, True) is None, host
    assert debug_problem("0.0.0.0", False) is None
    with pytest.raises(TwinError, match="this machine only"):
        serve("helsinki", host="0.0.0.0", debug=True)


def test_a_store_that_cannot_be_a_folder_is_said_before_the_city_loads(tmp_path):
    """Once a traceback from deep in the store's set-up (``NotADirectoryError``)."""
    from dashboards.store import RunStore, StoreError

    a_file = tmp_path / "runs.txt"
    a_file.write_text("not a folder")
    result = run_twin("dashboard", "--store", str(a_file))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"error: store {a_file}: a file, not a folder: name a folder you can write (--store)"
    )
    assert "http://" not in result.stdout + result.stderr
    with pytest.raises(StoreError, match=r"cannot make the folder \(Not a directory\)"):
        RunStore(a_file / "inside")
    assert a_file.read_text() == "not a folder"
