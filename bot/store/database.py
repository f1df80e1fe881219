"""The one SQLite connection: opening, pragmas, migrations, and serialised transactions."""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

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
        """Open (creating folder and file if needed), configure, and migrate to the newest schema."""
        path = Path(path)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; `transaction()` says BEGIN and COMMIT itself.
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        db = cls(conn, path)
        try:
            await db._configure(len(migrations))
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
        row = await _fetch_one(conn, "PRAGMA journal_mode = WAL")
        if row is None or str(row[0]).lower() != "wal":
            log.warning("database %s: WAL journal mode unavailable (got %s); writers will block readers",
                        self.path, row[0] if row else None)
        # In WAL mode NORMAL is still crash-safe (a power cut may lose the last commits, never corrupt).
        await _execute(conn, "PRAGMA synchronous = NORMAL")
        await _execute(conn, "PRAGMA foreign_keys = ON")

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
