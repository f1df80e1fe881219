"""INTERACTION_CREATE payloads: slash commands, autocomplete, button clicks and modal submits."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import payloads
from .commands import option_specs
from .messages import Upload
from .world import BOT_PERMISSIONS, FakeChannel, FakeGuild, FakeUser

Json = dict[str, Any]
OptionValue = str | int | float | bool | FakeUser | FakeChannel | Upload

# Discord's option types.
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11
APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


@dataclass(frozen=True)
class Invoker:
    """Who runs the interaction, and where."""

    user: FakeUser
    guild: FakeGuild
    channel: FakeChannel


def envelope(kind: int, interaction_id: int, token: str, application_id: int, who: Invoker, data: Json) -> Json:
    """The outer interaction object shared by every interaction type."""
    guild = who.guild
    return {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": kind,
        "token": token,
        "version": 1,
        "guild_id": str(guild.id),
        "guild": {"id": str(guild.id), "locale": guild.locale, "features": []},
        "channel_id": str(who.channel.id),
        "channel": payloads.channel(who.channel),
        "member": payloads.member(guild, who.user, with_permissions=True),
        "app_permissions": str(BOT_PERMISSIONS.value),
        "locale": who.user.locale,
        "guild_locale": guild.locale,
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        "data": data,
    }


class CommandOptions:
    """Turns `{"name": value}` into Discord's typed options plus the `resolved` map."""

    def __init__(self, guild: FakeGuild, publish: Callable[[Upload], tuple[int, str]]) -> None:
        self._guild = guild
        self._publish = publish
        self.resolved: dict[str, dict[str, Json]] = {}

    def build(
        self, command: Json | None, path: list[str], values: Mapping[str, OptionValue], focused: str | None
    ) -> list[Json]:
        """Options for the (sub)command at `path`; `focused` marks the option being autocompleted."""
        specs = option_specs(command, path)
        leaf: list[Json] = []
        for name, value in values.items():
            spec = specs.get(name)
            if command is not None and spec is None:
                raise LookupError(f"/{command['name']} {' '.join(path)} has no option {name!r}; it has {sorted(specs)}")
            kind = int(spec["type"]) if spec else infer_type(value)
            option: Json = {"name": name, "type": kind, "value": self._value(kind, value)}
            if name == focused:
                option.update(focused=True, value=str(value))
            leaf.append(option)
        if focused is not None and focused not in values:
            kind = int(specs[focused]["type"]) if focused in specs else STRING
            leaf.append({"name": focused, "type": kind, "value": "", "focused": True})
        for depth, part in reversed(list(enumerate(path))):
            kind = 1 if depth == len(path) - 1 else 2
            leaf = [{"name": part, "type": kind, "options": leaf}]
        return leaf

    def _value(self, kind: int, value: OptionValue) -> Any:
        if kind == USER and isinstance(value, FakeUser):
            self.resolved.setdefault("users", {})[str(value.id)] = payloads.user(value)
            member = payloads.member(self._guild, value, with_permissions=True)
            del member["user"]
            self.resolved.setdefault("members", {})[str(value.id)] = member
            return str(value.id)
        if kind == CHANNEL and isinstance(value, FakeChannel):
            data = {**payloads.channel(value), "permissions": str(BOT_PERMISSIONS.value)}
            self.resolved.setdefault("channels", {})[str(value.id)] = data
            return str(value.id)
        if kind == ATTACHMENT and isinstance(value, Upload):
            attachment_id, url = self._publish(value)
            self.resolved.setdefault("attachments", {})[str(attachment_id)] = {
                "id": str(attachment_id),
                "filename": value.filename,
                "size": len(value.data),
                "url": url,
                "proxy_url": url,
                "content_type": value.content_type,
            }
            return str(attachment_id)
        if kind == INTEGER:
            return int(value)  # type: ignore[arg-type]
        if kind == NUMBER:
            return float(value)  # type: ignore[arg-type]
        if kind == BOOLEAN:
            return bool(value)
        return value if not isinstance(value, (FakeUser, FakeChannel)) else str(value.id)


def infer_type(value: OptionValue) -> int:
    """The option type for a Python value, used when the command was never synced."""
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, FakeUser):
        return USER
    if isinstance(value, FakeChannel):
        return CHANNEL
    if isinstance(value, Upload):
        return ATTACHMENT
    return STRING


def command_data(command: Json | None, name: str, fallback_id: int, options: list[Json], resolved: Json) -> Json:
    """The `data` of an application-command or autocomplete interaction."""
    data: Json = {
        "id": command["id"] if command else str(fallback_id),
        "name": name,
        "type": 1,
        "options": options,
    }
    if resolved:
        data["resolved"] = resolved
    if command and command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    return data


def modal_data(custom_id: str, values: Mapping[str, str]) -> Json:
    """The `data` of a modal submit: one text input per row, keyed by custom_id."""
    rows = [{"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]} for key, value in values.items()]
    return {"custom_id": custom_id, "components": rows}
