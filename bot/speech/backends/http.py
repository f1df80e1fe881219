"""Plain HTTP for remote backends: JSON requests and server-sent-event streams, in the calling thread.

Streams use a small HTTP/1.1 client over one socket rather than http.client: between events it
waits with select() in short steps, so a caller's should_stop closes the connection within one
step even while the server is still reading a long prompt, and a silent server is noticed.
"""
from __future__ import annotations

import json
import select
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# How often a waiting stream looks at should_stop.
POLL_S = 0.05
_MAX_HEADER = 64 * 1024
_MAX_ERROR_BODY = 64 * 1024


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = 5.0   # opening a connection
    read_s: float = 60.0     # the longest silence while a stream runs (a long prompt on a busy server)
    probe_s: float = 5.0     # one health or model request


class HttpFailure(Exception):
    """A request failed: no connection, the connection lost or silent, or an error status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def server_down(self) -> bool:
        """No answer or a 5xx: the server (not the request) is at fault; try another one."""
        return self.status is None or self.status >= 500


@dataclass(frozen=True)
class Endpoint:
    """A server's base URL, split: http(s)://host:port/prefix."""

    url: str
    scheme: str
    host: str
    port: int
    prefix: str  # path before the API's own paths, "" or "/something"

    @classmethod
    def parse(cls, url: str) -> "Endpoint":
        """ValueError (with the reason) unless url is http(s)://host[:port][/prefix]."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"{url!r} must start with http:// or https://")
        if not parts.hostname:
            raise ValueError(f"{url!r} has no host name")
        if parts.query or parts.fragment or parts.username:
            raise ValueError(f"{url!r} must be only scheme, host, port and path")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"{url!r} has an invalid port") from None
        return cls(url.strip().rstrip("/"), parts.scheme, parts.hostname, port, parts.path.rstrip("/"))


def get_json(endpoint: Endpoint, path: str, *, timeout: float) -> Any:
    """GET a JSON document; HttpFailure when unreachable, not 200 or not JSON."""
    return _json_answer(endpoint, path, urllib.request.Request(endpoint.url + path), timeout)


def post_json(endpoint: Endpoint, path: str, body: Any, *, timeout: float) -> Any:
    """POST a JSON body and read a JSON answer; HttpFailure as get_json."""
    request = urllib.request.Request(endpoint.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    return _json_answer(endpoint, path, request, timeout)


def _json_answer(endpoint: Endpoint, path: str, request: urllib.request.Request, timeout: float) -> Any:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured URL)
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise HttpFailure(f"{endpoint.url}{path} answered {exc.code}: {_error_text(exc.read())}", exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HttpFailure(f"{endpoint.url} is unreachable ({reason})") from None
    except ValueError:
        raise HttpFailure(f"{endpoint.url}{path} did not answer JSON", 502) from None


def stream_events(
    endpoint: Endpoint,
    path: str,
    body: bytes,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
) -> "EventStream":
    """POST a JSON body and read the answer as server-sent events (see EventStream)."""
    return EventStream(endpoint, path, body, should_stop, connect_timeout, read_timeout)


class EventStream:
    """The JSON `data:` events of one streamed answer; ends at the end of the body or `[DONE]`.

    Iteration raises HttpFailure on an error status, a lost connection, or read_timeout seconds
    without a byte; it ends early (quietly) once should_stop() is true. close() is idempotent.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        path: str,
        body: bytes,
        should_stop: Callable[[], bool],
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        self._endpoint = endpoint
        self._should_stop = should_stop
        self._read_timeout = read_timeout
        self._buffer = b""
        self._eof = False
        self.stopped = False  # true when should_stop ended the stream
        self._sock = self._connect(connect_timeout)
        request = (
            f"POST {endpoint.prefix}{path} HTTP/1.1\r\nHost: {endpoint.host}:{endpoint.port}\r\n"
            "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode("ascii")
        try:
            self._sock.settimeout(read_timeout)
            self._sock.sendall(request + body)
        except OSError as exc:
            self.close()
            raise HttpFailure(f"{endpoint.url}: connection lost while sending ({exc})") from None

    def _connect(self, timeout: float) -> socket.socket:
        e = self._endpoint
        try:
            sock = socket.create_connection((e.host, e.port), timeout=timeout)
            if e.scheme == "https":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=e.host)
        except OSError as exc:
            raise HttpFailure(f"{e.url} is unreachable ({exc.strerror or exc})") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._events()
        finally:
            self.close()

    def _events(self) -> Iterator[Any]:
        status, headers = self._head()
        chunks = self._dechunked() if "chunked" in headers.get("transfer-encoding", "") else self._raw()
        if status != 200:
            body = b""
            try:
                for piece in chunks:
                    body += piece
                    if len(body) > _MAX_ERROR_BODY:
                        break
            except HttpFailure:
                pass  # the status says enough
            raise HttpFailure(f"{self._endpoint.url} answered {status}: {_error_text(body)}", status)
        data: list[bytes] = []
        pending = b""
        for piece in chunks:
            pending += piece
            *lines, pending = pending.split(b"\n")
            for line in lines:
                line = line.rstrip(b"\r")
                if line.startswith(b"data:"):
                    data.append(line[5:].removeprefix(b" "))
                elif not line and data:  # a blank line ends an event
                    payload = b"\n".join(data)
                    data = []
                    if payload.strip() == b"[DONE]":
                        return
                    try:
                        yield json.loads(payload)
                    except ValueError:
                        raise HttpFailure(f"{self._endpoint.url} streamed an event that is not JSON: "
                                          f"{payload[:200]!r}", 502) from None
        if data:
            raise HttpFailure(f"{self._endpoint.url} closed the stream inside an event", None)

    # -- bytes from the socket -------------------------------------------------------------

    def _fill(self) -> bool:
        """Read more bytes into the buffer; False at the end of the connection or on stop."""
        if self._eof:
            return False
        deadline = time.monotonic() + self._read_timeout
        while True:
            if self._should_stop():
                self.stopped = True
                self.close()
                return False
            try:
                pending = isinstance(self._sock, ssl.SSLSocket) and self._sock.pending() > 0
                if pending or select.select([self._sock], [], [], POLL_S)[0]:
                    break
            except (OSError, ValueError):  # close() from another thread (shutdown)
                raise HttpFailure(f"{self._endpoint.url}: the connection was closed") from None
            if time.monotonic() > deadline:
                raise HttpFailure(f"{self._endpoint.url} sent nothing for {self._read_timeout:g} s")
        try:
            got = self._sock.recv(65536)
        except OSError as exc:
            raise HttpFailure(f"{self._endpoint.url}: connection lost ({exc.strerror or exc})") from None
        if not got:
            self._eof = True
            return False
        self._buffer += got
        return True

    def _head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self._buffer:
            if len(self._buffer) > _MAX_HEADER:
                raise HttpFailure(f"{self._endpoint.url} sent an oversized header", 502)
            if not self._fill():
                if self.stopped:
                    return 200, {}  # the body loop below sees no bytes and ends
                raise HttpFailure(f"{self._endpoint.url} closed the connection without answering")
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError):
            raise HttpFailure(f"{self._endpoint.url} answered something that is not HTTP: {lines[0][:80]!r}", 502) from None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        return status, headers

    def _raw(self) -> Iterator[bytes]:
        while True:
            if self._buffer:
                piece, self._buffer = self._buffer, b""
                yield piece
            if not self._fill():
                return

    def _dechunked(self) -> Iterator[bytes]:
        while True:
            while b"\r\n" not in self._buffer:
                if not self._fill():
                    self._end_early()
                    return
            size_line, self._buffer = self._buffer.split(b"\r\n", 1)
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                raise HttpFailure(f"{self._endpoint.url} sent a broken chunk", 502) from None
            if size == 0:
                return
            while len(self._buffer) < size + 2:
                if not self._fill():
                    self._end_early()
                    return
            piece, self._buffer = self._buffer[:size], self._buffer[size + 2:]
            yield piece

    def _end_early(self) -> None:
        if not self.stopped:
            raise HttpFailure(f"{self._endpoint.url}: connection lost in the middle of the answer")


def _error_text(body: bytes) -> str:
    """The message of a JSON error body ({"error": {"message": ...}} or {"error": "..."}), else the text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        error = json.loads(text).get("error", text)
        if isinstance(error, dict):
            error = error.get("message", error)
        text = str(error)
    except (ValueError, AttributeError):
        pass
    return text[:300] or "(no message)"
