"""Pronunciation dictionaries per server and per user: upserts, versions, atomic import, limits."""
from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.store import Database, DictionaryStore, DictScope, StoreLimitError

SERVER = DictScope.guild(111)
ME = DictScope.user(111)  # the same id as SERVER on purpose: scopes must not mix
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def test_scopes_are_values() -> None:
    assert DictScope.guild(5) == DictScope("guild", 5) != DictScope.user(5)
    assert len({DictScope.guild(5), DictScope.guild(5)}) == 1  # usable as cache keys
    with pytest.raises(ValueError):
        DictScope("channel", 5)  # type: ignore[arg-type]


async def test_add_list_remove(db: Database) -> None:
    store = DictionaryStore(db)
    await store.add(SERVER, "草", "くさ")
    await store.add(SERVER, "vc", "ぶいしー")
    await store.add(ME, "草", "わら")
    assert await store.entries(SERVER) == {"vc": "ぶいしー", "草": "くさ"}
    assert await store.entries(ME) == {"草": "わら"}
    assert await store.count(SERVER) == 2
    assert await store.remove(SERVER, "草") is True
    assert await store.remove(SERVER, "草") is False
    assert await store.entries(SERVER) == {"vc": "ぶいしー"}


async def test_add_replaces_a_word_ignoring_ascii_case(db: Database) -> None:
    store = DictionaryStore(db)
    await store.add(SERVER, "discord", "でぃすこーど")
    await store.add(SERVER, "Discord", "ディスコード")
    assert await store.entries(SERVER) == {"Discord": "ディスコード"}
    assert await store.remove(SERVER, "DISCORD")


async def test_the_version_changes_on_every_write_and_only_then(db: Database) -> None:
    store = DictionaryStore(db)
    seen = [await store.version(SERVER)]
    await store.add(SERVER, "a", "えー")
    seen.append(await store.version(SERVER))
    await store.add(SERVER, "a", "あ")
    seen.append(await store.version(SERVER))
    await store.replace_all(SERVER, {"b": "びー"})
    seen.append(await store.version(SERVER))
    await store.remove(SERVER, "b")
    seen.append(await store.version(SERVER))
    assert seen == sorted(set(seen)) and seen[0] == 0
    await store.remove(SERVER, "missing")
    assert await store.version(SERVER) == seen[-1]
    assert await store.version(ME) == 0


async def test_dictionaries_survive_a_restart(db_path: Path) -> None:
    async with await Database.open(db_path) as db:
        await DictionaryStore(db).replace_all(SERVER, {"草": "くさ", "w": "わら"})
        version = await DictionaryStore(db).version(SERVER)
    async with await Database.open(db_path) as db:
        assert await DictionaryStore(db).entries(SERVER) == {"w": "わら", "草": "くさ"}
        assert await DictionaryStore(db).version(SERVER) == version


async def test_replace_all_replaces_everything(db: Database) -> None:
    store = DictionaryStore(db)
    await store.replace_all(SERVER, {"old": "おーるど", "keep": "きーぷ"})
    await store.replace_all(SERVER, {"keep": "キープ", "new": "にゅー"})
    assert await store.entries(SERVER) == {"keep": "キープ", "new": "にゅー"}
    await store.replace_all(SERVER, {})
    assert await store.count(SERVER) == 0


async def test_replace_all_keeps_the_last_of_ascii_case_duplicates(db: Database) -> None:
    store = DictionaryStore(db, max_entries=1)
    await store.replace_all(SERVER, {"vc": "ぶい", "VC": "ブイシー"})
    assert await store.entries(SERVER) == {"VC": "ブイシー"}


async def test_replace_all_failing_midway_changes_nothing(db: Database) -> None:
    store = DictionaryStore(db)
    await store.replace_all(SERVER, {"before": "びふぉあ"})
    version = await store.version(SERVER)
    async with db.transaction() as tx:  # make the database itself fail on the third insert
        await tx.execute("CREATE TEMP TRIGGER poison BEFORE INSERT ON dictionary_entries "
                         "WHEN NEW.word = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned word'); END")
    with pytest.raises(sqlite3.IntegrityError, match="poisoned"):
        await store.replace_all(SERVER, {"a": "あ", "b": "び", "poison": "どく", "c": "し"})
    assert await store.entries(SERVER) == {"before": "びふぉあ"}
    assert await store.version(SERVER) == version


async def test_a_bad_entry_in_an_import_changes_nothing(db: Database) -> None:
    store = DictionaryStore(db)
    await store.add(SERVER, "before", "びふぉあ")
    with pytest.raises(StoreLimitError):
        await store.replace_all(SERVER, {"a": "あ", "b": "x" * 101})
    assert await store.entries(SERVER) == {"before": "びふぉあ"}


@pytest.mark.parametrize(("word", "reading", "message"), [
    ("x" * 51, "えっくす", "limit is 50"),
    ("word", "あ" * 101, "limit is 100"),
    ("  ", "あ", "empty"),
    ("word", "", "empty"),
])
async def test_entries_over_the_limits_are_refused(db: Database, word: str, reading: str, message: str) -> None:
    store = DictionaryStore(db)
    with pytest.raises(StoreLimitError, match=message):
        await store.add(SERVER, word, reading)
    assert await store.count(SERVER) == 0


async def test_a_full_dictionary_refuses_new_words_but_changes_old_ones(db: Database) -> None:
    store = DictionaryStore(db, max_entries=2)
    await store.add(SERVER, "a", "あ")
    await store.add(SERVER, "b", "び")
    with pytest.raises(StoreLimitError, match="remove some first"):
        await store.add(SERVER, "c", "し")
    await store.add(SERVER, "B", "ビー")  # the same word: allowed at the limit
    await store.add(ME, "c", "し")  # another scope has its own room
    assert await store.entries(SERVER) == {"B": "ビー", "a": "あ"}


async def test_the_default_limit_is_2000_words(db: Database) -> None:
    store = DictionaryStore(db)
    with pytest.raises(StoreLimitError, match="at most 2000"):
        await store.replace_all(SERVER, {f"w{i}": "よみ" for i in range(2001)})
    await store.replace_all(SERVER, {f"w{i}": "よみ" for i in range(2000)})
    assert await store.count(SERVER) == 2000


words = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=50).filter(str.strip)
readings = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=100).filter(str.strip)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(words, readings, max_size=20))
def test_any_valid_dictionary_round_trips(entries: dict[str, str]) -> None:
    # Words differing only in ASCII case are one word; the last spelling given is kept.
    folded = {word.translate(ASCII_LOWER): (word, reading) for word, reading in entries.items()}

    async def round_trip() -> dict[str, str]:
        with tempfile.TemporaryDirectory() as folder:
            async with await Database.open(Path(folder) / "db.sqlite3") as db:
                await DictionaryStore(db).replace_all(SERVER, entries)
                return await DictionaryStore(db).entries(SERVER)

    assert asyncio.run(round_trip()) == dict(folded.values())
