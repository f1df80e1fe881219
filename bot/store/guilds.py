"""Per-server settings (read-aloud channels, announcements, limits) and the users who opted out."""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .database import Database, Transaction
from .errors import StoreLimitError
from .validation import check_bool, check_float, check_id, check_int, check_optional_id, check_text, with_changes

MAX_READ_CHANNELS = 10
MAX_SKIP_PREFIX_CHARS = 8
MAX_NAME_PAUSE_SECONDS = 3_600
MAX_QUEUE = 1_000
MAX_READING_JSON_CHARS = 20_000
MIN_SECONDS_PER_MESSAGE, MAX_SECONDS_PER_MESSAGE = 3, 600
MIN_READ_SPEED, MAX_READ_SPEED = 0.5, 2.0


@dataclass(frozen=True)
class GuildSettings:
    """One server's settings; a server that never changed anything gets these defaults."""

    guild_id: int
    read_channel_ids: tuple[int, ...] = ()         # text channels read aloud; survive restarts
    auto_join_channel_id: int | None = None        # join this voice channel when someone enters
    announce_names: bool = True                    # say who is speaking before their message
    name_pause_seconds: int = 30                   # …unless they also spoke last, this recently
    announce_join_leave: bool = True
    read_only_members_in_voice: bool = True
    skip_prefix: str = ";"                         # messages starting with it are not read; "" reads all
    required_role_id: int | None = None            # only members with this role are read
    max_queue: int = 20
    reading: dict[str, Any] = field(default_factory=dict)  # text-rule settings, owned by bot.text
    max_seconds: int | None = None                 # seconds of speech per message; None: the bot's limit
    read_speed: float = 1.0                        # how fast read-aloud asks voices to speak

    def __post_init__(self) -> None:
        check_id("guild_id", self.guild_id)
        channels = tuple(sorted({check_id("read_channel_ids", c) for c in self.read_channel_ids}))
        if len(channels) > MAX_READ_CHANNELS:
            raise StoreLimitError("store.read_channels", limit=MAX_READ_CHANNELS)
        object.__setattr__(self, "read_channel_ids", channels)
        check_optional_id("auto_join_channel_id", self.auto_join_channel_id)
        check_optional_id("required_role_id", self.required_role_id)
        for name in ("announce_names", "announce_join_leave", "read_only_members_in_voice"):
            check_bool(name, getattr(self, name))
        check_int("name_pause_seconds", self.name_pause_seconds, 0, MAX_NAME_PAUSE_SECONDS)
        check_text("skip_prefix", self.skip_prefix, MAX_SKIP_PREFIX_CHARS)
        check_int("max_queue", self.max_queue, 1, MAX_QUEUE)
        if self.max_seconds is not None:
            check_int("max_seconds", self.max_seconds, MIN_SECONDS_PER_MESSAGE, MAX_SECONDS_PER_MESSAGE)
        object.__setattr__(self, "read_speed", check_float("read_speed", self.read_speed, MIN_READ_SPEED, MAX_READ_SPEED))
        # A round trip through JSON both checks it can be stored and detaches it from the caller's dict.
        object.__setattr__(self, "reading", json.loads(_reading_json(self.reading)))


def _reading_json(reading: object) -> str:
    if not isinstance(reading, dict):
        raise TypeError(f"reading must be a dict, not {type(reading).__name__}")
    try:
        text = json.dumps(reading, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"reading settings must be plain JSON values: {exc}") from None
    if len(text) > MAX_READING_JSON_CHARS:
        raise StoreLimitError("store.reading_too_large")
    return text


# Columns of guild_settings, in GuildSettings order; read_channel_ids lives in its own table.
_COLUMNS = tuple(f.name for f in dataclasses.fields(GuildSettings) if f.name != "read_channel_ids")
_UPSERT = (
    f"INSERT INTO guild_settings ({', '.join(_COLUMNS)}, updated_at) "
    f"VALUES ({', '.join('?' * len(_COLUMNS))}, ?) "
    f"ON CONFLICT (guild_id) DO UPDATE SET "
    f"{', '.join(f'{c} = excluded.{c}' for c in (*_COLUMNS[1:], 'updated_at'))}"
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM guild_settings WHERE guild_id = ?"
_SELECT_CHANNELS = "SELECT channel_id FROM guild_read_channels WHERE guild_id = ? ORDER BY channel_id"


class GuildSettingsStore:
    """Reads and writes `GuildSettings`, and each server's opted-out users."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def get(self, guild_id: int) -> GuildSettings:
        """The server's settings, or the defaults when it never saved any."""
        async with self._db.snapshot() as tx:  # both tables as of one moment
            return await _load(tx, check_id("guild_id", guild_id))

    async def save(self, settings: GuildSettings) -> GuildSettings:
        """Store every field (read channels included) atomically; returns what was stored."""
        async with self._db.transaction() as tx:
            await self._write(tx, settings)
        return settings

    async def update(self, guild_id: int, /, **changes: Any) -> GuildSettings:
        """Change some fields atomically; an unknown field name raises UnknownFieldError."""
        async with self._db.transaction() as tx:
            current = await _load(tx, check_id("guild_id", guild_id))
            updated = with_changes(current, changes, fixed=frozenset({"guild_id"}), what="server")
            await self._write(tx, updated)
        return updated

    async def read_channels(self) -> dict[int, tuple[int, ...]]:
        """Every server's bound text channels (guild id → channel ids), to resume reading at start-up."""
        rows = await self._db.fetch_all(
            "SELECT guild_id, channel_id FROM guild_read_channels ORDER BY guild_id, channel_id")
        bound: dict[int, list[int]] = {}
        for guild_id, channel_id in rows:
            bound.setdefault(guild_id, []).append(channel_id)
        return {guild_id: tuple(channels) for guild_id, channels in bound.items()}

    async def forget(self, guild_id: int) -> None:
        """Delete everything stored for a server (settings, read channels, opt-outs), e.g. when it removes the bot."""
        guild_id = check_id("guild_id", guild_id)
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM guild_settings WHERE guild_id = ?", (guild_id,))  # channels cascade
            await tx.execute("DELETE FROM guild_opt_outs WHERE guild_id = ?", (guild_id,))

    # Opted-out users: never read aloud in that server -----------------------------------------
    async def opt_out(self, guild_id: int, user_id: int) -> None:
        """Stop reading the user's messages in this server (doing it twice is harmless)."""
        async with self._db.transaction() as tx:
            await tx.execute("INSERT OR IGNORE INTO guild_opt_outs (guild_id, user_id) VALUES (?, ?)",
                             (check_id("guild_id", guild_id), check_id("user_id", user_id)))

    async def opt_in(self, guild_id: int, user_id: int) -> None:
        """Read the user's messages again (harmless when they never opted out)."""
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM guild_opt_outs WHERE guild_id = ? AND user_id = ?",
                             (check_id("guild_id", guild_id), check_id("user_id", user_id)))

    async def is_opted_out(self, guild_id: int, user_id: int) -> bool:
        row = await self._db.fetch_one("SELECT 1 FROM guild_opt_outs WHERE guild_id = ? AND user_id = ?",
                                       (check_id("guild_id", guild_id), check_id("user_id", user_id)))
        return row is not None

    async def opted_out(self, guild_id: int) -> frozenset[int]:
        """Every user who opted out in this server."""
        rows = await self._db.fetch_all("SELECT user_id FROM guild_opt_outs WHERE guild_id = ?",
                                        (check_id("guild_id", guild_id),))
        return frozenset(row[0] for row in rows)

    async def _write(self, tx: Transaction, settings: GuildSettings) -> None:
        values = [getattr(settings, c) for c in _COLUMNS]
        values[_COLUMNS.index("reading")] = _reading_json(settings.reading)
        await tx.execute(_UPSERT, [*values, self._clock()])
        await tx.execute("DELETE FROM guild_read_channels WHERE guild_id = ?", (settings.guild_id,))
        await tx.executemany("INSERT INTO guild_read_channels (guild_id, channel_id) VALUES (?, ?)",
                             [(settings.guild_id, c) for c in settings.read_channel_ids])


async def _load(tx: Transaction, guild_id: int) -> GuildSettings:
    row = await tx.fetch_one(_SELECT, (guild_id,))
    if row is None:
        return GuildSettings(guild_id)
    values = dict(zip(_COLUMNS, row))
    for name in ("announce_names", "announce_join_leave", "read_only_members_in_voice"):
        values[name] = bool(values[name])  # SQLite keeps booleans as 0/1
    values["reading"] = json.loads(values["reading"])
    channels = await tx.fetch_all(_SELECT_CHANNELS, (guild_id,))
    return GuildSettings(read_channel_ids=tuple(r[0] for r in channels), **values)
