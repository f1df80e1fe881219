"""Messages in the fake: what the bot posted (with uploaded bytes) and what users posted."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from . import payloads
from .world import FakeUser, Snowflakes

EPHEMERAL = 1 << 6
LOADING = 1 << 7

MessageKind = Literal["channel", "user", "response", "followup"]


@dataclass(frozen=True)
class SentFile:
    """An uploaded file: its name and the exact bytes."""

    filename: str
    data: bytes
    description: str | None = None
    content_type: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Upload:
    """A file a fake user attaches to a message or an attachment option."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class SentMessage:
    """A snapshot of one message as Discord would show it."""

    id: int
    channel_id: int
    author_id: int
    kind: MessageKind
    content: str
    flags: int
    attachments: tuple[SentFile, ...]
    embeds: tuple[dict[str, Any], ...]
    components: tuple[dict[str, Any], ...]
    deleted: bool
    at: float

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """True for the "thinking..." placeholder a deferred interaction shows."""
        return bool(self.flags & LOADING)

    @property
    def text(self) -> str:
        """Content plus embed titles and descriptions, for assertions that don't care where text went."""
        parts = [self.content]
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            parts += [f"{f.get('name', '')} {f.get('value', '')}" for f in embed.get("fields", [])]
        return "\n".join(p for p in parts if p)


@dataclass(eq=False)
class StoredAttachment:
    id: int
    file: SentFile
    url: str


@dataclass(eq=False)
class StoredMessage:
    """The fake's mutable record of a message."""

    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    kind: MessageKind
    content: str = ""
    flags: int = 0
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    files: list[StoredAttachment] = field(default_factory=list)
    mentions: list[FakeUser] = field(default_factory=list)
    reactions: list[str] = field(default_factory=list)
    webhook_id: int | None = None
    edited_at: str | None = None
    created_at: str = field(default_factory=payloads.iso_now)
    deleted: bool = False

    def snapshot(self) -> SentMessage:
        """An immutable copy for tests."""
        return SentMessage(
            id=self.id,
            channel_id=self.channel_id,
            author_id=self.author.id,
            kind=self.kind,
            content=self.content,
            flags=self.flags,
            attachments=tuple(a.file for a in self.files),
            embeds=tuple(self.embeds),
            components=tuple(self.components),
            deleted=self.deleted,
            at=time.monotonic(),
        )


class MessageStore:
    """All messages by id, plus the CDN that serves their attachments."""

    def __init__(self, ids: Snowflakes) -> None:
        self._ids = ids
        self.by_id: dict[int, StoredMessage] = {}
        self.cdn: dict[str, SentFile] = {}
        self.cdn_base = ""

    def create(
        self,
        *,
        channel_id: int,
        guild_id: int | None,
        author: FakeUser,
        kind: MessageKind,
        body: dict[str, Any],
        uploads: list[SentFile],
    ) -> StoredMessage:
        """Store a new message from a REST body (JSON or multipart payload_json) and its uploads."""
        message = StoredMessage(self._ids.next(), channel_id, guild_id, author, kind)
        self.apply(message, body, uploads, editing=False)
        self.by_id[message.id] = message
        return message

    def apply(self, message: StoredMessage, body: dict[str, Any], uploads: list[SentFile], *, editing: bool) -> None:
        """Apply a create or edit body the way Discord does (absent keys keep their value)."""
        if "content" in body:
            message.content = body["content"] or ""
        if "embeds" in body:
            message.embeds = list(body["embeds"] or [])
        if "components" in body:
            message.components = list(body["components"] or [])
        if body.get("flags") is not None:
            message.flags = int(body["flags"]) | (message.flags & EPHEMERAL if editing else 0)
        if editing:
            message.flags &= ~LOADING
            message.edited_at = payloads.iso_now()
        message.files = self._attachments(message, body.get("attachments"), uploads)

    def _attachments(
        self, message: StoredMessage, spec: list[dict[str, Any]] | None, uploads: list[SentFile]
    ) -> list[StoredAttachment]:
        existing = {a.id: a for a in message.files}
        kept: list[StoredAttachment] = []
        used: set[int] = set()
        for entry in spec if spec is not None else []:
            ref = int(entry["id"])
            if ref in existing:
                kept.append(existing[ref])
            elif 0 <= ref < len(uploads):
                upload = uploads[ref]
                kept.append(self._store(message, SentFile(
                    entry.get("filename", upload.filename), upload.data, entry.get("description"), upload.content_type
                )))
                used.add(ref)
        if spec is None:
            kept = list(message.files)
        kept += [self._store(message, u) for i, u in enumerate(uploads) if i not in used]
        return kept

    def publish(self, upload: Upload) -> tuple[int, str]:
        """Put a file a user attaches to an option on the CDN; returns (attachment id, url)."""
        attachment_id = self._ids.next()
        path = f"/attachments/0/{attachment_id}/{upload.filename}"
        self.cdn[path] = SentFile(upload.filename, upload.data, None, upload.content_type)
        return attachment_id, self.cdn_base + path

    def _store(self, message: StoredMessage, file: SentFile) -> StoredAttachment:
        attachment_id = self._ids.next()
        path = f"/attachments/{message.channel_id}/{attachment_id}/{file.filename}"
        self.cdn[path] = file
        return StoredAttachment(attachment_id, file, self.cdn_base + path)

    def payload(self, m: StoredMessage) -> dict[str, Any]:
        """The message object Discord returns for `m`."""
        data: dict[str, Any] = {
            "id": str(m.id),
            "channel_id": str(m.channel_id),
            "author": payloads.user(m.author),
            "content": m.content,
            "timestamp": m.created_at,
            "edited_timestamp": m.edited_at,
            "tts": False,
            "mention_everyone": False,
            "mentions": [payloads.user(u) for u in m.mentions],
            "mention_roles": [],
            "attachments": [
                {
                    "id": str(a.id),
                    "filename": a.file.filename,
                    "size": a.file.size,
                    "url": a.url,
                    "proxy_url": a.url,
                    "content_type": a.file.content_type,
                    **({"description": a.file.description} if a.file.description else {}),
                }
                for a in m.files
            ],
            "embeds": m.embeds,
            "components": m.components,
            "pinned": False,
            "type": 0 if m.kind in ("channel", "user") else 20,
            "flags": m.flags,
        }
        if m.guild_id is not None:
            data["guild_id"] = str(m.guild_id)
        if m.webhook_id is not None:
            data["webhook_id"] = str(m.webhook_id)
            data["application_id"] = str(m.webhook_id)
        return data

    def in_channel(self, channel_id: int, *, kinds: tuple[MessageKind, ...]) -> list[StoredMessage]:
        """Messages of the given kinds in a channel, oldest first."""
        return [m for m in self.by_id.values() if m.channel_id == channel_id and m.kind in kinds]
