"""The run report's HTML, parsed strictly: one bar per task execution on its node's row,
bars placed by time, hover texts, escaping of hostile text, no external resource, step
rows, and an empty run."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser

import pytest

from runner.report import Result, RunData, compute_figures, render_html
from tests.report_example import example_run
from tests.report_runs import HOSTILE_SHOWN, ran, small_run


def _document(run: RunData) -> ET.Element:
    """The report parsed as XML: fails on any markup a hostile string could break."""
    return ET.fromstring(render_html(run))


def _bars(root: ET.Element) -> dict[str | None, list[ET.Element]]:
    """Bars by the row they sit in: a node id, or None for the row of never-run executions."""
    rows: dict[str | None, list[ET.Element]] = {}
    for row in root.iter("g"):
        classes = (row.get("class") or "").split()
        if "row" in classes:
            key = None if "not-run" in classes else row.get("data-node")
            rows[key] = [g for g in row.iter("g") if "bar" in (g.get("class") or "").split()]
    return rows


def _box(bar: ET.Element) -> dict[str, float]:
    """The position and size of a bar's main rectangle."""
    rect = bar.find("rect")
    assert rect is not None
    return {key: float(rect.attrib[key]) for key in ("x", "y", "width", "height")}


def test_one_bar_per_execution_on_its_node_row() -> None:
    run = small_run()
    root = _document(run)
    rows = _bars(root)
    assert sum(len(bars) for bars in rows.values()) == len(run.executions)
    assert len([g for g in root.iter("g") if "bar" in (g.get("class") or "").split()]) == len(
        run.executions
    )
    placed = {
        key: sorted((b.get("data-task"), b.get("data-attempt")) for b in bars)
        for key, bars in rows.items()
    }
    assert placed == {
        "node-a": [("t-fail", "0"), ("t-fail", "1"), ("t-ok-1", "0"), ("t-pre", "0")],
        "node-b": [(HOSTILE_SHOWN, "0"), ("t-bad", "0"), ("t-pre", "0")],
        None: [("t-blocked", "0")],
    }
    classes = {(b.get("data-task"), b.get("class")) for bars in rows.values() for b in bars}
    assert ("t-fail", "bar success retry") in classes
    assert ("t-pre", "bar success requeued") in classes
    assert ("t-pre", "bar preempted") in classes
    assert ("t-blocked", "bar blocked") in classes


def test_bars_are_placed_and_sized_by_time() -> None:
    rows = _bars(_document(small_run()))
    boxes = {
        (b.get("data-task"), b.get("data-attempt")): _box(b)
        for b in rows["node-a"] + rows["node-b"]
    }
    width = {key: box["width"] for key, box in boxes.items()}
    x = {key: box["x"] for key, box in boxes.items()}
    assert width[("t-pre", "0")] == pytest.approx(
        2 * width[("t-ok-1", "0")], rel=0.01
    )  # 80 s vs 40 s
    assert x[("t-pre", "0")] == pytest.approx(x[("t-ok-1", "0")])  # both start at 20 s
    assert x[("t-ok-1", "0")] + width[("t-ok-1", "0")] == pytest.approx(
        x[("t-fail", "0")], abs=0.02
    )


def test_hover_titles_name_task_command_duration_and_exit_code() -> None:
    rows = _bars(_document(small_run()))
    titles = {b.get("data-task"): b.findtext("title") or "" for bars in rows.values() for b in bars}
    assert titles["t-ok-1"].splitlines()[:3] == [
        "t-ok-1 \u00b7 attempt 1",
        "python3 work.py --n 1",
        "40s \u00b7 exit code 0 \u00b7 succeeded",
    ]
    assert "exit code 2" in titles["t-bad"] and "failed" in titles["t-bad"]
    assert "never started" in titles["t-blocked"] and "reason: t-bad failed" in titles["t-blocked"]
    assert titles[HOSTILE_SHOWN].splitlines()[1] == "echo 'a <b> & c'"


def test_hostile_text_is_escaped_everywhere() -> None:
    html = render_html(small_run(workflow="<b>wf</b>", run_id='"&amp;\ud800'))
    assert "<script" not in html and "<b>" not in html and "\x07" not in html
    root = ET.fromstring(html)
    assert not list(root.iter("script")) and not list(root.iter("b"))
    assert (root.findtext("head/title") or "").startswith('<b>wf</b> \u00b7 run "&amp;\\ud800')
    html.encode("utf-8")  # no lone surrogate left


class _Resources(HTMLParser):
    """Collects every tag, every attribute and the text of <style> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.css = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css += data


def test_the_page_references_no_external_resource() -> None:
    run = small_run(
        executions=(
            *small_run().executions,
            ran("t-url", "node-a", 150, 150, 160, command="curl https://example.com/x"),
        )
    )
    parsed = _Resources()
    parsed.feed(render_html(run))
    assert not {"script", "link", "img", "iframe", "object", "embed", "image", "use"} & set(
        parsed.tags
    )
    for name, value in parsed.attributes:
        assert name not in ("src", "href", "xlink:href", "srcset"), (name, value)
        if name in ("style", "fill", "stroke", "content"):
            assert "//" not in value and "url(" not in value.replace("url(#", ""), (name, value)
    assert "@import" not in parsed.css and "//" not in parsed.css.replace("/*", "").replace(
        "*/", ""
    )
    assert "url(" not in parsed.css.replace("url(#", "")
    assert ("http-equiv", "Content-Security-Policy") in parsed.attributes


def test_steps_get_rows_and_colours_and_lanes_do_not_overlap() -> None:
    run = example_run()
    root = _document(run)
    steps = [g.get("data-step") for g in root.iter("g") if g.get("class") == "step-row"]
    assert steps == ["count", "rank", "merge"]
    rows = _bars(root)
    assert sum(len(bars) for bars in rows.values()) == len(run.executions)
    for node, bars in rows.items():
        if node is None:
            continue
        boxes = [_box(bar) for bar in bars]
        for i, one in enumerate(boxes):
            for other in boxes[i + 1 :]:
                apart_x = (
                    one["x"] + one["width"] <= other["x"] + 0.01
                    or other["x"] + other["width"] <= one["x"] + 0.01
                )
                apart_y = (
                    one["y"] + one["height"] <= other["y"]
                    or other["y"] + other["height"] <= one["y"]
                )
                assert apart_x or apart_y, (node, one, other)
    assert len([r for r in root.iter("rect") if r.get("class") == "step-strip"]) == len(
        run.executions
    )
    assert not [g for g in _document(small_run()).iter("g") if g.get("class") == "steps"]


def test_an_empty_run_still_renders() -> None:
    run = small_run(executions=(), nodes=(), pool_sizes=())
    figures = compute_figures(run)
    assert (
        figures.utilisation is None
        and figures.queue_wait_median is None
        and figures.histogram == ()
    )
    root = _document(run)
    assert _bars(root) == {}
    assert "0 tasks" in "".join(root.itertext())


def test_a_node_without_record_and_an_unfinished_execution_still_get_bars() -> None:
    late = ran("t-late", "node-z", 150, 160, 170)
    unfinished = replace(late, ended=None, exit_code=None, result=Result.RUNNING)
    assert "still running" not in "".join(_document(small_run()).itertext())
    run = small_run(executions=(*small_run().executions, unfinished))
    root = _document(run)
    rows = _bars(root)
    assert [(b.get("data-task"), b.get("class")) for b in rows["node-z"]] == [
        ("t-late", "bar running")
    ]
    title = rows["node-z"][0].findtext("title") or ""
    assert "still running at the end of the record" in title and "no exit code" in title
    figures = compute_figures(run)  # node-z counted from 160 s to the run's end, busy throughout
    assert figures.node_hours_dedicated == pytest.approx((200 + 50) / 3600)
    assert figures.busy_slot_hours == pytest.approx((257 + 50) / 3600)
    assert figures.available_slot_hours == pytest.approx((325 + 50) / 3600)
    legend = next(g for g in root.iter("g") if g.get("class") == "legend")
    assert "still running" in "".join(legend.itertext())
    assert compute_figures(run).executions == len(run.executions)
