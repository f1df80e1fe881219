"""The SSE reader against a real HTTP server (the standard library's) on 127.0.0.1."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.speech.backends.http import Endpoint, HttpFailure, get_json, stream_events


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    release = threading.Event()  # lets /stall end when a test is over

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._send(200, b'{"total_slots": 3}', "application/json")

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/events":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            # One event split across chunks, a ping comment, then [DONE] and a line that must be ignored.
            pieces = [f'data: {{"n": {i}}}\n\n' for i in range(body["count"])]
            pieces[0:1] = [pieces[0][:5], pieces[0][5:]]
            for piece in [": ping\n\n", *pieces, "data: [DONE]\n\n", 'data: {"n": -1}\n\n']:
                raw = piece.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/stall":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b'data: {"n": 0}\n\n')
            self.wfile.flush()
            self.release.wait(10)
        else:
            self._send(503, b'{"error": {"message": "Loading model", "code": 503}}', "application/json")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def _server() -> Iterator[Endpoint]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Endpoint.parse(f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        _Handler.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
        _Handler.release.clear()


def test_events_are_read_across_chunks_until_done() -> None:
    with _server() as endpoint:
        events = list(stream_events(endpoint, "/events", b'{"count": 4}'))
    assert events == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]


def test_an_error_status_carries_the_servers_message() -> None:
    with _server() as endpoint, pytest.raises(HttpFailure) as failure:
        list(stream_events(endpoint, "/nowhere", b"{}"))
    assert failure.value.status == 503 and failure.value.server_down
    assert "Loading model" in str(failure.value)


def test_should_stop_ends_a_stream_that_waits_for_the_server() -> None:
    asked = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) > 3  # after the first event, while the server says nothing more

    with _server() as endpoint:
        stream = stream_events(endpoint, "/stall", b"{}", should_stop=should_stop, read_timeout=30)
        events = list(stream)
    assert events == [{"n": 0}] and stream.stopped


def test_a_silent_server_times_out() -> None:
    with _server() as endpoint, pytest.raises(HttpFailure, match="sent nothing") as failure:
        list(stream_events(endpoint, "/stall", b"{}", read_timeout=0.3))
    assert failure.value.server_down


def test_unreachable_server_and_json_get() -> None:
    with _server() as endpoint:
        assert get_json(endpoint, "/props", timeout=5) == {"total_slots": 3}
    with pytest.raises(HttpFailure, match="unreachable") as failure:
        list(stream_events(endpoint, "/events", b"{}"))
    assert failure.value.status is None


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://host", "http://", "http://h:99999", "http://h/?q=1"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        Endpoint.parse(url)
