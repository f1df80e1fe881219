"""REST routes for interaction callbacks, the original response (@original) and follow-up webhooks."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .interactions import (
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    UPDATE_MESSAGE,
    InteractionCallback,
    InteractionHandle,
)
from .messages import EPHEMERAL, LOADING, StoredMessage
from .rest import RestReply, RestRequest, error, no_content, ok, unknown

if TYPE_CHECKING:
    from .server import FakeDiscord

UNKNOWN_INTERACTION, UNKNOWN_WEBHOOK, UNKNOWN_MESSAGE, ALREADY_ACKNOWLEDGED = 10062, 10015, 10008, 40060


def register(fake: FakeDiscord) -> None:
    """Add the routes to `fake.router`."""
    route = fake.router.route
    store = fake.store

    def handle_for(req: RestRequest) -> InteractionHandle | None:
        handle = fake.interactions.get(req.params["token"])
        if handle is None or int(req.params["application_id"]) != fake.world.application_id:
            return None
        return handle

    def message_for(handle: InteractionHandle, message_id: str) -> StoredMessage | None:
        if message_id == "@original":
            message = handle.original
        else:
            message = next((m for m in handle.followup_records if m.id == int(message_id)), None)
        return None if message is None or message.deleted else message

    def new_message(handle: InteractionHandle, kind: str, body: dict[str, Any], req: RestRequest) -> StoredMessage:
        message = store.create(
            channel_id=handle.channel_id, guild_id=handle.guild_id, author=fake.world.bot_user,
            kind=kind, body=body, uploads=req.files,  # type: ignore[arg-type]
        )
        message.webhook_id = fake.world.application_id
        return message

    @route("POST", "/interactions/{interaction_id}/{token}/callback", auth=False)
    async def callback(req: RestRequest) -> RestReply:
        handle = fake.interactions.get(req.params["token"])
        if handle is None or handle.id != req.id("interaction_id"):
            return unknown("interaction", UNKNOWN_INTERACTION)
        kind = int(req.json["type"])
        if handle.callbacks:
            handle.rejected.append(f"type {kind}: the interaction was already acknowledged")
            return error(400, ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged.")
        age = time.monotonic() - handle.sent_at
        if fake.interaction_deadline is not None and age > fake.interaction_deadline:
            handle.rejected.append(f"type {kind} after {age:.2f}s, past the {fake.interaction_deadline}s deadline")
            return unknown("interaction", UNKNOWN_INTERACTION)
        data: dict[str, Any] = req.json.get("data") or {}
        original: StoredMessage | None = None
        if kind == CHANNEL_MESSAGE:
            original = new_message(handle, "response", data, req)
        elif kind == DEFERRED_CHANNEL_MESSAGE:
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            original = new_message(handle, "response", {"flags": flags}, req)
        elif kind == UPDATE_MESSAGE and handle.source is not None:
            original = handle.source
            store.apply(original, data, req.files, editing=True)
        handle.record_callback(InteractionCallback(kind, data, time.monotonic()), original)
        if kind == CHANNEL_MESSAGE and original is not None:
            await fake.gateway_message_create(original)
        fake.changes.notify()
        answer: dict[str, Any] = {"interaction": {
            "id": str(handle.id),
            "type": handle.kind,
            "response_message_id": str(original.id) if original else None,
            "response_message_loading": kind == DEFERRED_CHANNEL_MESSAGE,
            "response_message_ephemeral": bool(original and original.flags & EPHEMERAL),
        }}
        if original is not None:
            answer["resource"] = {"type": kind, "message": store.payload(original)}
        return ok(answer)

    @route("POST", "/webhooks/{application_id}/{token}", auth=False)
    async def followup(req: RestRequest) -> RestReply:
        handle = handle_for(req)
        if handle is None or not handle.callbacks:
            return unknown("Webhook", UNKNOWN_WEBHOOK)
        original = handle.original
        if original is not None and original.flags & LOADING and not handle.followup_records:
            # Discord: the first follow-up after a defer fills in the "thinking" message, and the
            # defer's ephemeral choice wins over the follow-up's.
            body = {**req.json, "flags": int(req.json.get("flags") or 0) & ~EPHEMERAL}
            store.apply(original, body, req.files, editing=True)
            handle.record_followup(original, fills_original=True)
            fake.changes.notify()
            return ok(store.payload(original)) if req.query.get("wait") in ("1", "true", "True") else no_content()
        message = new_message(handle, "followup", req.json, req)
        handle.record_followup(message)
        if not message.flags & EPHEMERAL:
            await fake.gateway_message_create(message)
        fake.changes.notify()
        return ok(store.payload(message)) if req.query.get("wait") in ("1", "true", "True") else no_content()

    @route("GET", "/webhooks/{application_id}/{token}/messages/{message_id}", auth=False)
    async def get_message(req: RestRequest) -> RestReply:
        handle = handle_for(req)
        message = message_for(handle, req.params["message_id"]) if handle else None
        return ok(store.payload(message)) if message else unknown("Message", UNKNOWN_MESSAGE)

    @route("PATCH", "/webhooks/{application_id}/{token}/messages/{message_id}", auth=False)
    async def edit_message(req: RestRequest) -> RestReply:
        handle = handle_for(req)
        if handle is None:
            return unknown("Webhook", UNKNOWN_WEBHOOK)
        is_original = req.params["message_id"] == "@original"
        # After a deferred update (type 6) the "original" is the message whose component was used.
        message = (handle.original or handle.source) if is_original else message_for(handle, req.params["message_id"])
        if message is None or message.deleted:
            return unknown("Message", UNKNOWN_MESSAGE)
        store.apply(message, req.json, req.files, editing=True)
        if is_original or message is handle.original:
            handle.original = message
            handle.record_edit()
        fake.changes.notify()
        return ok(store.payload(message))

    @route("DELETE", "/webhooks/{application_id}/{token}/messages/{message_id}", auth=False)
    async def delete_message(req: RestRequest) -> RestReply:
        handle = handle_for(req)
        message = message_for(handle, req.params["message_id"]) if handle else None
        if message is None:
            return unknown("Message", UNKNOWN_MESSAGE)
        message.deleted = True
        fake.changes.notify()
        return no_content()
