"""A tiny REST router for /api/v10: parses JSON and multipart bodies, logs every call, 404s the unknown."""
from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .messages import SentFile

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"


@dataclass(frozen=True)
class RestCall:
    """One REST request the bot made and how the fake answered."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    files: tuple[SentFile, ...]
    status: int
    handled: bool
    at: float

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


@dataclass
class RestRequest:
    """A parsed request as route handlers see it."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    files: list[SentFile] = field(default_factory=list)

    def id(self, name: str) -> int:
        """A snowflake path parameter."""
        return int(self.params[name])

    @property
    def json(self) -> dict[str, Any]:
        """The JSON body (or multipart payload_json) as a dict; {} when absent."""
        return self.body if isinstance(self.body, dict) else {}


@dataclass(frozen=True)
class RestReply:
    status: int
    body: Any = None


def ok(body: Any) -> RestReply:
    return RestReply(200, body)


def no_content() -> RestReply:
    return RestReply(204)


def error(status: int, code: int, message: str) -> RestReply:
    """A Discord-style JSON error, which discord.py turns into HTTPException/NotFound/Forbidden."""
    return RestReply(status, {"message": message, "code": code})


def unknown(what: str, code: int) -> RestReply:
    return error(404, code, f"Unknown {what}")


Handler = Callable[[RestRequest], Awaitable[RestReply]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool


class RestRouter:
    """Routes /api/v10 requests to handlers; everything is appended to `log`."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._routes: list[Route] = []
        self.log: list[RestCall] = []
        self.on_call: Callable[[], None] = lambda: None

    def route(self, method: str, path: str, *, auth: bool = True) -> Callable[[Handler], Handler]:
        """Register a handler for e.g. ("GET", "/channels/{channel_id}/messages/{message_id}")."""
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"

        def register(handler: Handler) -> Handler:
            self._routes.append(Route(method, re.compile(regex), handler, auth))
            return handler

        return register

    async def handle(self, request: web.Request) -> web.Response:
        """The aiohttp handler for everything under /api/v10."""
        path = request.path[len(API_PREFIX):]
        body, files = await _read_body(request)
        parsed = RestRequest(request.method, path, {}, dict(request.query), body, files)
        route, params = self._match(request.method, path)
        if route is None:
            reply = error(404, 0, f"404: Not Found (the fake Discord has no route for {request.method} {path})")
        elif route.auth and request.headers.get("Authorization") != f"Bot {self._token}":
            reply = error(401, 0, "401: Unauthorized")
        else:
            parsed.params = params
            try:
                reply = await route.handler(parsed)
            except Exception as exc:  # a fake bug must fail fast, not make discord.py retry a 500
                log.exception("fake Discord handler failed for %s %s", request.method, path)
                reply = error(400, 0, f"fake Discord handler error: {exc!r}")
        self.log.append(RestCall(
            request.method, path, dict(request.query), body, tuple(files), reply.status, route is not None,
            time.monotonic(),
        ))
        self.on_call()
        return json_response(reply)

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method == method and (match := route.pattern.match(path)):
                return route, match.groupdict()
        return None, {}


def json_response(reply: RestReply) -> web.Response:
    """discord.py parses a body as JSON only when Content-Type is exactly application/json (no charset)."""
    if reply.status == 204 or reply.body is None:
        return web.Response(status=reply.status)
    return web.Response(
        status=reply.status, body=json.dumps(reply.body).encode(), headers={"Content-Type": "application/json"}
    )


async def _read_body(request: web.Request) -> tuple[Any, list[SentFile]]:
    if not request.body_exists:
        return None, []
    if request.content_type == "multipart/form-data":
        return await _read_multipart(request)
    raw = await request.read()
    if request.content_type == "application/json":
        return json.loads(raw or b"null"), []
    return raw.decode(errors="replace"), []


async def _read_multipart(request: web.Request) -> tuple[Any, list[SentFile]]:
    payload: Any = None
    indexed: list[tuple[int, SentFile]] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        name = part.name or ""  # type: ignore[union-attr]
        data = await part.read(decode=False)  # type: ignore[union-attr]
        if name == "payload_json":
            payload = json.loads(data)
        elif match := re.fullmatch(r"files\[(\d+)\]", name):
            content_type = part.headers.get("Content-Type")  # type: ignore[union-attr]
            indexed.append((int(match[1]), SentFile(part.filename or name, bytes(data), None, content_type)))  # type: ignore[union-attr]
    return payload, [f for _, f in sorted(indexed, key=lambda item: item[0])]
