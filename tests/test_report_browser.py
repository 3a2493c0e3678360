"""The report opened in headless Chromium: the page renders (the screenshot is not blank
and shows bars in the result colours) and requests nothing over the network.

Chromium is Debian's `chromium` package, which .ci/run installs; without it these tests
are skipped, except under .ci/run where a missing Chromium fails them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.report import Result, render_html
from runner.report.svg import RESULT_COLOURS
from tests.chromium import chromium_or_skip, page_requests, screenshot
from tests.png import colour_counts, pixels_near, read_png
from tests.report_example import example_run

_SIZE = (1100, 900)


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_or_skip()


def test_the_report_renders_offline_in_chromium(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(example_run()), encoding="utf-8")
    png, log = tmp_path / "report.png", tmp_path / "net-log.json"
    screenshot(chromium, page, png, tmp_path, size=_SIZE, net_log=log)
    assert page_requests(log) == []
    image = read_png(png.read_bytes())
    assert (image.width, image.height) == _SIZE
    counts = colour_counts(image)
    background_share = counts.most_common(1)[0][1] / counts.total()
    assert background_share < 0.8, "the screenshot is (nearly) one colour"
    assert len(counts) > 100
    assert pixels_near(counts, RESULT_COLOURS[Result.SUCCESS]) > 1000  # the bars, drawn
    assert pixels_near(counts, RESULT_COLOURS[Result.FAILURE]) > 50


def test_the_request_check_catches_a_page_that_loads_from_the_network(
    chromium: str, tmp_path: Path
) -> None:
    """The control for the test above: the same check sees external references."""
    page = tmp_path / "leaky.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="stylesheet" href="https://example.invalid/a.css"/>'
        '</head><body><img src="http://example.invalid/b.png"/></body></html>',
        encoding="utf-8",
    )
    png, log = tmp_path / "leaky.png", tmp_path / "net-log.json"
    screenshot(chromium, page, png, tmp_path, size=(400, 300), net_log=log)
    assert sorted(page_requests(log)) == [
        "http://example.invalid/b.png",
        "https://example.invalid/a.css",
    ]
