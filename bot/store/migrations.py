"""The schema, as an ordered list of migrations; migration N takes the database to version N."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import SchemaTooNewError

if TYPE_CHECKING:
    from .database import Database

# One tuple of statements per version, never edited once released: add a new entry instead.
# (Statements rather than one script: sqlite3's executescript commits on its own, which would
# break the one-transaction-per-migration rule.)
Migration = tuple[str, ...]

_V1: Migration = (
    # Global per user: a voice follows its owner across servers.
    """CREATE TABLE voice_profiles (
        user_id              INTEGER PRIMARY KEY,
        preset               TEXT,
        caption              TEXT,             -- JSON object of caption fields, NULL: none
        reference            BLOB,             -- speech codes, uint16 little-endian
        reference_transcript TEXT    NOT NULL DEFAULT '',
        reference_name       TEXT    NOT NULL DEFAULT '',
        temperature          REAL,
        top_p                REAL,
        top_k                INTEGER,
        repeat_penalty       REAL,
        seed                 INTEGER,
        spoken_name          TEXT,
        updated_at           REAL    NOT NULL  -- unix seconds
    )""",
    """CREATE TABLE guild_settings (
        guild_id                   INTEGER PRIMARY KEY,
        auto_join_channel_id       INTEGER,
        announce_names             INTEGER NOT NULL,
        name_pause_seconds         INTEGER NOT NULL,
        announce_join_leave        INTEGER NOT NULL,
        read_only_members_in_voice INTEGER NOT NULL,
        skip_prefix                TEXT    NOT NULL,
        required_role_id           INTEGER,
        max_queue                  INTEGER NOT NULL,
        reading                    TEXT    NOT NULL DEFAULT '{}',  -- JSON, owned by bot.text
        updated_at                 REAL    NOT NULL
    )""",
    # A table rather than a JSON column so start-up can find every guild to resume reading in.
    """CREATE TABLE guild_read_channels (
        guild_id   INTEGER NOT NULL REFERENCES guild_settings (guild_id) ON DELETE CASCADE,
        channel_id INTEGER NOT NULL,
        PRIMARY KEY (guild_id, channel_id)
    ) WITHOUT ROWID""",
    # No foreign key: opting out must not need (or create) a settings row.
    """CREATE TABLE guild_opt_outs (
        guild_id INTEGER NOT NULL,
        user_id  INTEGER NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    ) WITHOUT ROWID""",
    # NOCASE folds ASCII only, exactly as bot.text's matcher does: "Discord" and "discord" are one word.
    """CREATE TABLE dictionary_entries (
        scope_kind TEXT    NOT NULL CHECK (scope_kind IN ('guild', 'user')),
        scope_id   INTEGER NOT NULL,
        word       TEXT    NOT NULL COLLATE NOCASE,
        reading    TEXT    NOT NULL,
        PRIMARY KEY (scope_kind, scope_id, word)
    ) WITHOUT ROWID""",
    """CREATE TABLE dictionary_versions (
        scope_kind TEXT    NOT NULL,
        scope_id   INTEGER NOT NULL,
        version    INTEGER NOT NULL,
        PRIMARY KEY (scope_kind, scope_id)
    ) WITHOUT ROWID""",
)

_V2: Migration = (
    # A user's cloned clips, kept so they can list, reuse, share and delete them. The profile's
    # `reference` stays the active voice (a copy of one clip's codes).
    """CREATE TABLE voice_clips (
        clip_id    INTEGER PRIMARY KEY,
        user_id    INTEGER NOT NULL,
        name       TEXT    NOT NULL COLLATE NOCASE,
        codes      BLOB    NOT NULL,                -- speech codes, uint16 little-endian
        transcript TEXT    NOT NULL DEFAULT '',
        created_at REAL    NOT NULL,
        UNIQUE (user_id, name)
    )""",
    # A clip its uploader shared with a server under a name; deleting the clip unshares it.
    """CREATE TABLE shared_voices (
        guild_id INTEGER NOT NULL,
        name     TEXT    NOT NULL COLLATE NOCASE,
        clip_id  INTEGER NOT NULL REFERENCES voice_clips (clip_id) ON DELETE CASCADE,
        PRIMARY KEY (guild_id, name)
    ) WITHOUT ROWID""",
    "CREATE INDEX shared_voices_by_clip ON shared_voices (clip_id)",
    # The clips people cloned before the library existed become their first library entry.
    """INSERT INTO voice_clips (user_id, name, codes, transcript, created_at)
        SELECT user_id, CASE WHEN reference_name = '' THEN 'clip' ELSE substr(reference_name, 1, 100) END,
               reference, reference_transcript, updated_at
        FROM voice_profiles WHERE reference IS NOT NULL""",
    # A shared voice a user picked (by name, looked up in the server they speak in).
    "ALTER TABLE voice_profiles ADD COLUMN shared_voice TEXT",
    # Per-server limits: seconds of speech per message (NULL: the bot's limit) and read speed.
    "ALTER TABLE guild_settings ADD COLUMN max_seconds INTEGER",
    "ALTER TABLE guild_settings ADD COLUMN read_speed REAL NOT NULL DEFAULT 1.0",
)

MIGRATIONS: tuple[Migration, ...] = (_V1, _V2)
SCHEMA_VERSION = len(MIGRATIONS)


async def migrate(db: "Database", migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply every migration the file lacks, each in its own transaction; returns the version reached."""
    found = await db.user_version()
    check_not_newer(found, len(migrations), db.path)
    for number in range(found + 1, len(migrations) + 1):
        async with db.transaction() as tx:
            # Read again inside the write lock: another process may have migrated meanwhile.
            current = await tx.user_version()
            check_not_newer(current, len(migrations), db.path)
            if current >= number:
                continue
            for statement in migrations[number - 1]:
                await tx.execute(statement)
            await tx.execute(f"PRAGMA user_version = {int(number)}")  # PRAGMA takes no parameters
    return len(migrations)


def check_not_newer(found: int, known: int, path: object) -> None:
    """Refuse a file from a newer bot: its tables may mean things this code would misread."""
    if found > known:
        raise SchemaTooNewError(
            f"{path} has schema version {found}, but this version of the bot knows only up to {known}; "
            "update the bot, or point it at another database file"
        )
