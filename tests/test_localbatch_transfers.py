"""The node agent's transfers against HTTP servers that answer in every way HTTP/1.1
allows: a chunked body, a body that ends when the server closes, an error with Storage's
error code, a server that closes a kept connection. Resource files from such a server
arrive whole, one task after another over the connections the node keeps."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m

from tests.batch_helpers import make_job, make_pool, wait_completed

BODY = b"line one\nline two\n" * 300  # several chunks, and more than one read's worth


class _Files(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests = 0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        type(self).requests += 1
        if self.path.startswith("/chunked/"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(BODY), 1000):
                piece = BODY[i : i + 1000]
                self.wfile.write(f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        elif self.path.startswith("/until-close/"):
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(BODY)
            self.close_connection = True
        elif self.path.startswith("/closing/"):  # a length, and the connection closed after it
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(BODY)
            self.close_connection = True
        else:
            body = b"<Error><Code>BlobNotFound</Code></Error>"
            self.send_response(404, "The specified blob does not exist.")
            self.send_header("x-ms-error-code", "BlobNotFound")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


@pytest.fixture()
def files_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_resource_files_in_every_framing_over_kept_connections(
    batch_client: BatchClient, files_server: str
) -> None:
    job_id = make_job(batch_client, make_pool(batch_client, nodes=1, slots=1))
    sources = ("chunked", "until-close", "closing")
    tasks = [
        m.BatchTaskCreateOptions(
            id=f"t{i}",
            command_line="/bin/bash -c 'cat chunked.txt until-close.txt closing.txt'",
            resource_files=[
                m.ResourceFile(http_url=f"{files_server}/{s}/{i}.txt", file_path=f"{s}.txt")
                for s in sources
            ],
        )
        for i in range(6)
    ]
    tasks.append(
        m.BatchTaskCreateOptions(
            id="missing",
            command_line="true",
            resource_files=[m.ResourceFile(http_url=f"{files_server}/gone/x.txt?sig=secret")],
        )
    )
    batch_client.create_tasks(job_id, tasks)
    wait_completed(batch_client, job_id, len(tasks))
    for i in range(6):
        task: Any = batch_client.get_task(job_id, f"t{i}")
        assert task.execution_info.result == m.BatchTaskExecutionResult.SUCCESS, task.execution_info
        out = b"".join(batch_client.download_task_file(job_id, f"t{i}", "stdout.txt"))
        assert out == BODY * 3
    ended: Any = batch_client.get_task(job_id, "missing")
    failure = ended.execution_info.failure_info
    assert failure.code == "ResourceFileDownloadFailed"
    assert "HTTP 404 BlobNotFound (The specified blob does not exist.)" in failure.message
    assert "secret" not in failure.message
