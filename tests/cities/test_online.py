"""Online download (``twin city fetch``): never a hang, never a half-written file.

No test reaches the internet. Nominatim and Overpass are stood in for by an HTTP server on the
loopback interface (127.0.0.1 only), pointed to with ``TWIN_NOMINATIM_URL`` and
``TWIN_OVERPASS_URL``; the "no network" case points them at a loopback port nobody listens on.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import osmium
import pytest

from cities import resolve
from cities._online import MAX_AREA_DEG2, download_place
from cities.city import load_city
from cities.errors import CityError, CityNotFoundError, NetworkUnavailableError
from tests.conftest import twin_command

LOOPBACK = "127.0.0.1"
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


def run_twin(
    args: list[str], *, services: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run ``twin ARGS`` in ``cwd`` with the service addresses in ``services``, no proxies."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"TWIN_CITIES_PATH", "FORCE_COLOR", *_PROXY_VARIABLES}
    }
    env.update(services, TWIN_CACHE_DIR=f"{cwd}-cache", NO_PROXY=LOOPBACK)
    return subprocess.run(
        [*twin_command(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess) -> str:
    """Exit status 1, exactly one ``error:`` line on stderr, no traceback; returns the line."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output, output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), result.stderr
    return lines[0]


def closed_loopback_port() -> int:
    """A loopback port that was free a moment ago and has no listener."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------- fake services
@dataclass
class Reply:
    """What the fake service answers: status, body, and optionally a body cut short."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    cut_after: int | None = None  # send only this many bytes of a longer announced body
    stall: threading.Event | None = None  # wait for this event (at most 10 s) before answering


@dataclass
class FakeServices:
    """A loopback HTTP server answering the Nominatim GET and the Overpass POST."""

    server: ThreadingHTTPServer
    nominatim: Reply = field(default_factory=Reply)
    overpass: Reply = field(default_factory=Reply)
    requests: list[dict] = field(default_factory=list)

    @property
    def urls(self) -> dict[str, str]:
        base = f"http://{LOOPBACK}:{self.server.server_port}"
        return {
            "TWIN_NOMINATIM_URL": f"{base}/search",
            "TWIN_OVERPASS_URL": f"{base}/api/interpreter",
        }

    def requests_to(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]


def _handler(services: FakeServices) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, reply: Reply) -> None:
            if reply.stall is not None:
                reply.stall.wait(10)
            announced = len(reply.body)
            body = reply.body if reply.cut_after is None else reply.body[: reply.cut_after]
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(announced))
            if reply.cut_after is not None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            try:
                self.wfile.write(body)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up waiting: expected in one test

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            services.requests.append(
                {"method": "GET", "path": url.path, "params": parse_qs(url.query)}
            )
            self._answer(services.nominatim if url.path == "/search" else Reply(404))

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length", 0))
            form = parse_qs(self.rfile.read(length).decode())
            services.requests.append({"method": "POST", "path": url.path, "form": form})
            self._answer(services.overpass if url.path == "/api/interpreter" else Reply(404))

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def server() -> ThreadingHTTPServer:
    http = ThreadingHTTPServer((LOOPBACK, 0), BaseHTTPRequestHandler)
    http.daemon_threads = True
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield http
    http.shutdown()
    http.server_close()


@pytest.fixture
def services(server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch) -> FakeServices:
    """Fresh answers for each test; the service addresses set for in-process calls too."""
    fake = FakeServices(server)
    server.RequestHandlerClass = _handler(fake)
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", LOOPBACK)
    for name, url in fake.urls.items():
        monkeypatch.setenv(name, url)
    return fake


def nominatim_answer(south: float, north: float, west: float, east: float) -> bytes:
    """A Nominatim ``format=json`` search result (bounding box as strings, as Nominatim does)."""
    result = {
        "place_id": 1,
        "display_name": "Test place",
        "boundingbox": [str(south), str(north), str(west), str(east)],
        "lat": str((south + north) / 2),
        "lon": str((west + east) / 2),
    }
    return json.dumps([result]).encode()


@pytest.fixture(scope="module")
def helsinki_xml(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bundled Helsinki extract as OSM XML, what Overpass's ``out:xml`` answers."""
    path = tmp_path_factory.mktemp("overpass") / "helsinki.osm"
    with osmium.SimpleWriter(str(path)) as writer:
        for obj in osmium.FileProcessor(str(resolve("helsinki").path)):
            if obj.is_node():
                writer.add_node(obj)
            elif obj.is_way():
                writer.add_way(obj)
            elif obj.is_relation():
                writer.add_relation(obj)
    return path.read_bytes()


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------------------------- no network
def test_fetch_without_network_fails_at_once(tmp_path: Path) -> None:
    port = closed_loopback_port()
    closed = {
        "TWIN_NOMINATIM_URL": f"http://{LOOPBACK}:{port}/search",
        "TWIN_OVERPASS_URL": f"http://{LOOPBACK}:{port}/api/interpreter",
    }
    started = time.monotonic()
    result = run_twin(
        ["city", "fetch", "Vaduz", "--out", "x.osm"], services=closed, cwd=tmp_path, timeout=15
    )
    assert time.monotonic() - started < 15
    line = assert_one_line_error(result)
    assert "no network" in line.lower(), line
    assert f"{LOOPBACK}:{port}" in line
    assert _files(tmp_path) == []


def test_download_without_network_raises_network_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_loopback_port()
    monkeypatch.setenv("TWIN_NOMINATIM_URL", f"http://{LOOPBACK}:{port}/search")
    started = time.monotonic()
    with pytest.raises(NetworkUnavailableError, match="no network"):
        download_place("Vaduz", tmp_path / "x.osm")
    assert time.monotonic() - started < 5
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("place", "timeout_s", "said"),
    [
        # each once a traceback from requests ("Attempted to set read timeout to 0.0")
        ("Vaduz", 0.0, "--timeout 0: seconds to wait for each service, more than 0"),
        ("Vaduz", -5.0, "--timeout -5: seconds"),
        ("Vaduz", float("nan"), "--timeout nan: seconds"),
        ("  ", 180.0, "no place named"),
    ],
)
def test_an_impossible_request_is_refused_before_any_service_is_asked(
    services: FakeServices, tmp_path: Path, place: str, timeout_s: float, said: str
) -> None:
    with pytest.raises(CityError, match=re.escape(said)):
        download_place(place, tmp_path / "x.osm", timeout_s=timeout_s)
    assert services.requests == [] and _files(tmp_path) == []


def test_a_stalled_service_times_out(services: FakeServices, tmp_path: Path) -> None:
    released = threading.Event()
    services.nominatim = Reply(body=nominatim_answer(60.16, 60.18, 24.93, 24.96), stall=released)
    started = time.monotonic()
    try:
        with pytest.raises(NetworkUnavailableError):
            download_place("Helsinki", tmp_path / "x.osm", timeout_s=1)
    finally:
        released.set()
    assert time.monotonic() - started < 5
    assert _files(tmp_path) == []


# ---------------------------------------------------------------------------------- success
def test_fetch_writes_a_file_that_loads(
    services: FakeServices, helsinki_xml: bytes, helsinki, tmp_path: Path
) -> None:
    west, south, east, north = helsinki.network.bbox_lonlat
    services.nominatim = Reply(body=nominatim_answer(south, north, west, east))
    services.overpass = Reply(body=helsinki_xml, content_type="application/osm3s+xml")

    result = run_twin(
        ["city", "fetch", "Helsinki, Finland", "--out", "fetched/helsinki.osm", "--timeout", "30"],
        services=services.urls,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    out = tmp_path / "fetched" / "helsinki.osm"
    assert "Saved" in result.stderr and "helsinki.osm" in result.stderr
    assert out.read_bytes() == helsinki_xml
    assert _files(out.parent) == ["helsinki.osm"]  # no partial download left behind

    (geocode,) = services.requests_to("/search")
    assert geocode["method"] == "GET"
    assert geocode["params"]["q"] == ["Helsinki, Finland"]
    assert geocode["params"]["format"] == ["json"]
    (export,) = services.requests_to("/api/interpreter")
    assert export["method"] == "POST"
    (query,) = export["form"]["data"]
    assert f"[bbox:{south},{west},{north},{east}]" in query
    assert 'way["highway"]' in query and "[out:xml]" in query

    fetched = load_city(out, cache_dir=tmp_path / "cache")
    assert fetched.name == "helsinki"
    assert fetched.network.n_nodes == helsinki.network.n_nodes
    assert fetched.network.n_edges == helsinki.network.n_edges
    assert fetched.network.total_length_km == pytest.approx(helsinki.network.total_length_km)


def test_what_a_killed_download_left_is_removed_by_the_next(
    services: FakeServices, helsinki_xml: bytes, tmp_path: Path
) -> None:
    import sys

    from cities.cache import owner_tag

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    host = owner_tag().split("@", 1)[1]
    left = tmp_path / f".partial-{int(ended.stdout)}@{host}-k1ll3d.osm"
    left.write_bytes(b"<osm> half")
    running = tmp_path / f".partial-{os.getpid()}@{host}-alive.osm"  # a live download's
    running.write_bytes(b"<osm> writing")
    services.nominatim = Reply(body=nominatim_answer(60.16, 60.18, 24.93, 24.96))
    services.overpass = Reply(body=helsinki_xml, content_type="application/osm3s+xml")
    download_place("Helsinki", tmp_path / "x.osm", timeout_s=5)
    assert _files(tmp_path) == [running.name, "x.osm"]


# ---------------------------------------------------------------------------------- refusals
def test_unknown_place_is_city_not_found(services: FakeServices, tmp_path: Path) -> None:
    services.nominatim = Reply(body=b"[]")
    with pytest.raises(CityNotFoundError, match="no place called 'Atlantis'"):
        download_place("Atlantis", tmp_path / "x.osm", timeout_s=5)
    assert services.requests_to("/api/interpreter") == []
    assert _files(tmp_path) == []


def test_rate_limited_fetch_prints_one_line(services: FakeServices, tmp_path: Path) -> None:
    services.nominatim = Reply(status=429, body=b"Too Many Requests", content_type="text/plain")
    result = run_twin(
        ["city", "fetch", "Vaduz", "--out", "x.osm", "--timeout", "10"],
        services=services.urls,
        cwd=tmp_path,
    )
    line = assert_one_line_error(result)
    assert "429" in line
    assert services.requests_to("/api/interpreter") == []
    assert _files(tmp_path) == []


def test_rate_limited_overpass_leaves_no_file(services: FakeServices, tmp_path: Path) -> None:
    services.nominatim = Reply(body=nominatim_answer(47.13, 47.15, 9.51, 9.53))
    services.overpass = Reply(status=429, body=b"rate_limited", content_type="text/plain")
    with pytest.raises(CityError, match="HTTP 429"):
        download_place("Vaduz", tmp_path / "x.osm", timeout_s=5)
    assert len(services.requests_to("/api/interpreter")) == 1
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("size_deg", "refused"),
    [(0.6, True), (0.45, False)],  # 0.36 and 0.2025 square degrees
)
def test_area_above_the_limit_is_refused(
    services: FakeServices, helsinki_xml: bytes, tmp_path: Path, size_deg: float, refused: bool
) -> None:
    south, west = 47.0, 9.3
    services.nominatim = Reply(
        body=nominatim_answer(south, south + size_deg, west, west + size_deg)
    )
    services.overpass = Reply(body=helsinki_xml)
    out = tmp_path / "region.osm"
    if refused:
        assert size_deg**2 > MAX_AREA_DEG2
        with pytest.raises(CityError, match="square degrees") as caught:
            download_place("Rheintal", out, timeout_s=5)
        assert str(MAX_AREA_DEG2) in str(caught.value)
        assert services.requests_to("/api/interpreter") == []
        assert _files(tmp_path) == []
    else:
        assert size_deg**2 < MAX_AREA_DEG2
        assert download_place("Rheintal", out, timeout_s=5) == out
        assert len(services.requests_to("/api/interpreter")) == 1
        assert out.read_bytes() == helsinki_xml


def test_broken_download_keeps_the_previous_file(
    services: FakeServices, helsinki_xml: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "x.osm"
    out.write_bytes(b"previous download")
    services.nominatim = Reply(body=nominatim_answer(60.16, 60.18, 24.93, 24.96))
    services.overpass = Reply(body=helsinki_xml, cut_after=len(helsinki_xml) // 3)
    with pytest.raises(NetworkUnavailableError, match="broke off"):
        download_place("Helsinki", out, timeout_s=5)
    assert out.read_bytes() == b"previous download"
    assert _files(tmp_path) == ["x.osm"]
