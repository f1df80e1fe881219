"""Per-server settings and opted-out users: defaults, round trips, restarts, limits."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.store import Database, GuildSettings, GuildSettingsStore, StoreLimitError, UnknownFieldError

GUILD = 987654321098765432


def full_settings(guild_id: int = GUILD) -> GuildSettings:
    return GuildSettings(
        guild_id=guild_id, read_channel_ids=(30, 10, 20), auto_join_channel_id=40, announce_names=False,
        name_pause_seconds=60, announce_join_leave=False, read_only_members_in_voice=False, skip_prefix="!",
        required_role_id=50, max_queue=5, reading={"urls": "domain", "max_chars": 80, "laughter": False},
        max_seconds=30, read_speed=1.25,
    )


async def test_a_server_that_saved_nothing_gets_the_defaults(db: Database) -> None:
    settings = await GuildSettingsStore(db).get(GUILD)
    assert settings == GuildSettings(GUILD)
    assert (settings.read_channel_ids, settings.announce_names, settings.name_pause_seconds, settings.skip_prefix,
            settings.max_queue, settings.reading) == ((), True, 30, ";", 20, {})


async def test_every_field_round_trips(db: Database) -> None:
    store = GuildSettingsStore(db)
    await store.save(full_settings())
    loaded = await store.get(GUILD)
    assert loaded == full_settings()
    assert loaded.read_channel_ids == (10, 20, 30)  # kept sorted, so equal sets compare equal
    assert loaded.announce_names is False  # a bool, not SQLite's 0


async def test_settings_and_bound_channels_survive_a_restart(db_path: Path) -> None:
    async with await Database.open(db_path) as db:
        store = GuildSettingsStore(db)
        await store.update(GUILD, read_channel_ids=(11, 12), max_queue=7)
        await store.update(2, read_channel_ids=(21,))
        await store.update(3, max_queue=3)
        await store.opt_out(GUILD, 99)
    async with await Database.open(db_path) as db:
        store = GuildSettingsStore(db)
        assert await store.read_channels() == {2: (21,), GUILD: (11, 12)}
        assert (await store.get(GUILD)).max_queue == 7
        assert await store.is_opted_out(GUILD, 99)


async def test_update_keeps_the_other_fields(db: Database) -> None:
    store = GuildSettingsStore(db)
    await store.save(full_settings())
    updated = await store.update(GUILD, read_channel_ids=(), reading={"urls": "drop"})
    assert updated == GuildSettings(**{**full_settings().__dict__, "read_channel_ids": (), "reading": {"urls": "drop"}})
    assert await store.get(GUILD) == updated
    assert await store.read_channels() == {}


async def test_update_with_an_unknown_field_raises_and_changes_nothing(db: Database) -> None:
    store = GuildSettingsStore(db)
    with pytest.raises(UnknownFieldError, match="did you mean max_queue"):
        await store.update(GUILD, max_queu=3)
    with pytest.raises(UnknownFieldError, match="can't be changed"):
        await store.update(GUILD, guild_id=1)
    assert await store.get(GUILD) == GuildSettings(GUILD)


async def test_reading_settings_are_stored_as_given_and_copied(db: Database) -> None:
    reading = {"nested": {"list": [1, 2.5, None, "あ"]}, "flag": True}
    saved = await GuildSettingsStore(db).update(GUILD, reading=reading)
    reading["flag"] = False
    assert (await GuildSettingsStore(db).get(GUILD)).reading == saved.reading == {
        "nested": {"list": [1, 2.5, None, "あ"]}, "flag": True}


@pytest.mark.parametrize("changes", [
    {"read_channel_ids": tuple(range(1, 12))},
    {"max_queue": 0},
    {"name_pause_seconds": -1},
    {"skip_prefix": "!" * 9},
])
async def test_values_over_the_limits_are_refused_with_a_message(db: Database, changes: dict) -> None:
    with pytest.raises(StoreLimitError) as error:
        await GuildSettingsStore(db).update(GUILD, **changes)
    assert str(error.value)
    assert await GuildSettingsStore(db).get(GUILD) == GuildSettings(GUILD)


@pytest.mark.parametrize("changes", [
    {"announce_names": 1}, {"max_queue": 2.0}, {"reading": {"x": object()}}, {"reading": "urls=drop"},
    {"auto_join_channel_id": "123"},
])
def test_values_of_the_wrong_type_are_a_type_error(changes: dict) -> None:
    with pytest.raises(TypeError):
        GuildSettings(GUILD, **changes)


async def test_opting_out_and_back_in(db: Database) -> None:
    store = GuildSettingsStore(db)
    await store.opt_out(GUILD, 1)
    await store.opt_out(GUILD, 1)  # twice is harmless
    await store.opt_out(GUILD, 2)
    await store.opt_out(5, 3)
    assert await store.opted_out(GUILD) == frozenset({1, 2})
    assert await store.is_opted_out(GUILD, 1) and not await store.is_opted_out(5, 1)
    await store.opt_in(GUILD, 1)
    await store.opt_in(GUILD, 1)
    assert await store.opted_out(GUILD) == frozenset({2})
    assert await store.get(GUILD) == GuildSettings(GUILD)  # opting out needs no settings row


async def test_forget_deletes_everything_of_one_server(db: Database) -> None:
    store = GuildSettingsStore(db)
    await store.save(full_settings())
    await store.save(full_settings(7))
    await store.opt_out(GUILD, 1)
    await store.forget(GUILD)
    assert await store.get(GUILD) == GuildSettings(GUILD)
    assert await store.opted_out(GUILD) == frozenset()
    assert await store.read_channels() == {7: (10, 20, 30)}


@pytest.mark.parametrize("change", [{"max_seconds": 2}, {"max_seconds": 601}, {"read_speed": 0.4},
                                    {"read_speed": 2.5}, {"read_speed": float("nan")}])
async def test_per_server_limits_stay_within_their_bounds(db: Database, change: dict) -> None:
    store = GuildSettingsStore(db)
    with pytest.raises(StoreLimitError):
        await store.update(GUILD, **change)
    assert await store.get(GUILD) == GuildSettings(GUILD)
