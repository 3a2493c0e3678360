"""Hostile clients of the local Batch service, on the wire: unsigned huge bodies, broken
Content-Length, slow and silent connections, too many connections, stale dates. Each case
checks the answer, a time bound (generous: it proves "not hanging"), the service's memory
where it matters, and that the real SDK is still served normally afterwards."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from azure.batch import models as m

from runner import localstack
from tests import hostile
from tests.hostile import MAX_CONNECTIONS, READ_TIMEOUT

HUGE = 200 * 1024 * 1024


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localstack.RunningService]:
    with hostile.service(tmp_path_factory.mktemp("hostile-svc")) as running:
        yield running


def _huge_request(svc: localstack.RunningService, headers: dict[str, str]) -> tuple[int, str]:
    """Declare a 200 MB body, read the answer before sending any of it, then push the body
    until the server stops taking it. The status and error code."""
    with hostile.connect(svc) as sock:
        sock.sendall(hostile.head("POST", "/pools", {"Content-Length": str(HUGE), **headers}))
        status, got, body = hostile.read_response(sock)
        assert got.get("connection") == "close"
        chunk = b"x" * (1024 * 1024)
        try:
            for _ in range(HUGE // len(chunk)):
                sock.sendall(chunk)
        except OSError:
            pass  # the server stopped reading: what it did not read it never held
        return status, body["code"]


def test_unsigned_200_mb_bodies_are_refused_before_a_byte_is_read(
    svc: localstack.RunningService,
) -> None:
    before = hostile.status_field(svc.pid, "VmHWM")
    results: list[tuple[int, str]] = []
    start = time.monotonic()
    workers = [
        threading.Thread(target=lambda: results.append(_huge_request(svc, {}))) for _ in range(8)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert results == [(403, "AuthenticationFailed")] * 8
    assert time.monotonic() - start < 60
    grown = hostile.status_field(svc.pid, "VmHWM") - before
    assert grown < 12 * 1024, f"the service's peak memory grew by {grown} kB"
    hostile.answers_normally(svc)


def test_a_signed_body_over_the_cap_is_413_without_being_read(
    svc: localstack.RunningService,
) -> None:
    before = hostile.status_field(svc.pid, "VmHWM")
    start = time.monotonic()
    headers = hostile.signed("POST", "/pools", HUGE, date=hostile.http_date())
    del headers["Content-Length"]  # sent by _huge_request, as signed
    assert _huge_request(svc, headers) == (413, "RequestBodyTooLarge")
    assert time.monotonic() - start < 30
    assert hostile.status_field(svc.pid, "VmHWM") - before < 12 * 1024
    hostile.answers_normally(svc)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"Content-Length": "-1"}, "InvalidHeaderValue"),
        ({"Content-Length": "abc"}, "InvalidHeaderValue"),
        ({"Content-Length": "1e3"}, "InvalidHeaderValue"),
        ({"Content-Length": "+5"}, "InvalidHeaderValue"),
        ({"Content-Length": "99999999999999999999999"}, "InvalidHeaderValue"),
        ({"Transfer-Encoding": "chunked"}, "MissingRequiredHeader"),
        ({}, "MissingRequiredHeader"),
    ],
)
def test_a_content_length_that_is_not_a_plain_number_is_400_at_once(
    svc: localstack.RunningService, fields: dict[str, str], code: str
) -> None:
    start = time.monotonic()
    with hostile.connect(svc) as sock:
        sock.sendall(hostile.head("POST", "/pools", fields) + b"5\r\n{}\r\n")
        status, got, body = hostile.read_response(sock)
        assert (status, body["code"]) == (400, code)
        assert got.get("connection") == "close"
        assert hostile.closed_by_server(sock)
    assert time.monotonic() - start < 10
    hostile.answers_normally(svc)


def test_two_content_lengths_are_400(svc: localstack.RunningService) -> None:
    with hostile.connect(svc) as sock:
        raw = hostile.head("POST", "/pools", {"Content-Length": "2"})
        sock.sendall(raw.replace(b"\r\n\r\n", b"\r\nContent-Length: 3\r\n\r\n") + b"{}")
        status, _, body = hostile.read_response(sock)
        assert (status, body["code"]) == (400, "InvalidHeaderValue")


def test_silent_and_trickling_connections_are_closed_within_the_read_timeout(
    svc: localstack.RunningService,
) -> None:
    start = time.monotonic()
    silent = hostile.connect(svc)
    trickling = hostile.connect(svc)
    half_body = hostile.connect(svc)
    body_headers = hostile.signed("POST", "/jobs", 100, date=hostile.http_date())
    half_body.sendall(hostile.head("POST", "/jobs", body_headers) + b'{"id": ')
    closed: dict[str, float] = {}
    request_line = b"POST /pools HTTP/1.1\r\nX-Slow: " + b"a" * 1000
    for i in range(len(request_line)):  # one byte every 50 ms: never a whole request
        for name, sock in (("silent", silent), ("trickling", trickling), ("half", half_body)):
            if name in closed:
                continue
            sock.setblocking(False)
            try:
                gone = sock.recv(1024) == b""
            except BlockingIOError:
                gone = False
            except ConnectionResetError:
                gone = True
            if gone:
                closed[name] = time.monotonic() - start
        if len(closed) == 3:
            break
        if "trickling" not in closed:
            try:
                trickling.send(request_line[i : i + 1])
            except OSError:
                closed["trickling"] = time.monotonic() - start
        time.sleep(0.05)
    for sock in (silent, trickling, half_body):
        sock.close()
    assert set(closed) == {"silent", "trickling", "half"}, closed
    assert max(closed.values()) < READ_TIMEOUT + 20
    hostile.answers_normally(svc)


def test_beyond_the_connection_cap_idle_connections_make_room(
    svc: localstack.RunningService,
) -> None:
    baseline = hostile.threads(svc.pid)
    idle = [hostile.connect(svc) for _ in range(3 * MAX_CONNECTIONS)]
    try:
        start = time.monotonic()
        hostile.answers_normally(svc)  # served at once: idle connections were closed for it
        assert time.monotonic() - start < 20
        assert hostile.threads(svc.pid) <= baseline + MAX_CONNECTIONS + 2
    finally:
        for sock in idle:
            sock.close()


def test_when_every_connection_is_busy_a_new_one_waits_for_a_free_slot(
    svc: localstack.RunningService,
) -> None:
    baseline = hostile.threads(svc.pid)
    busy = [hostile.connect(svc) for _ in range(MAX_CONNECTIONS + 4)]
    try:
        for sock in busy:
            sock.sendall(b"POST /pools HTTP/1.1\r\n")  # a request begun, never finished
        time.sleep(0.5)
        assert hostile.threads(svc.pid) <= baseline + MAX_CONNECTIONS + 2
        start = time.monotonic()
        hostile.answers_normally(svc)  # waits until the read timeout frees slots
        assert time.monotonic() - start < READ_TIMEOUT + 30
    finally:
        for sock in busy:
            sock.close()


def test_an_sdk_client_idle_past_the_idle_timeout_reuses_its_pool(
    svc: localstack.RunningService,
) -> None:
    client = hostile.client(svc)
    pool_id = f"idle-{time.time_ns()}"
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
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
    time.sleep(hostile.IDLE_TIMEOUT + 1.0)  # the server closes the pooled connection meanwhile
    # a POST is never retried by azure-core after a connection error: it must simply work
    client.create_job(
        m.BatchJobCreateOptions(id=f"{pool_id}-job", pool_info=m.BatchPoolInfo(pool_id=pool_id))
    )
    assert client.get_job(f"{pool_id}-job").pool_info.pool_id == pool_id


@pytest.mark.parametrize(
    ("date", "detail"),
    [
        (-20 * 60, "more than 15 minutes"),
        (+20 * 60, "more than 15 minutes"),
        (None, "neither an ocp-date nor a Date"),
        ("yesterday", "not an RFC 1123 date"),
    ],
)
def test_a_request_dated_far_from_the_server_clock_is_refused(
    svc: localstack.RunningService, date: float | str | None, detail: str
) -> None:
    if isinstance(date, float | int):
        date = hostile.http_date(date)
    body = b'{"id": "never", "poolInfo": {"poolId": "p"}}'
    with hostile.connect(svc) as sock:
        headers = hostile.signed("POST", "/jobs", len(body), date=date)
        sock.sendall(hostile.head("POST", "/jobs", headers) + body)
        status, _, answer = hostile.read_response(sock)
    assert (status, answer["code"]) == (403, "AuthenticationFailed")
    assert detail in answer["message"]["value"]
    assert [v["key"] for v in answer["values"]] == ["AuthenticationErrorDetail"]
    jobs = [j.id for j in hostile.client(svc).list_jobs()]
    assert "never" not in jobs


def test_a_request_within_the_window_is_accepted(svc: localstack.RunningService) -> None:
    for offset in (-10 * 60, 10 * 60):
        with hostile.connect(svc) as sock:
            sock.sendall(
                hostile.head(
                    "GET",
                    "/pools",
                    hostile.signed("GET", "/pools", 0, date=hostile.http_date(offset)),
                )
            )
            assert hostile.read_response(sock)[0] == 200


def test_a_refused_request_without_a_body_keeps_its_connection(
    svc: localstack.RunningService,
) -> None:
    """Errors do not close a connection whose request was read whole (keep-alive stays)."""
    with hostile.connect(svc) as sock:
        sock.sendall(hostile.head("GET", "/pools", {"Authorization": "SharedKey bwflocal:bad"}))
        assert hostile.read_response(sock)[0] == 403
        sock.sendall(
            hostile.head(
                "GET", "/pools", hostile.signed("GET", "/pools", 0, date=hostile.http_date())
            )
        )
        assert hostile.read_response(sock)[0] == 200
