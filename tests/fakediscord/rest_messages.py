"""REST routes for channel messages: send (JSON or multipart), fetch, edit, delete, reactions, typing."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .rest import RestReply, RestRequest, error, no_content, ok, unknown

if TYPE_CHECKING:
    from .messages import StoredMessage
    from .server import FakeDiscord

CANNOT_EDIT_OTHERS = 50005


def register(fake: FakeDiscord) -> None:
    """Add the routes to `fake.router`."""
    route = fake.router.route
    store = fake.store

    def find(req: RestRequest) -> StoredMessage | None:
        message = store.by_id.get(req.id("message_id"))
        if message is None or message.deleted or message.channel_id != req.id("channel_id"):
            return None
        return message

    @route("POST", "/channels/{channel_id}/messages")
    async def send(req: RestRequest) -> RestReply:
        channel = fake.world.channel(req.id("channel_id"))
        if channel is None:
            return unknown("Channel", 10003)
        message = store.create(
            channel_id=channel.id, guild_id=channel.guild_id, author=fake.world.bot_user, kind="channel",
            body=req.json, uploads=req.files,
        )
        await fake.gateway_message_create(message)
        fake.changes.notify()
        return ok(store.payload(message))

    @route("GET", "/channels/{channel_id}/messages")
    async def history(req: RestRequest) -> RestReply:
        limit = int(req.query.get("limit", 50))
        messages = [m for m in store.by_id.values() if m.channel_id == req.id("channel_id") and not m.deleted]
        return ok([store.payload(m) for m in reversed(messages)][:limit])

    @route("GET", "/channels/{channel_id}/messages/{message_id}")
    async def fetch(req: RestRequest) -> RestReply:
        message = find(req)
        return ok(store.payload(message)) if message else unknown("Message", 10008)

    @route("PATCH", "/channels/{channel_id}/messages/{message_id}")
    async def edit(req: RestRequest) -> RestReply:
        message = find(req)
        if message is None:
            return unknown("Message", 10008)
        if message.author.id != fake.world.bot_user.id:
            return error(403, CANNOT_EDIT_OTHERS, "Cannot edit a message authored by another user")
        store.apply(message, req.json, req.files, editing=True)
        fake.changes.notify()
        return ok(store.payload(message))

    @route("DELETE", "/channels/{channel_id}/messages/{message_id}")
    async def delete(req: RestRequest) -> RestReply:
        message = find(req)
        if message is None:
            return unknown("Message", 10008)
        message.deleted = True
        await fake.gateway.dispatch("MESSAGE_DELETE", {
            "id": str(message.id), "channel_id": str(message.channel_id), "guild_id": str(message.guild_id),
        })
        fake.changes.notify()
        return no_content()

    @route("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
    async def react(req: RestRequest) -> RestReply:
        message = find(req)
        if message is None:
            return unknown("Message", 10008)
        if req.params["emoji"] not in message.reactions:
            message.reactions.append(req.params["emoji"])
        fake.changes.notify()
        return no_content()

    @route("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
    async def unreact(req: RestRequest) -> RestReply:
        message = find(req)
        if message is None:
            return unknown("Message", 10008)
        if req.params["emoji"] in message.reactions:
            message.reactions.remove(req.params["emoji"])
        fake.changes.notify()
        return no_content()

    @route("POST", "/channels/{channel_id}/typing")
    async def typing(_: RestRequest) -> RestReply:
        return no_content()
