"""Opening, pragmas, migrations and transactions of the one database connection."""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store import SCHEMA_VERSION, Database, SchemaTooNewError
from bot.store.errors import DatabaseUnusable
from bot.store.migrations import MIGRATIONS

COUNTER = (
    "CREATE TABLE runs (n INTEGER)",
    "INSERT INTO runs VALUES (1)",  # a second run would add a second row (and CREATE would fail)
)
NOTES = ("CREATE TABLE notes (body TEXT NOT NULL)",)
BROKEN = ("CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL")


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


async def test_open_creates_the_folder_and_the_newest_schema(db_path: Path) -> None:
    async with await Database.open(db_path) as db:
        assert db.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    assert user_version(db_path) == SCHEMA_VERSION
    assert {"voice_profiles", "guild_settings", "guild_read_channels", "guild_opt_outs",
            "dictionary_entries", "dictionary_versions"} <= tables(db_path)


async def test_wal_foreign_keys_and_busy_timeout_are_on(db: Database) -> None:
    assert (await db.fetch_one("PRAGMA journal_mode"))[0] == "wal"
    assert (await db.fetch_one("PRAGMA foreign_keys"))[0] == 1
    assert (await db.fetch_one("PRAGMA busy_timeout"))[0] > 0


async def test_each_migration_runs_once_however_often_the_file_is_opened(db_path: Path) -> None:
    for _ in range(3):
        async with await Database.open(db_path, migrations=(COUNTER,)) as db:
            assert db.schema_version == 1
    async with await Database.open(db_path, migrations=(COUNTER, NOTES)) as db:
        assert [tuple(r) for r in await db.fetch_all("SELECT n FROM runs")] == [(1,)]
    assert user_version(db_path) == 2
    assert "notes" in tables(db_path)


async def test_a_failing_migration_leaves_the_file_at_the_previous_version(db_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError):
        await Database.open(db_path, migrations=(COUNTER, BROKEN))
    assert user_version(db_path) == 1
    assert "half_done" not in tables(db_path)  # its first statement was rolled back too


async def test_a_database_from_a_newer_bot_is_refused_untouched(db_path: Path) -> None:
    async with await Database.open(db_path):
        pass
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNewError, match=f"schema version {SCHEMA_VERSION + 1}.*update the bot"):
        await Database.open(db_path)
    assert user_version(db_path) == SCHEMA_VERSION + 1


async def test_a_transaction_that_raises_changes_nothing(db: Database) -> None:
    with pytest.raises(ZeroDivisionError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO guild_opt_outs VALUES (1, 2)")
            1 / 0
    assert await db.fetch_all("SELECT * FROM guild_opt_outs") == []
    async with db.transaction() as tx:  # and the connection is usable afterwards
        await tx.execute("INSERT INTO guild_opt_outs VALUES (1, 2)")
    assert [tuple(r) for r in await db.fetch_all("SELECT * FROM guild_opt_outs")] == [(1, 2)]


async def test_a_task_cancelled_inside_a_transaction_changes_nothing(db: Database) -> None:
    inside = asyncio.Event()

    async def write_then_hang() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO guild_opt_outs VALUES (1, 2)")
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(write_then_hang())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await db.fetch_all("SELECT * FROM guild_opt_outs") == []
    async with db.transaction() as tx:  # no transaction was left open
        await tx.execute("INSERT INTO guild_opt_outs VALUES (3, 4)")


async def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO guild_read_channels VALUES (1, 2)")  # no guild_settings row 1


async def test_using_the_database_inside_its_own_transaction_fails_instead_of_hanging(db: Database) -> None:
    with pytest.raises(RuntimeError, match="inside its own transaction"):
        async with db.transaction():
            await db.fetch_one("SELECT 1")


async def test_a_closed_database_says_so(db_path: Path) -> None:
    db = await Database.open(db_path)
    await db.close()
    await db.close()  # twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        await db.fetch_one("SELECT 1")


# A user who cannot be root, to make folders and files read-only for real (root ignores permissions).
NOBODY = 65534


async def test_a_path_that_is_a_folder_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnusable, match=r"is a folder, not a database file; set storage\.database"):
        await Database.open(tmp_path)


async def test_a_folder_that_cannot_be_created_says_why(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the folder should be")
    with pytest.raises(DatabaseUnusable, match=r"cannot create the folder .*data.* a file of that name is in the way"):
        await Database.open(tmp_path / "data" / "bot.sqlite3")


async def test_a_file_that_is_not_a_database_is_refused_as_damaged(db_path: Path) -> None:
    db_path.parent.mkdir()
    db_path.write_bytes(b"this is a text file, not SQLite\n" * 200)
    with pytest.raises(DatabaseUnusable, match=r"is damaged \(file is not a database\).*move the file aside"):
        await Database.open(db_path)
    assert db_path.read_bytes().startswith(b"this is a text file")  # left as it was, for recovery


async def test_a_database_with_damaged_pages_fails_the_quick_check(db_path: Path) -> None:
    async with await Database.open(db_path) as db:
        async with db.transaction() as tx:
            await tx.executemany("INSERT INTO guild_opt_outs VALUES (?, ?)", [(1, n) for n in range(3000)])
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    data = bytearray(db_path.read_bytes())
    for page in range(2, pages):  # every page but the schema page: tables and indexes now hold garbage
        start = page * page_size
        data[start:start + page_size] = bytes([0x0D, 0xFF, 0xFF, 0xFF]) * (page_size // 4)
    db_path.write_bytes(bytes(data))
    with pytest.raises(DatabaseUnusable, match=r"is damaged \(.+\).*restore a backup"):
        await Database.open(db_path)


async def test_a_read_only_folder_or_file_is_refused_before_use() -> None:
    folder = Path(tempfile.mkdtemp(prefix="db-perm-"))  # not under pytest's folders, which only we may enter
    os.chmod(folder, 0o777)
    existing = folder / "old" / "bot.sqlite3"
    existing.parent.mkdir(mode=0o777)
    os.chmod(existing.parent, 0o777)
    async with await Database.open(existing):
        pass
    os.chmod(existing, 0o444)
    fresh_in_locked = folder / "locked" / "bot.sqlite3"
    fresh_in_locked.parent.mkdir()
    os.chmod(fresh_in_locked.parent, 0o555)

    try:
        with _without_root():
            for path, culprit in ((fresh_in_locked, fresh_in_locked.parent), (existing, existing)):
                with pytest.raises(DatabaseUnusable, match=f"{culprit} is read-only for this user; make it writable"):
                    await Database.open(path)
    finally:
        os.chmod(fresh_in_locked.parent, 0o755)
        shutil.rmtree(folder)


@contextlib.contextmanager
def _without_root() -> Iterator[None]:
    """Act as an ordinary user: root may write anywhere, so read-only files would not be read-only to it."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


async def test_a_file_another_program_holds_locked_is_named_as_such(db_path: Path) -> None:
    async with await Database.open(db_path):
        pass
    other = sqlite3.connect(db_path, isolation_level=None)  # a second bot, or a sqlite3 shell mid-transaction
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseUnusable, match=r"is locked by another program .*stop it"):
            await Database.open(db_path)
    finally:
        other.close()
    async with await Database.open(db_path):  # and once it let go, the file opens again
        pass
