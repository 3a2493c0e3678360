"""Request bodies of the wrong shape, sent to every POST/PUT/PATCH route of the local Batch
service: each gets Batch's 400 (never a 500), and nothing changes.

Routes come from the service's own route table, and the wrong shapes from the shape each
handler declares (`shapes.accepts`), so routes added later are fuzzed too, and a body route
that declares no shape fails `test_every_body_route_declares_its_shape`.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.batch import models as m

from runner import localstack
from runner.localbatch import shapes
from runner.localbatch.api import Api
from runner.localbatch.faults import Faults
from runner.localbatch.scheduler import Scheduler
from runner.localbatch.shapes import ListOf, Record, Scalar, Shape
from runner.localbatch.store import Store
from tests import hostile

BODY_VERBS = ("POST", "PUT", "PATCH")
POOL, JOB, TASK = "fuzz-pool", "fuzz-job", "fuzz-task"
TOP_LEVEL = [b"[]", b"null", b'"x"', b"5", b"true", b"1.5", b"{", b"[" * 100_000 + b"]" * 100_000]
# a valid sample of each scalar, and wrong values: other JSON types, then a wrong format
SAMPLES: dict[str, Any] = {
    "a string": "x",
    "a boolean": True,
    "a 32-bit integer": 1,
    shapes.INT_OPTION.kind: "1",  # as the Azure CLI sends it
    shapes.BOOL_OPTION.kind: "true",
}
WRONG: dict[str, list[Any]] = {
    "a string": [5, True, [], {}],
    "a boolean": ["true", 1, []],
    "a 32-bit integer": ["1", 1.5, True, 2**40, [], {}],
    shapes.INT_OPTION.kind: ["x", "1.5", "", "0x10", str(2**40), 1.5, True, 2**40, [], {}],
    shapes.BOOL_OPTION.kind: ["yes", "", 1, [], {}],
}
FORMATTED = {id(shapes.DURATION): "PT1M", id(shapes.FILE_MODE): "0644"}


def _routes(tmp: Path) -> list[tuple[str, str, Any]]:
    """(verb, path pattern, handler) of every body route, from a real Api's route table."""
    scheduler = Scheduler(Store(tmp / "routes.sqlite"), tmp, "acct", "http://x", Faults())
    api = Api(scheduler, "http://x")
    return [(v, p.pattern, h) for v, p, h in api.routes if v in BODY_VERBS]


def _path(pattern: str) -> str:
    """A concrete path for a route pattern: each `([^/]+)` becomes the fuzz object named by
    the segment before it."""
    ids = {"pools": POOL, "jobs": JOB, "tasks": TASK, "nodes": "no-node", "users": "no-user"}
    text = pattern.strip("^$")

    def fill(m: re.Match[str]) -> str:
        return ids[text[: m.start()].rstrip("/").rsplit("/", 1)[-1]]

    return "/" + re.sub(r"\(\[\^/\]\+\)", fill, text)


def _sample(shape: Shape) -> Any:
    """The smallest valid value of a shape (required properties only)."""
    if isinstance(shape, Scalar):
        return FORMATTED.get(id(shape), SAMPLES[shape.kind])
    if isinstance(shape, ListOf):
        return [_sample(shape.item)]
    return {name: _sample(shape.fields[name]) for name in sorted(shape.required)}


def _wrong(shape: Shape) -> Iterator[tuple[Any, str, tuple[int, ...]]]:
    """Wrong values for a shape, each with the error code it must get and where, below the
    property, the error is (a list item: index 0)."""
    if isinstance(shape, Scalar):
        for value in WRONG[shape.kind]:
            yield value, "InvalidRequestBody", ()
        if shape.pattern is not None:
            yield "not-the-format", "InvalidPropertyValue", ()
    elif isinstance(shape, ListOf):
        for value in ({}, "x", 5):
            yield value, "InvalidRequestBody", ()
        yield [None], "InvalidRequestBody", (0,)
        for value, code, below in _wrong(shape.item):
            yield [value], code, (0, *below)
    else:
        for value in ([], "x", 5, True):
            yield value, "InvalidRequestBody", ()


def _properties(
    record: Record, where: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Shape]]:
    """(path, shape) of every property in a shape, nested ones included (list items at 0)."""
    for name, sub in record.fields.items():
        path = (*where, name)
        yield path, sub
        if isinstance(sub, ListOf) and isinstance(sub.item, Record):
            yield from _properties(sub.item, (*path, 0))
        elif isinstance(sub, Record):
            yield from _properties(sub, path)


def _required(record: Record, where: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """The path of every required property, nested ones included."""
    yield from ((*where, name) for name in sorted(record.required))
    for path, sub in _properties(record, where):
        if isinstance(sub, Record):
            yield from ((*path, name) for name in sorted(sub.required))
        elif isinstance(sub, ListOf) and isinstance(sub.item, Record):
            yield from ((*path, 0, name) for name in sorted(sub.item.required))


def _cases(
    record: Record,
) -> Iterator[tuple[tuple[str | int, ...], Any, str, tuple[str | int, ...]]]:
    """(path to a property, wrong value, expected error code, path the error names)."""
    for path, sub in _properties(record):
        for value, code, below in _wrong(sub):
            yield path, value, code, (*path, *below)
    for path in _required(record):
        yield path, None, "MissingRequiredProperty", path


def _body(record: Record, path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A valid minimal body with the property at `path` set to `value`."""
    body = _sample(record)
    node: Any = body
    shape: Shape = record
    for step in path[:-1]:
        if isinstance(step, int):
            assert isinstance(shape, ListOf)
            shape = shape.item
            continue
        assert isinstance(shape, Record)
        shape = shape.fields[step]
        if step not in node:
            node[step] = _sample(shape)
        node = node[step][0] if isinstance(shape, ListOf) else node[step]
    node[path[-1]] = value
    return body


def _property_name(path: tuple[str | int, ...]) -> str:
    return re.sub(r"\.\[", "[", ".".join(f"[{p}]" if isinstance(p, int) else p for p in path))


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localstack.RunningService]:
    with hostile.service(tmp_path_factory.mktemp("hostile-bodies")) as running:
        client = hostile.client(running)
        client.create_pool(
            m.BatchPoolCreateOptions(
                id=POOL,
                vm_size="standard_d2s_v3",
                target_dedicated_nodes=0,
                virtual_machine_configuration=m.VirtualMachineConfiguration(
                    image_reference=m.BatchVmImageReference(
                        publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts"
                    ),
                    node_agent_sku_id="batch.node.ubuntu 22.04",
                ),
            )
        )
        client.create_job(
            m.BatchJobCreateOptions(
                id=JOB, pool_info=m.BatchPoolInfo(pool_id=POOL), uses_task_dependencies=True
            )
        )
        client.create_task(JOB, m.BatchTaskCreateOptions(id=TASK, command_line="/bin/true"))
        yield running


def _snapshot(svc: localstack.RunningService) -> dict[str, Any]:
    """Every pool, job and task with its ETag: any change would show."""
    client = hostile.client(svc)
    return {
        "pools": sorted((p.id, p.etag) for p in client.list_pools()),
        "jobs": sorted((j.id, j.etag) for j in client.list_jobs()),
        "tasks": sorted((t.id, t.etag, t.state) for t in client.list_tasks(JOB)),
    }


def test_every_body_route_declares_its_shape(tmp_path: Path) -> None:
    routes = _routes(tmp_path)
    assert len(routes) >= 12
    undeclared = [f"{v} {p}" for v, p, h in routes if shapes.body_shape(h) is None]
    assert undeclared == [], "declare the body of these routes with @accepts(shapes.X)"


def _send(conn: http.client.HTTPConnection, verb: str, path: str, body: bytes) -> tuple[int, Any]:
    headers = hostile.signed(verb, path, len(body), date=hostile.http_date())
    conn.request(verb, f"{path}?{hostile.API}", body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


def test_wrong_shapes_on_every_route_are_400_and_change_nothing(
    svc: localstack.RunningService, tmp_path: Path
) -> None:
    before = _snapshot(svc)
    start = time.monotonic()
    conn = http.client.HTTPConnection(*hostile.address(svc), timeout=30)
    sent = 0
    try:
        for verb, pattern, handler in _routes(tmp_path):
            path = _path(pattern)
            for raw in TOP_LEVEL:
                status, answer = _send(conn, verb, path, raw)
                assert (status, answer["code"]) == (400, "InvalidRequestBody"), (
                    verb,
                    path,
                    raw[:20],
                )
                sent += 1
            record = shapes.body_shape(handler)
            assert record is not None
            for where, value, code, named in _cases(record):
                body = json.dumps(_body(record, where, value)).encode()
                status, answer = _send(conn, verb, path, body)
                assert (status, answer["code"]) == (400, code), (verb, path, body, answer)
                values = {v["key"]: v["value"] for v in answer.get("values", [])}
                assert values.get("PropertyName") == _property_name(named), (body, answer)
                sent += 1
    finally:
        conn.close()
    assert sent > 500
    assert time.monotonic() - start < 120
    assert _snapshot(svc) == before
    hostile.answers_normally(svc)


def test_the_fuzz_baseline_is_valid(tmp_path: Path) -> None:
    """Each fuzzed body differs from a valid one in one property only: the minimal body,
    with any one property set to a valid sample, passes the route's shape."""
    for _, _, handler in _routes(tmp_path):
        record = shapes.body_shape(handler)
        assert record is not None
        shapes.check(record, _sample(record), "")
        for path, sub in _properties(record):
            shapes.check(record, _body(record, path, _sample(sub)), "")
