"""Headless Chromium for the report tests: find it, screenshot a local HTML file, and
list the requests the page itself made (from Chromium's net log)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

# Set by .ci/run: there a missing Chromium is a failure, not a skipped test.
REQUIRE_ENV = "BWF_REQUIRE_CHROMIUM"
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Flags that keep a headless run quiet, deterministic and quick: no sandbox (CI runs as
# root), no GPU, no first-run or background traffic, a throw-away profile.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


def find_chromium() -> str | None:
    """The Chromium binary: `$BWF_CHROMIUM`, else the first known name on PATH."""
    explicit = os.environ.get("BWF_CHROMIUM")
    if explicit:
        return explicit
    return next((found for name in _NAMES if (found := shutil.which(name))), None)


def chromium_or_skip() -> str:
    """The Chromium binary; the calling test is skipped without one, unless
    `REQUIRE_ENV` is set (as .ci/run does), where that is a failure."""
    import pytest

    binary = find_chromium()
    if binary is None:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"Chromium not found and {REQUIRE_ENV} is set")
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium)")
    return binary


def screenshot(
    binary: str,
    page: Path,
    png: Path,
    work: Path,
    size: tuple[int, int] = (1280, 1400),
    net_log: Path | None = None,
    timeout: float = 60.0,
) -> None:
    """Open `page` (a local file) in headless Chromium and save a `size` screenshot to `png`.

    `work` holds the throw-away profile. With `net_log`, Chromium writes its network log
    there (see `page_requests`). Raises when Chromium fails or writes no picture.
    """
    profile = work / "profile"
    profile.mkdir(parents=True, exist_ok=True)
    command = [
        binary,
        *_FLAGS,
        f"--user-data-dir={profile}",
        f"--screenshot={png}",
        f"--window-size={size[0]},{size[1]}",
    ]
    if net_log is not None:
        command.append(f"--log-net-log={net_log}")
    command.append(page.resolve().as_uri())
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or not png.exists():
        raise RuntimeError(
            f"chromium exited {done.returncode} without a screenshot:\n{done.stderr[-2000:]}"
        )


def page_requests(net_log: Path) -> list[str]:
    """URLs of the network requests a page opened from a file made, from a net log.

    Chromium's own traffic (update checks, account lookups) also shows in the log; the
    page's requests are the ones in its network partition, keyed by the file site.
    """
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event.get("type") == start_job and "file://" in str(
            params.get("network_isolation_key", "")
        ):
            urls.append(str(params.get("url")))
    return urls
