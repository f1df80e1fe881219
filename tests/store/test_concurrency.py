"""Many tasks (and a second connection) writing at once: every write lands whole, nothing corrupts."""
from __future__ import annotations

import asyncio
from pathlib import Path

from bot.store import Database, DictionaryStore, DictScope, GuildSettingsStore, VoiceProfiles

GUILD = 42
USER = 7


async def integrity(db: Database) -> str:
    return (await db.fetch_one("PRAGMA integrity_check"))[0]


async def test_concurrent_writers_on_one_connection_all_land(db: Database) -> None:
    voices, guilds, words = VoiceProfiles(db), GuildSettingsStore(db), DictionaryStore(db)
    scopes = (DictScope.guild(GUILD), DictScope.user(USER))
    jobs = [
        *(words.add(scopes[i % 2], f"word{i}", f"よみ{i}") for i in range(200)),
        *(guilds.opt_out(GUILD, user) for user in range(1, 51)),
        # Each update reads the row and writes it back; overlapping ones must not lose each other's field.
        voices.update(USER, temperature=0.5), voices.update(USER, top_p=0.5), voices.update(USER, top_k=5),
        voices.update(USER, seed=3), voices.update(USER, preset="calm"), voices.update(USER, spoken_name="な"),
        guilds.update(GUILD, max_queue=3), guilds.update(GUILD, skip_prefix="!"),
        guilds.update(GUILD, announce_names=False), guilds.update(GUILD, auto_join_channel_id=9),
    ]
    await asyncio.gather(*jobs)

    assert [await words.count(s) for s in scopes] == [100, 100]
    assert [await words.version(s) for s in scopes] == [100, 100]
    assert await guilds.opted_out(GUILD) == frozenset(range(1, 51))
    profile = await voices.get(USER)
    assert (profile.temperature, profile.top_p, profile.top_k, profile.seed, profile.preset, profile.spoken_name) == (
        0.5, 0.5, 5, 3, "calm", "な")
    settings = await guilds.get(GUILD)
    assert (settings.max_queue, settings.skip_prefix, settings.announce_names, settings.auto_join_channel_id) == (
        3, "!", False, 9)
    assert await integrity(db) == "ok"


async def test_readers_never_see_half_an_import(db: Database) -> None:
    words, scope = DictionaryStore(db), DictScope.guild(GUILD)
    versions = [{f"v{n}-{i}": "よみ" for i in range(300)} for n in range(5)]
    await words.replace_all(scope, versions[0])
    seen: list[dict[str, str]] = []

    async def read_many() -> None:
        for _ in range(30):
            seen.append(await words.entries(scope))
            await asyncio.sleep(0)

    await asyncio.gather(read_many(), *(words.replace_all(scope, v) for v in versions[1:]), read_many())
    assert all(entries in versions for entries in seen)


async def test_a_cancelled_write_is_all_or_nothing_and_leaves_the_database_usable(db: Database) -> None:
    words, scope = DictionaryStore(db), DictScope.guild(GUILD)
    imports = [{f"i{n}-{i}": "よみ" for i in range(500)} for n in range(10)]
    tasks = [asyncio.create_task(words.replace_all(scope, entries)) for entries in imports]
    for delay, task in zip((0, 0.001, 0.002, 0.005, 0.01), tasks[::2]):
        await asyncio.sleep(delay)
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    assert await words.entries(scope) in imports
    await words.add(scope, "after", "あふたー")  # no transaction was left open
    assert await words.count(scope) == 501
    assert await integrity(db) == "ok"


async def test_two_connections_to_one_file_write_at_once(db_path: Path) -> None:
    # As two bot processes (or the bot and a maintenance script) would: busy_timeout makes them wait.
    async with await Database.open(db_path) as first, await Database.open(db_path) as second:
        stores = (DictionaryStore(first), DictionaryStore(second))
        scope = DictScope.guild(GUILD)
        await asyncio.gather(*(stores[i % 2].add(scope, f"w{i}", "よみ") for i in range(200)))
        assert await stores[0].count(scope) == await stores[1].count(scope) == 200
        assert await stores[1].version(scope) == 200
        assert await integrity(first) == "ok"
