"""REST routes for login, the gateway URL, application commands, and guild/channel/member lookups."""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import payloads
from .commands import InvalidCommand
from .rest import RestReply, RestRequest, error, no_content, ok, unknown

if TYPE_CHECKING:
    from .server import FakeDiscord
    from .world import FakeGuild


def register(fake: FakeDiscord) -> None:
    """Add the routes to `fake.router`."""
    route = fake.router.route
    world = fake.world

    @route("GET", "/users/@me")
    async def me(_: RestRequest) -> RestReply:
        return ok(payloads.client_user(world.bot_user))

    @route("GET", "/users/{user_id}")
    async def get_user(req: RestRequest) -> RestReply:
        try:
            return ok(payloads.user(world.user(req.id("user_id"))))
        except LookupError:
            return unknown("User", 10013)

    @route("GET", "/oauth2/applications/@me")
    @route("GET", "/applications/@me")
    async def application(_: RestRequest) -> RestReply:
        return ok(payloads.application(world))

    @route("GET", "/gateway")
    async def gateway(_: RestRequest) -> RestReply:
        return ok({"url": fake.gateway_url})

    @route("GET", "/gateway/bot")
    async def gateway_bot(_: RestRequest) -> RestReply:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return ok({"url": fake.gateway_url, "shards": 1, "session_start_limit": limit})

    for prefix in ("/applications/{application_id}", "/applications/{application_id}/guilds/{guild_id}"):

        @route("GET", prefix + "/commands")
        async def list_commands(req: RestRequest) -> RestReply:
            return ok(fake.commands.scopes.get(_scope(req), []))

        @route("PUT", prefix + "/commands")
        async def overwrite_commands(req: RestRequest) -> RestReply:
            try:
                stored = fake.commands.overwrite(_scope(req), req.body or [])
            except InvalidCommand as invalid:
                return error(400, 50035, f"Invalid Form Body: {invalid}")
            fake.changes.notify()
            return ok(stored)

        @route("POST", prefix + "/commands")
        async def upsert_command(req: RestRequest) -> RestReply:
            try:
                stored = fake.commands.upsert(_scope(req), req.json)
            except InvalidCommand as invalid:
                return error(400, 50035, f"Invalid Form Body: {invalid}")
            fake.changes.notify()
            return RestReply(201, stored)

        @route("DELETE", prefix + "/commands/{command_id}")
        async def delete_command(req: RestRequest) -> RestReply:
            found = fake.commands.delete(_scope(req), req.id("command_id"))
            return no_content() if found else unknown("application command", 10063)

    @route("GET", "/guilds/{guild_id}")
    async def get_guild(req: RestRequest) -> RestReply:
        guild = _guild(fake, req)
        if guild is None:
            return unknown("Guild", 10004)
        return ok(payloads.guild(guild, all_members=False, bot=world.bot_user))

    @route("GET", "/guilds/{guild_id}/channels")
    async def guild_channels(req: RestRequest) -> RestReply:
        guild = _guild(fake, req)
        return ok([payloads.channel(c) for c in guild.channels]) if guild else unknown("Guild", 10004)

    @route("GET", "/guilds/{guild_id}/roles")
    async def guild_roles(req: RestRequest) -> RestReply:
        guild = _guild(fake, req)
        return ok(payloads.roles(guild)) if guild else unknown("Guild", 10004)

    @route("GET", "/guilds/{guild_id}/members")
    async def guild_members(req: RestRequest) -> RestReply:
        guild = _guild(fake, req)
        return ok([payloads.member(guild, m) for m in guild.members]) if guild else unknown("Guild", 10004)

    @route("GET", "/guilds/{guild_id}/members/{user_id}")
    async def guild_member(req: RestRequest) -> RestReply:
        guild = _guild(fake, req)
        member = guild.member(req.id("user_id")) if guild else None
        return ok(payloads.member(guild, member)) if guild and member else unknown("Member", 10007)

    @route("PATCH", "/guilds/{guild_id}/members/@me")
    async def edit_me(req: RestRequest) -> RestReply:
        guild = _guild(fake, req)
        return ok(payloads.member(guild, world.bot_user)) if guild else unknown("Guild", 10004)

    @route("GET", "/channels/{channel_id}")
    async def get_channel(req: RestRequest) -> RestReply:
        channel = world.channel(req.id("channel_id"))
        return ok(payloads.channel(channel)) if channel else unknown("Channel", 10003)

    @route("POST", "/auth/logout")
    async def logout(_: RestRequest) -> RestReply:
        return no_content()


def _scope(req: RestRequest) -> int | None:
    return int(req.params["guild_id"]) if "guild_id" in req.params else None


def _guild(fake: FakeDiscord, req: RestRequest) -> FakeGuild | None:
    try:
        return fake.world.guild(req.id("guild_id"))
    except LookupError:
        return None
