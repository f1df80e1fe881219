"""The one SQLite connection: opening, pragmas, migrations, and serialised transactions."""
from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from .errors import DatabaseUnusable
from .migrations import MIGRATIONS, Migration, check_not_newer, migrate

log = logging.getLogger(__name__)

Params = Sequence[Any] | dict[str, Any]
# Another process (a backup, a second bot on the same file) may hold the write lock briefly.
BUSY_TIMEOUT_MS = 5_000


class Transaction:
    """Statements inside one BEGIN … COMMIT; valid only inside `transaction()` or `snapshot()`."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        return await _execute(self._conn, sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        """Run one statement once per parameter row; returns the rows changed in all."""
        async with self._conn.executemany(sql, rows) as cursor:
            return cursor.rowcount

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        return await _fetch_one(self._conn, sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return await _fetch_all(self._conn, sql, params)

    async def user_version(self) -> int:
        """The schema version recorded in the file (PRAGMA user_version)."""
        return await _user_version(self._conn)


class Database:
    """One serialised aiosqlite connection; every store shares it."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        """Use `Database.open`; this only wraps an already opened connection."""
        self._conn: aiosqlite.Connection | None = conn
        self.path = path
        self.schema_version = 0
        # aiosqlite runs statements one at a time, but a transaction spans several awaits: without
        # this lock another task's statement could land inside it (or read its uncommitted rows).
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    @classmethod
    async def open(cls, path: Path, *, migrations: Sequence[Migration] = MIGRATIONS) -> Database:
        """Open (creating folder and file if needed), check, configure, and migrate to the newest schema.

        DatabaseUnusable says what is wrong with the file or its folder and what to do about it.
        """
        path = Path(path)
        await asyncio.to_thread(_prepare_folder, path)
        try:
            # isolation_level=None: no implicit transactions; `transaction()` says BEGIN and COMMIT itself.
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise _unusable(path, exc) from exc
        conn.row_factory = sqlite3.Row
        db = cls(conn, path)
        try:
            try:
                await db._configure(len(migrations))
            except sqlite3.Error as exc:
                raise _unusable(path, exc) from exc
            db.schema_version = await migrate(db, migrations)
        except BaseException:
            await conn.close()
            raise
        return db

    async def _configure(self, known_version: int) -> None:
        conn = self._connection()
        await _execute(conn, f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Refuse a newer file before changing anything in it (WAL mode is recorded in the file).
        check_not_newer(await _user_version(conn), known_version, self.path)
        problems = [str(r[0]) for r in await _fetch_all(conn, "PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise _damaged(self.path, "; ".join(problems))
        row = await _fetch_one(conn, "PRAGMA journal_mode = WAL")
        if row is None or str(row[0]).lower() != "wal":
            log.warning("database %s: WAL journal mode unavailable (got %s); writers will block readers",
                        self.path, row[0] if row else None)
        # In WAL mode NORMAL is still crash-safe (a power cut may lose the last commits, never corrupt).
        await _execute(conn, "PRAGMA synchronous = NORMAL")
        await _execute(conn, "PRAGMA foreign_keys = ON")
        # Prove the file takes writes now, not at the first /voice set hours later.
        await _execute(conn, "BEGIN IMMEDIATE")
        await _execute(conn, "PRAGMA user_version = " + str(await _user_version(conn)))
        await _execute(conn, "ROLLBACK")

    async def close(self) -> None:
        """Wait for the running transaction, then close; closing twice is harmless."""
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Run the block's statements atomically: all commit together, or an exception rolls all back."""
        # IMMEDIATE takes the write lock at the start, so a read-then-write never fails halfway.
        async with self._transaction("BEGIN IMMEDIATE") as tx:
            yield tx

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Transaction]:
        """Several reads that see one consistent state of the file (no write lock taken)."""
        async with self._transaction("BEGIN DEFERRED") as tx:
            yield tx

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """One row of a single read (None when there is none)."""
        async with self._locked() as conn:
            return await _fetch_one(conn, sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Every row of a single read."""
        async with self._locked() as conn:
            return await _fetch_all(conn, sql, params)

    async def user_version(self) -> int:
        """The schema version recorded in the file (PRAGMA user_version)."""
        async with self._locked() as conn:
            return await _user_version(conn)

    @asynccontextmanager
    async def _transaction(self, begin: str) -> AsyncIterator[Transaction]:
        async with self._locked() as conn:
            try:
                await _execute(conn, begin)
                yield Transaction(conn)
                await conn.commit()
            except BaseException:
                # Also after a cancelled BEGIN or a failed COMMIT: either can leave a transaction open,
                # and rollback() is a no-op when none is. aiosqlite runs it after the queued statements.
                await conn.rollback()
                raise

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[aiosqlite.Connection]:
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            # asyncio.Lock is not re-entrant: waiting here would hang the task forever.
            raise RuntimeError("database used again inside its own transaction; use the Transaction object")
        async with self._lock:
            self._holder = task
            try:
                yield self._connection()
            finally:
                self._holder = None

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError(f"database {self.path} is closed")
        return self._conn


async def _execute(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> int:
    async with conn.execute(sql, params) as cursor:
        return cursor.rowcount


async def _fetch_one(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> sqlite3.Row | None:
    async with conn.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def _fetch_all(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> list[sqlite3.Row]:
    async with conn.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


async def _user_version(conn: aiosqlite.Connection) -> int:
    row = await _fetch_one(conn, "PRAGMA user_version")
    return int(row[0]) if row else 0


def _prepare_folder(path: Path) -> None:
    """Create the database's folder; DatabaseUnusable when the path or folder can't hold it."""
    if path.is_dir():
        raise DatabaseUnusable(f"{path} is a folder, not a database file; set storage.database to a file "
                               f"in it, like {path / 'bot.sqlite3'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DatabaseUnusable(f"cannot create the folder {path.parent} for the database: a file of that name is "
                               "in the way; move it, or set storage.database elsewhere") from None
    except OSError as exc:
        raise DatabaseUnusable(f"cannot create the folder {path.parent} for the database ({exc.strerror or exc}); "
                               "create it yourself, or set storage.database elsewhere") from None
    # SQLite writes its -wal and -shm files next to the database: the folder must take new files.
    if not _may(path.parent, os.W_OK | os.X_OK):
        raise _read_only(path, path.parent)
    if path.exists() and not _may(path, os.R_OK | os.W_OK):
        raise _read_only(path, path)


def _may(path: Path, mode: int) -> bool:
    # SQLite opens files as the effective user, so ask about that one.
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)


def _unusable(path: Path, exc: sqlite3.Error) -> DatabaseUnusable:
    """Turn SQLite's terse error into what is wrong and what to do."""
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return _read_only(path, path)
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return _damaged(path, text)
    if "locked" in text:
        return DatabaseUnusable(f"the database {path} is locked by another program (a second bot, or an open "
                                "sqlite3 shell with a transaction); stop it, or set storage.database elsewhere")
    return DatabaseUnusable(f"cannot open the database {path} ({text}); check that the file and its folder "
                            "exist and are writable by this user, or set storage.database elsewhere")


def _read_only(path: Path, what: Path) -> DatabaseUnusable:
    return DatabaseUnusable(f"the database {path} cannot be written: {what} is read-only for this user; "
                            f"make it writable (chmod u+w {what}), or set storage.database to a writable place")


def _damaged(path: Path, detail: str) -> DatabaseUnusable:
    detail = " ".join(detail.replace("*** in database main ***", "").split())  # one line for the log
    return DatabaseUnusable(
        f"the database {path} is damaged ({detail}); stop the bot, move the file aside (sqlite3's .recover "
        "may save voices and dictionaries from it) and start again to get a new empty one, or restore a backup"
    )
