"""The bot sharded (discord.py's AutoShardedBot) against the fake Discord, which routes guilds as Discord does."""
from __future__ import annotations

import dataclasses

import pytest

from bot.config import Config, ConfigError, DiscordConfig, load_config
from tests.e2e.harness import running_bot
from tests.fakediscord import FakeDiscord
from tests.fakes import ScriptedSynthesizer


def sharded(count: int, ids: tuple[int, ...] = ()) -> Config:
    return dataclasses.replace(Config(), discord=DiscordConfig(shard_count=count, shard_ids=ids))


async def test_every_server_is_served_by_its_own_shard(tmp_path):
    synth = ScriptedSynthesizer(steps=2)
    async with FakeDiscord(guilds=4) as fake:
        async with running_bot(fake, synth, tmp_path / "bot.db", sharded(2)) as bot:
            assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
            assert sorted(s.shard for s in fake.gateway.identified) == [(0, 2), (1, 2)]
            assert {g.id for g in bot.guilds} == {g.id for g in fake.world.guilds}
            for guild in fake.world.guilds:
                assert bot.get_guild(guild.id).shard_id == (guild.id >> 22) % 2
                handle = await fake.send_interaction("say", {"text": f"こんにちは {guild.id}"}, user="carol", guild=guild)
                await handle.wait_deferred()
                for index in range(10):
                    if (await handle.wait_edit(index)).attachments:
                        break
    assert sorted(synth.served) == sorted(f"こんにちは {g.id}" for g in fake.world.guilds)


async def test_a_process_runs_only_its_shard_ids(tmp_path):
    async with FakeDiscord(guilds=4) as fake:
        async with running_bot(fake, ScriptedSynthesizer(), tmp_path / "bot.db", sharded(2, (1,))) as bot:
            assert sorted(bot.shards) == [1]
            assert [s.shard for s in fake.gateway.identified] == [(1, 2)]
            assert {g.id for g in bot.guilds} == {g.id for g in fake.world.guilds if (g.id >> 22) % 2 == 1}


@pytest.mark.parametrize("table, message", [
    ("shard_count = -1", "between 0"),
    ("shard_ids = [0]", "needs shard_count"),
    ("shard_count = 2\nshard_ids = [2]", "not a shard of 2"),
    ("shard_count = 2\nshard_ids = [1, 1]", "twice"),
])
def test_bad_shard_settings_are_refused_at_start_up(tmp_path, table, message):
    path = tmp_path / "config.toml"
    path.write_text(f"[discord]\n{table}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path)
