"""Slow and lying clients against a real ``patchbay serve``: headers that never end, a body
shorter than its Content-Length, more connections than the cap. Each is bounded by a
setting (PATCHBAY_HEADER_TIMEOUT_SECONDS, PATCHBAY_BODY_TIMEOUT_SECONDS,
PATCHBAY_MAX_CONNECTIONS), and the server keeps answering."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from patchbay.testing.process import ServerProcess

LIMITS = {
    "PATCHBAY_HEADER_TIMEOUT_SECONDS": "1",
    "PATCHBAY_BODY_TIMEOUT_SECONDS": "1",
    "PATCHBAY_MAX_CONNECTIONS": "20",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = ServerProcess(tmp_path_factory.mktemp("slow") / "data", env=LIMITS)
    try:
        running.wait_healthy(timeout=120)
        yield running
    finally:
        running.stop()


def _connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return sock


def _read_all(sock: socket.socket) -> tuple[bytes, float]:
    """Everything until the server closes, and how long that took."""
    start = time.monotonic()
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data, time.monotonic() - start


def test_headers_that_never_end_are_cut_off(server):
    sock = _connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and never the end
    data, took = _read_all(sock)
    assert data == b"" and took < 10
    idle = _connect(server)  # a connection that sends nothing at all
    data, took = _read_all(idle)
    assert data == b"" and took < 10


def test_a_body_shorter_than_its_content_length_is_answered_408(server):
    sock = _connect(server)
    sock.sendall(
        b"POST /core/v1/connectors/http-client/versions/1.0/call HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer nope\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"operation":'
    )
    data, took = _read_all(sock)  # the server closes after answering
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), data
    assert json.loads(body) == {
        "message": "The request body did not arrive within 1 s",
        "code": "request_timeout",
    }
    assert took < 10


def test_connections_past_the_cap_are_closed_and_the_server_keeps_answering(server):
    held = [_connect(server) for _ in range(30)]
    try:
        closed = 0
        for sock in held[20:]:  # over the cap: closed at once, without an answer
            sock.settimeout(0.9)
            try:
                closed += sock.recv(1) == b""
            except TimeoutError:
                pass
        assert closed >= 5
        time.sleep(1.5)  # the held ones time out (no headers)
        assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
    finally:
        for sock in held:
            sock.close()
