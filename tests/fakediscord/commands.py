"""Application commands the bot registered (global and per guild), as Discord stores them."""
from __future__ import annotations

from typing import Any

from .world import Snowflakes

Json = dict[str, Any]

SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2


class CommandRegistry:
    """Keeps the last bulk-overwrite per scope; ids stay stable for a name, like Discord's."""

    def __init__(self, ids: Snowflakes, application_id: int) -> None:
        self._ids = ids
        self._application_id = application_id
        self.scopes: dict[int | None, list[Json]] = {}
        self.sync_count = 0
        self._known_ids: dict[tuple[int | None, str, int], int] = {}

    def overwrite(self, guild_id: int | None, commands: list[Json]) -> list[Json]:
        """PUT .../commands: replace every command in the scope and return them with ids."""
        stored = [self._stored(guild_id, c) for c in commands]
        self.scopes[guild_id] = stored
        self.sync_count += 1
        return stored

    def upsert(self, guild_id: int | None, command: Json) -> Json:
        """POST .../commands: create or replace one command by name and type."""
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
