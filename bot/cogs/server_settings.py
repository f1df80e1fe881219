"""/server: per-server settings behind the Manage Server permission, and /optout for everyone."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from ..text.message import ReadingSettings
from ..i18n import UserFacing
from ..i18n.replies import text_for
from ..user_errors import UserError

if TYPE_CHECKING:
    from ..app import LlasaBot



class NeedsManageServer(UserFacing, app_commands.CheckFailure):
    """/server settings need the Manage Server permission."""


ReadingRule = Literal[tuple(f.name for f in dataclasses.fields(ReadingSettings))]  # type: ignore[valid-type]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ServerSettingsCog(commands.GroupCog, group_name="server", group_description="Server settings (Manage Server)"):
    def __init__(self, bot: "LlasaBot") -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        perms = getattr(interaction.user, "guild_permissions", None)
        if perms is None or not perms.manage_guild:
            raise NeedsManageServer("server.needs_manage")
        return True

    @app_commands.command(name="show", description="Show this server's settings")
    async def show(self, interaction: discord.Interaction) -> None:
        s = await self.bot.guild_settings.get(interaction.guild_id)  # type: ignore[arg-type]
        reading = ReadingSettings.from_dict(s.reading, ignore_unknown=True)

        def on_off(value: bool) -> str:
            return text_for(interaction, "server.on") if value else text_for(interaction, "server.off")

        await interaction.response.send_message(text_for(
            interaction, "server.settings",
            auto_join=f"<#{s.auto_join_channel_id}>" if s.auto_join_channel_id else text_for(interaction, "server.off"),
            announce_names=on_off(s.announce_names), pause=s.name_pause_seconds, join_leave=on_off(s.announce_join_leave),
            only_members=on_off(s.read_only_members_in_voice), prefix=repr(s.skip_prefix),
            role=f"<@&{s.required_role_id}>" if s.required_role_id else text_for(interaction, "server.no_role"),
            queue=s.max_queue, seconds=s.max_seconds or text_for(interaction, "server.bot_limit"),
            speed=f"{s.read_speed:g}", chars=reading.max_chars,
            reading=", ".join(f"{k}={v}" for k, v in reading.to_dict().items())), ephemeral=True)

    @app_commands.command(name="autojoin", description="Join this voice channel whenever someone enters it (empty: off)")
    async def autojoin(self, interaction: discord.Interaction, channel: discord.VoiceChannel | None = None) -> None:
        await self.bot.guild_settings.update(interaction.guild_id, auto_join_channel_id=channel.id if channel else None)  # type: ignore[arg-type]
        await interaction.response.send_message(
            text_for(interaction, "server.autojoin_on", channel=channel.mention) if channel
            else text_for(interaction, "server.autojoin_off"), ephemeral=True)

    @app_commands.command(name="announce", description="Name and join/leave announcements")
    async def announce(self, interaction: discord.Interaction, names: bool | None = None,
                       pause_seconds: app_commands.Range[int, 0, 3600] | None = None,
                       join_leave: bool | None = None) -> None:
        changes = {k: v for k, v in (("announce_names", names), ("name_pause_seconds", pause_seconds),
                                     ("announce_join_leave", join_leave)) if v is not None}
        await self._update(interaction, changes)

    @app_commands.command(name="filter", description="Whose messages are read")
    async def filter(self, interaction: discord.Interaction, only_members_in_voice: bool | None = None,
                     skip_prefix: app_commands.Range[str, 0, 5] | None = None,
                     required_role: discord.Role | None = None, clear_required_role: bool = False,
                     queue_limit: app_commands.Range[int, 1, 100] | None = None) -> None:
        changes: dict[str, object] = {k: v for k, v in (("read_only_members_in_voice", only_members_in_voice),
                                                        ("skip_prefix", skip_prefix), ("max_queue", queue_limit)) if v is not None}
        if required_role is not None or clear_required_role:
            changes["required_role_id"] = None if clear_required_role else required_role.id  # type: ignore[union-attr]
        await self._update(interaction, changes)

    @app_commands.command(name="limits", description="Seconds of speech per message, read speed, characters read")
    @app_commands.describe(max_seconds="Longest speech for one message (3–600 s; capped by the bot's own limit)",
                           read_speed="Read-aloud speed 0.5–2.0 (the Captions model's speed hint)",
                           max_chars="Longer messages are cut and end with 以下略 (1–2000)",
                           clear_max_seconds="Use the bot's own limit again")
    async def limits(self, interaction: discord.Interaction,
                     max_seconds: app_commands.Range[int, 3, 600] | None = None,
                     read_speed: app_commands.Range[float, 0.5, 2.0] | None = None,
                     max_chars: app_commands.Range[int, 1, 2000] | None = None,
                     clear_max_seconds: bool = False) -> None:
        changes: dict[str, object] = {}
        if max_seconds is not None or clear_max_seconds:
            ceiling = int(self.bot.config.limits.max_clip_seconds)
            if max_seconds is not None and max_seconds > ceiling:
                raise UserError("server.seconds_over_ceiling", ceiling=ceiling)
            changes["max_seconds"] = None if clear_max_seconds else max_seconds
        if read_speed is not None:
            changes["read_speed"] = round(read_speed, 2)
        if max_chars is not None:
            settings = await self.bot.guild_settings.get(interaction.guild_id)  # type: ignore[arg-type]
            reading = ReadingSettings.from_dict(settings.reading, ignore_unknown=True).to_dict() | {"max_chars": max_chars}
            changes["reading"] = ReadingSettings.from_dict(reading).to_dict()
        await self._update(interaction, changes)

    @app_commands.command(name="reading", description="Change one read-aloud rule (see /server show)")
    async def reading(self, interaction: discord.Interaction, rule: ReadingRule, value: str) -> None:  # type: ignore[valid-type]
        settings = await self.bot.guild_settings.get(interaction.guild_id)  # type: ignore[arg-type]
        current = ReadingSettings.from_dict(settings.reading, ignore_unknown=True).to_dict()
        current[rule] = _parse(value, current[rule])
        checked = ReadingSettings.from_dict(current)  # SettingsError (a user error) on a bad value
        await self._update(interaction, {"reading": checked.to_dict()})

    async def _update(self, interaction: discord.Interaction, changes: dict[str, object]) -> None:
        if not changes:
            raise UserError("server.nothing_to_change")
        await self.bot.guild_settings.update(interaction.guild_id, **changes)  # type: ignore[arg-type]
        await interaction.response.send_message(
            text_for(interaction, "server.saved", changes=", ".join(f"{k}={v}" for k, v in changes.items())), ephemeral=True)


def _parse(value: str, like: object) -> object:
    """A typed value from the text a user typed, shaped like the current value."""
    if isinstance(like, bool):
        lowered = value.strip().lower()
        if lowered in ("true", "on", "yes", "1"):
            return True
        if lowered in ("false", "off", "no", "0"):
            return False
        raise UserError("server.not_on_off", value=repr(value))
    if isinstance(like, int):
        try:
            return int(value)
        except ValueError:
            raise UserError("server.not_whole_number", value=repr(value)) from None
    return value.strip()


class OptOutCog(commands.Cog):
    def __init__(self, bot: "LlasaBot") -> None:
        self.bot = bot

    @app_commands.command(name="optout", description="Stop (or resume) reading your messages aloud in this server")
    @app_commands.guild_only()
    async def optout(self, interaction: discord.Interaction, resume: bool = False) -> None:
        assert interaction.guild_id is not None
        if resume:
            await self.bot.guild_settings.opt_in(interaction.guild_id, interaction.user.id)
            await interaction.response.send_message(text_for(interaction, "optout.resumed"), ephemeral=True)
        else:
            await self.bot.guild_settings.opt_out(interaction.guild_id, interaction.user.id)
            await interaction.response.send_message(text_for(interaction, "optout.opted_out"), ephemeral=True)
