"""What a test sees of one interaction it sent: the acknowledgement, the response, edits and follow-ups."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .messages import EPHEMERAL, SentMessage, StoredMessage
from .waiting import DEFAULT_TIMEOUT, Changes

T = TypeVar("T")

# Interaction callback types (Discord's numbers).
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE = 1, 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9


@dataclass(frozen=True)
class Choice:
    """One autocomplete suggestion."""

    name: str
    value: str | int | float


@dataclass(frozen=True)
class InteractionCallback:
    """One POST to /interactions/{id}/{token}/callback."""

    type: int
    data: dict[str, Any]
    at: float

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.data.get("flags") or 0) & EPHEMERAL)


class InteractionHandle:
    """Follows one interaction the fake dispatched; every `wait_*` is event-driven with a timeout."""

    def __init__(
        self, *, interaction_id: int, token: str, kind: int, name: str, channel_id: int, guild_id: int,
        changes: Changes, source: StoredMessage | None = None, note: str = "",
    ) -> None:
        self.id = interaction_id
        self.token = token
        self.kind = kind
        self.name = name
        self.channel_id = channel_id
        self.guild_id = guild_id
        self.source = source  # the message whose button or select was used, for component interactions
        self.note = note  # said when a wait times out, e.g. that the command was never synced
        self.rejected: list[str] = []  # callbacks the fake refused (late, twice), with the reason
        self.sent_at = time.monotonic()
        self.callbacks: list[InteractionCallback] = []
        self.original: StoredMessage | None = None
        self._original_states: list[SentMessage] = []
        self._edits: list[SentMessage] = []
        self.followup_records: list[StoredMessage] = []  # live records; tests read `followups`
        self._followups_as_sent: list[SentMessage] = []
        self._changes = changes

    def __repr__(self) -> str:
        return f"<InteractionHandle /{self.name} callbacks={[c.type for c in self.callbacks]}>"

    # Recording, called by the REST handlers.
    def record_callback(self, callback: InteractionCallback, original: StoredMessage | None) -> None:
        self.callbacks.append(callback)
        if original is not None:
            self.original = original
            self._original_states.append(original.snapshot())

    def record_edit(self) -> None:
        assert self.original is not None
        state = self.original.snapshot()
        self._original_states.append(state)
        self._edits.append(state)

    def record_followup(self, message: StoredMessage, *, fills_original: bool = False) -> None:
        snapshot = message.snapshot()
        self.followup_records.append(message)
        self._followups_as_sent.append(snapshot)
        if fills_original:
            self._original_states.append(snapshot)

    # What tests read.
    @property
    def acknowledged(self) -> bool:
        return bool(self.callbacks)

    @property
    def deferred(self) -> bool:
        return bool(self.callbacks) and self.callbacks[0].type in (DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE)

    @property
    def response(self) -> SentMessage | None:
        """The original response as it looks now (None before any message response)."""
        return self.original.snapshot() if self.original is not None else None

    @property
    def edits(self) -> list[SentMessage]:
        """Each state of the original response after a PATCH .../messages/@original, in order."""
        return list(self._edits)

    @property
    def followups(self) -> list[SentMessage]:
        """Follow-up messages as they look now."""
        return [m.snapshot() for m in self.followup_records]

    @property
    def ack_latency(self) -> float | None:
        """Seconds from dispatch to the first callback."""
        return self.callbacks[0].at - self.sent_at if self.callbacks else None

    async def wait_ack(self, timeout: float = DEFAULT_TIMEOUT) -> InteractionCallback:
        """The first callback, whatever its type."""
        return await self._wait(lambda: self.callbacks[0] if self.callbacks else None, timeout, "any callback")

    async def wait_deferred(self, timeout: float = DEFAULT_TIMEOUT) -> InteractionCallback:
        """The deferral (type 5 or 6); fails if the bot answered some other way first."""
        callback = await self.wait_ack(timeout)
        if callback.type not in (DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE):
            raise AssertionError(f"/{self.name} was answered with callback type {callback.type}, not deferred")
        return callback

    async def wait_response(self, timeout: float = DEFAULT_TIMEOUT) -> SentMessage:
        """The first visible state of the original response: type 4/7, or the first edit or follow-up after a defer."""

        def ready() -> SentMessage | None:
            return next((s for s in self._original_states if not s.loading), None)

        return await self._wait(ready, timeout, "the original response")

    async def wait_followup(self, index: int = 0, timeout: float = DEFAULT_TIMEOUT) -> SentMessage:
        """Follow-up number `index`; after a defer, follow-up 0 is the original response filled in."""

        def ready() -> SentMessage | None:
            return self.followup_records[index].snapshot() if len(self.followup_records) > index else None

        return await self._wait(ready, timeout, f"follow-up #{index}")

    async def wait_edit(self, index: int = 0, timeout: float = DEFAULT_TIMEOUT) -> SentMessage:
        """The state after edit number `index` of the original response."""
        edits = self._edits
        return await self._wait(lambda: edits[index] if len(edits) > index else None, timeout, f"edit #{index}")

    async def wait_reply(self, timeout: float = DEFAULT_TIMEOUT) -> SentMessage:
        """The first message the user gets to read: the response or a follow-up, whichever came first."""

        def ready() -> SentMessage | None:
            candidates = [s for s in self._original_states if not s.loading][:1] + self._followups_as_sent[:1]
            return min(candidates, key=lambda s: s.at) if candidates else None

        return await self._wait(ready, timeout, "a reply (response or follow-up)")

    async def wait_rejected(self, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The reason the fake refused a callback (too late, or a second acknowledgement)."""
        return await self._wait(lambda: self.rejected[0] if self.rejected else None, timeout, "a refused callback")

    async def wait_choices(self, timeout: float = DEFAULT_TIMEOUT) -> list[Choice]:
        """The autocomplete suggestions (callback type 8)."""
        callback = await self._wait(self._callback_of(AUTOCOMPLETE_RESULT), timeout, "autocomplete choices")
        return [Choice(c["name"], c["value"]) for c in callback.data.get("choices", [])]

    async def wait_modal(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The modal the bot opened (callback type 9): custom_id, title, components."""
        return (await self._wait(self._callback_of(MODAL), timeout, "a modal")).data

    def _callback_of(self, kind: int) -> Callable[[], InteractionCallback | None]:
        return lambda: next((c for c in self.callbacks if c.type == kind), None)

    async def _wait(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        def describe() -> str:
            context = [self.note] if self.note else []
            context += [f"rejected callback: {reason}" for reason in self.rejected]
            return f"{what} to /{self.name}" + "".join(f"\n({line})" for line in context)

        return await self._changes.wait_for(check, timeout=timeout, what=describe)
