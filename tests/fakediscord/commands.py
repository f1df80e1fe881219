"""Application commands the bot registered (global and per guild), as Discord stores them."""
from __future__ import annotations

import re
from typing import Any

import discord

from .world import Snowflakes

Json = dict[str, Any]

SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
# Discord's rule for chat-input command and option names, in every locale: letters of any script
# (so かな・漢字), digits, - and _, 1 to 32 of them, lower case where the script has case.
VALID_NAME = re.compile(r"^[-_\w\u0900-\u097f\u0e00-\u0e7f]{1,32}$")
LOCALES = frozenset(locale.value for locale in discord.Locale)


class InvalidCommand(ValueError):
    """Discord would answer 400 Invalid Form Body (code 50035) to this command payload."""


def check_command(command: Json) -> None:
    """Raise InvalidCommand where a chat-input command breaks Discord's naming and length rules."""
    if int(command.get("type", 1)) != 1:
        return
    _check_named(command, command["name"])


def _check_named(item: Json, where: str) -> None:
    for locale, name in [(None, item["name"]), *(item.get("name_localizations") or {}).items()]:
        if locale is not None and locale not in LOCALES:
            raise InvalidCommand(f"{where}: {locale!r} is not a Discord locale")
        if not VALID_NAME.match(name) or name.lower() != name:
            raise InvalidCommand(f"{where}: invalid name {name!r} ({locale or 'default'})")
    for locale, text in [(None, item.get("description", "")), *(item.get("description_localizations") or {}).items()]:
        if locale is not None and locale not in LOCALES:
            raise InvalidCommand(f"{where}: {locale!r} is not a Discord locale")
        if not 1 <= len(text) <= 100:
            raise InvalidCommand(f"{where}: description must be 1-100 characters ({locale or 'default'}): {text!r}")
    options: list[Json] = item.get("options") or []
    for locale in {None, *(k for o in options for k in (o.get("name_localizations") or {}))}:
        names = [(o.get("name_localizations") or {}).get(locale, o["name"]) if locale else o["name"] for o in options]
        if len(set(names)) != len(names):
            raise InvalidCommand(f"{where}: option names repeat in {locale or 'default'}: {names}")
    for option in options:
        _check_named(option, f"{where} {option['name']}")
        for choice in option.get("choices") or []:
            for text in [choice["name"], *(choice.get("name_localizations") or {}).values()]:
                if not 1 <= len(text) <= 100:
                    raise InvalidCommand(f"{where} {option['name']}: choice name must be 1-100 characters: {text!r}")


class CommandRegistry:
    """Keeps the last bulk-overwrite per scope; ids stay stable for a name, like Discord's."""

    def __init__(self, ids: Snowflakes, application_id: int) -> None:
        self._ids = ids
        self._application_id = application_id
        self.scopes: dict[int | None, list[Json]] = {}
        self.sync_count = 0
        self._known_ids: dict[tuple[int | None, str, int], int] = {}

    def overwrite(self, guild_id: int | None, commands: list[Json]) -> list[Json]:
        """PUT .../commands: replace every command in the scope and return them with ids (InvalidCommand: none)."""
        for command in commands:
            check_command(command)
        stored = [self._stored(guild_id, c) for c in commands]
        self.scopes[guild_id] = stored
        self.sync_count += 1
        return stored

    def upsert(self, guild_id: int | None, command: Json) -> Json:
        """POST .../commands: create or replace one command by name and type."""
        check_command(command)
        stored = self._stored(guild_id, command)
        kept = [c for c in self.scopes.get(guild_id, []) if (c["name"], c["type"]) != (stored["name"], stored["type"])]
        self.scopes[guild_id] = [*kept, stored]
        return stored

    def delete(self, guild_id: int | None, command_id: int) -> bool:
        """DELETE .../commands/{id}; False when no such command."""
        before = self.scopes.get(guild_id, [])
        after = [c for c in before if int(c["id"]) != command_id]
        self.scopes[guild_id] = after
        return len(after) != len(before)

    def _stored(self, guild_id: int | None, command: Json) -> Json:
        kind = int(command.get("type", 1))
        key = (guild_id, command["name"], kind)
        command_id = self._known_ids.setdefault(key, self._ids.next())
        stored: Json = {
            "default_member_permissions": None,
            "dm_permission": True,
            "nsfw": False,
            "options": [],
            "description": "",
            **command,
            "id": str(command_id),
            "application_id": str(self._application_id),
            "type": kind,
            "version": str(self._ids.next()),
        }
        if guild_id is not None:
            stored["guild_id"] = str(guild_id)
        return stored

    def localised(self, guild_id: int | None, locale: str) -> dict[str, str]:
        """Each chat-input command's name as a user with `locale` sees it, by its default name."""
        return {c["name"]: (c.get("name_localizations") or {}).get(locale, c["name"])
                for c in self.scopes.get(guild_id, []) if c["type"] == 1}

    def find(self, name: str, guild_id: int | None) -> Json | None:
        """The chat-input command a user in `guild_id` would run: a guild command first, else a global one."""
        for scope in dict.fromkeys((guild_id, None)):
            for command in self.scopes.get(scope, []):
                if command["name"] == name and command["type"] == 1:
                    return command
        return None

    def names(self, guild_id: int | None) -> list[str]:
        """Names of the chat-input commands visible in a guild."""
        seen = [c["name"] for scope in (guild_id, None) for c in self.scopes.get(scope, []) if c["type"] == 1]
        return sorted(set(seen))


def option_specs(command: Json | None, path: list[str]) -> dict[str, Json]:
    """The declared options (by name) of the (sub)command at `path` within `command`."""
    if command is None:
        return {}
    options: list[Json] = command.get("options") or []
    for part in path:
        nested = next((o for o in options if o["name"] == part and o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)), None)
        if nested is None:
            raise LookupError(f"/{command['name']} has no subcommand {part!r}")
        options = nested.get("options") or []
    return {o["name"]: o for o in options if o["type"] not in (SUB_COMMAND, SUB_COMMAND_GROUP)}
