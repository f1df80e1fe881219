"""JSON payloads shaped like Discord's API v10 ones, built from the fake world."""
from __future__ import annotations

import datetime
from typing import Any

import discord

from .world import EVERYONE_PERMISSIONS, FakeChannel, FakeGuild, FakeUser, VoiceStateRecord, World

JOINED_AT = "2025-01-01T00:00:00.000000+00:00"

Json = dict[str, Any]


def iso_now() -> str:
    """The current time as Discord writes timestamps."""
    return datetime.datetime.now(datetime.UTC).isoformat()


def user(u: FakeUser) -> Json:
    """A user object."""
    return {
        "id": str(u.id),
        "username": u.name,
        "global_name": None if u.bot else u.name.capitalize(),
        "discriminator": "0",
        "avatar": None,
        "bot": u.bot,
        "public_flags": 0,
        "flags": 0,
    }


def client_user(u: FakeUser) -> Json:
    """The logged-in user as /users/@me answers."""
    return {**user(u), "verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"}


def member(guild: FakeGuild, u: FakeUser, *, with_permissions: bool = False) -> Json:
    """A guild member object (optionally with the `permissions` field interactions carry)."""
    data: Json = {
        "user": user(u),
        "nick": None,
        "roles": [str(guild.admin_role_id)] if u.admin else [],
        "joined_at": JOINED_AT,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
    }
    if with_permissions:
        data["permissions"] = str(guild.permissions_of(u).value)
    return data


def channel(c: FakeChannel) -> Json:
    """A guild text or voice channel object."""
    data: Json = {
        "id": str(c.id),
        "type": c.type,
        "guild_id": str(c.guild_id),
        "name": c.name,
        "position": c.position,
        "permission_overwrites": [
            {"id": str(uid), "type": 1, "allow": "0", "deny": str(discord.Permissions(view_channel=True).value)}
            for uid in sorted(c.hidden_from)
        ],
        "parent_id": None,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
    }
    if c.kind == "voice":
        data.update(bitrate=64000, user_limit=0, rtc_region=None)
    else:
        data.update(topic=None)
    return data


def roles(guild: FakeGuild) -> list[Json]:
    """@everyone plus an Admin role (administrator)."""
    base = {"color": 0, "hoist": False, "icon": None, "unicode_emoji": None, "managed": False, "mentionable": False}
    return [
        {**base, "id": str(guild.id), "name": "@everyone", "position": 0,
         "permissions": str(EVERYONE_PERMISSIONS.value)},
        {**base, "id": str(guild.admin_role_id), "name": "Admin", "position": 1, "permissions": str(8)},
    ]


def voice_state(guild: FakeGuild, u: FakeUser, record: VoiceStateRecord | None, *, session_id: str = "") -> Json:
    """A voice state; `record` None means the member is in no channel."""
    return {
        "guild_id": str(guild.id),
        "channel_id": str(record.channel_id) if record else None,
        "user_id": str(u.id),
        "member": member(guild, u),
        "session_id": record.session_id if record else session_id,
        "deaf": False,
        "mute": False,
        "self_deaf": record.self_deaf if record else False,
        "self_mute": record.self_mute if record else False,
        "self_stream": False,
        "self_video": False,
        "suppress": False,
        "request_to_speak_timestamp": None,
    }


def guild(g: FakeGuild, *, all_members: bool, bot: FakeUser) -> Json:
    """A GUILD_CREATE payload; without the members intent Discord only sends the bot and members in voice."""
    shown = [m for m in g.members if all_members or m.id == bot.id or m.id in g.voice_states]
    return {
        "id": str(g.id),
        "name": g.name,
        "icon": None,
        "owner_id": str(g.owner_id),
        "unavailable": False,
        "large": False,
        "member_count": len(g.members),
        "joined_at": JOINED_AT,
        "features": [],
        "preferred_locale": g.locale,
        "roles": roles(g),
        "emojis": [],
        "stickers": [],
        "channels": [channel(c) for c in g.channels],
        "threads": [],
        "members": [member(g, m) for m in shown],
        "voice_states": [
            {k: v for k, v in voice_state(g, g.member(uid), rec).items() if k != "guild_id"}  # type: ignore[arg-type]
            for uid, rec in g.voice_states.items()
        ],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "premium_tier": 0,
        "system_channel_id": str(g.text.id),
    }


def application(world: World) -> Json:
    """/oauth2/applications/@me."""
    return {
        "id": str(world.application_id),
        "name": world.bot_user.name,
        "icon": None,
        "description": "Fake application",
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": user(world.users["alice"]),
        "team": None,
        "verify_key": "0" * 64,
        "flags": 0,
        "summary": "",
        "bot": user(world.bot_user),
        "interactions_endpoint_url": None,
        "redirect_uris": [],
        "tags": [],
    }
