"""Browser tests drive Debian's chromium through Playwright (never `playwright install`)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def chromium_args() -> list[str]:
    return list(CHROMIUM_ARGS)


@pytest.fixture
def chromium_path() -> str:
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's chromium is not installed (/usr/bin/chromium): apt-get install chromium"
        )
    # playwright is a dev dependency: its absence is a broken install, not a reason to skip.
    assert importlib.util.find_spec("playwright"), "playwright missing: pip install -e '.[dev]'"
    return str(CHROMIUM)


@pytest.fixture
def signal_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A real `vid2vid-signal` process on a free loopback port; extra CLI flags via indirect."""
    extra = list(getattr(request, "param", []))
    process = subprocess.Popen(
        [sys.executable, "-m", "vid2vid.signaling.cli", "--host", "127.0.0.1", "--port", "0"]
        + ["--log-level", "warning", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, f"vid2vid-signal did not start: {line!r}"
        yield match[1]
    finally:
        process.terminate()
        process.wait(timeout=10)
