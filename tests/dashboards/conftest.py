"""Browser tests of the dashboard: Debian's headless Chromium through dash[testing]."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
CHROMIUM = os.environ.get("DASH_TEST_CHROMEPATH", "/usr/bin/chromium")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
)
"""Headless Chromium as Debian ships it, in a container: no sandbox, no GPU, no background
traffic to Google's services (refused on a closed network). The benchmark uses them too."""

# Runs short enough for a 2-core CI machine: a few hundred trips over a quarter of an hour, a
# few days of waste collection.
SMALL_DRAFT = {
    "traffic": {"trips": 300, "duration": "16min", "window": "8min", "dt_s": 5.0},
    "waste": {"days": 3, "trucks": 2, "solver_iterations": 50, "solver_time_s": 5.0},
}


@pytest.hookimpl(optionalhook=True)
def pytest_setup_options():
    """Chrome options for dash_duo: headless Chromium as Debian ships it (no sandbox in a
    container, no GPU, no background traffic to Google's services)."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    return options


def _browser_available() -> str | None:
    try:
        import dash.testing.browser  # noqa: F401
        import selenium  # noqa: F401
    except ImportError:
        return "dash[testing] (selenium) is not installed: pip install -e '.[dev]'"
    if not Path(CHROMIUM).is_file() or CHROMEDRIVER is None:
        return (
            "Chromium and chromedriver are not installed: apt-get install chromium chromium-driver"
        )
    return None


@pytest.fixture
def browser_ready():
    """Skips a browser test where no browser is installed; in CI, where .ci/run installs one,
    its absence is an error."""
    missing = _browser_available()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def screenshot():
    """Save a screenshot of the browser's page as a test artifact."""

    def save(duo, name: str, *, scroll_to: str | None = None) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if scroll_to:
            duo.driver.execute_script(
                "document.querySelector(arguments[0]).scrollIntoView()", scroll_to
            )
        path = ARTIFACTS / f"{name}.png"
        duo.driver.save_screenshot(str(path))
        return path

    return save
