"""Pronunciation dictionaries (word → reading), one per server and one per user, with limits."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .database import Database, Transaction
from .errors import StoreLimitError
from .validation import check_id

# The same limits as bot.text.dictionary.ReadingDictionary (the store may not import it).
MAX_ENTRIES = 2_000
MAX_WORD_CHARS = 50
MAX_READING_CHARS = 100

ScopeKind = Literal["guild", "user"]
# The column's NOCASE collation folds ASCII letters only; counting must fold the same way.
_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class DictScope:
    """Whose dictionary: a server's (`DictScope.guild(id)`) or a user's own (`DictScope.user(id)`)."""

    kind: ScopeKind
    owner_id: int

    def __post_init__(self) -> None:
        if self.kind not in ("guild", "user"):
            raise ValueError(f"a dictionary scope is 'guild' or 'user', not {self.kind!r}")
        check_id(f"{self.kind}_id", self.owner_id)

    @classmethod
    def guild(cls, guild_id: int) -> DictScope:
        return cls("guild", guild_id)

    @classmethod
    def user(cls, user_id: int) -> DictScope:
        return cls("user", user_id)


class DictionaryStore:
    """Stored dictionaries; words match case-insensitively for ASCII ("Discord" replaces "discord")."""

    def __init__(self, db: Database, *, max_entries: int = MAX_ENTRIES) -> None:
        self._db = db
        self._max_entries = max_entries

    async def add(self, scope: DictScope, word: str, reading: str) -> None:
        """Add a word, or change its reading (and spelling) when it is already there."""
        _check_entry(word, reading)
        async with self._db.transaction() as tx:
            exists = await tx.fetch_one(
                "SELECT 1 FROM dictionary_entries WHERE scope_kind = ? AND scope_id = ? AND word = ?",
                (scope.kind, scope.owner_id, word))
            if exists is None and await _count(tx, scope) >= self._max_entries:
                raise StoreLimitError("store.dictionary_full", limit=self._max_entries)
            await tx.execute(_UPSERT, (scope.kind, scope.owner_id, word, reading))
            await _bump_version(tx, scope)

    async def remove(self, scope: DictScope, word: str) -> bool:
        """Remove a word (ASCII case ignored); False when it wasn't there."""
        async with self._db.transaction() as tx:
            removed = await tx.execute(
                "DELETE FROM dictionary_entries WHERE scope_kind = ? AND scope_id = ? AND word = ?",
                (scope.kind, scope.owner_id, word))
            if removed:
                await _bump_version(tx, scope)
        return removed > 0

    async def entries(self, scope: DictScope) -> dict[str, str]:
        """Every word → reading of the scope, in word order."""
        rows = await self._db.fetch_all(
            "SELECT word, reading FROM dictionary_entries WHERE scope_kind = ? AND scope_id = ? ORDER BY word",
            (scope.kind, scope.owner_id))
        return {word: reading for word, reading in rows}

    async def replace_all(self, scope: DictScope, entries: Mapping[str, str]) -> None:
        """Make the scope hold exactly `entries`, all or nothing (later ASCII-case duplicates win)."""
        pairs = list(entries.items())
        for word, reading in pairs:
            _check_entry(word, reading)
        words = {word.translate(_ASCII_FOLD) for word, _ in pairs}
        if len(words) > self._max_entries:
            raise StoreLimitError("store.dictionary_too_big", limit=self._max_entries, count=len(words))
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM dictionary_entries WHERE scope_kind = ? AND scope_id = ?",
                             (scope.kind, scope.owner_id))
            await tx.executemany(_UPSERT, [(scope.kind, scope.owner_id, w, r) for w, r in pairs])
            await _bump_version(tx, scope)

    async def count(self, scope: DictScope) -> int:
        """How many words the scope holds."""
        row = await self._db.fetch_one(_COUNT, (scope.kind, scope.owner_id))
        return int(row[0]) if row else 0

    async def version(self, scope: DictScope) -> int:
        """A number that grows with every change to the scope (0: never changed): a cache key."""
        row = await self._db.fetch_one(
            "SELECT version FROM dictionary_versions WHERE scope_kind = ? AND scope_id = ?",
            (scope.kind, scope.owner_id))
        return int(row[0]) if row else 0


_COUNT = "SELECT count(*) FROM dictionary_entries WHERE scope_kind = ? AND scope_id = ?"
_UPSERT = (
    "INSERT INTO dictionary_entries (scope_kind, scope_id, word, reading) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (scope_kind, scope_id, word) DO UPDATE SET word = excluded.word, reading = excluded.reading"
)


def _check_entry(word: object, reading: object) -> None:
    if not isinstance(word, str) or not isinstance(reading, str):
        raise TypeError(f"a dictionary entry is two str, not {type(word).__name__} → {type(reading).__name__}")
    if not word.strip():
        raise StoreLimitError("store.word_empty")
    if len(word) > MAX_WORD_CHARS:
        raise StoreLimitError("store.word_too_long", word=repr(word[:20]), length=len(word), limit=MAX_WORD_CHARS)
    if not reading.strip():
        raise StoreLimitError("store.reading_empty", word=repr(word))
    if len(reading) > MAX_READING_CHARS:
        raise StoreLimitError("store.reading_too_long", word=repr(word), length=len(reading), limit=MAX_READING_CHARS)


async def _count(tx: Transaction, scope: DictScope) -> int:
    row = await tx.fetch_one(_COUNT, (scope.kind, scope.owner_id))
    return int(row[0]) if row else 0


async def _bump_version(tx: Transaction, scope: DictScope) -> None:
    await tx.execute(
        "INSERT INTO dictionary_versions (scope_kind, scope_id, version) VALUES (?, ?, 1) "
        "ON CONFLICT (scope_kind, scope_id) DO UPDATE SET version = version + 1",
        (scope.kind, scope.owner_id))
