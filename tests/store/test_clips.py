"""The clip library and shared voices: keep, list, share, unshare, delete (with its data), limits, migration."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.store import ClipNameTaken, ClipNotFound, Database, StoreLimitError, VoiceClips, VoiceProfiles, pack_codes
from bot.store.clips import MAX_CLIPS_PER_USER
from bot.store.migrations import MIGRATIONS

ALICE, BOB = 111111111111111111, 222222222222222222
GUILD, OTHER_GUILD = 333333333333333333, 444444444444444444
CODES = pack_codes(range(100))


async def test_a_kept_clip_is_listed_with_its_codes_and_length(db: Database) -> None:
    clips = VoiceClips(db)
    kept = await clips.add(ALICE, "  my   voice.wav ", CODES, "こんにちは")
    assert kept.name == "my voice.wav"
    assert (await clips.mine(ALICE)) == [kept]
    assert kept.codes == CODES and kept.transcript == "こんにちは" and kept.seconds == 2.0
    assert await clips.mine(BOB) == []


async def test_the_same_name_replaces_the_take_and_keeps_its_shares(db: Database) -> None:
    clips = VoiceClips(db)
    first = await clips.add(ALICE, "me", CODES, "a")
    await clips.share(GUILD, ALICE, "me", "Alice")
    second = await clips.add(ALICE, "ME", pack_codes([7] * 10), "b")  # names ignore ASCII case
    assert second.clip_id == first.clip_id and len(await clips.mine(ALICE)) == 1
    assert (await clips.shared(GUILD, "alice")).clip.codes == pack_codes([7] * 10)


async def test_a_user_keeps_at_most_the_cap(db: Database) -> None:
    clips = VoiceClips(db)
    for n in range(MAX_CLIPS_PER_USER):
        await clips.add(ALICE, f"clip {n}", CODES, "")
    with pytest.raises(StoreLimitError, match="delete one"):
        await clips.add(ALICE, "one more", CODES, "")
    assert len(await clips.mine(ALICE)) == MAX_CLIPS_PER_USER


async def test_only_the_uploader_can_share_their_clip(db: Database) -> None:
    clips = VoiceClips(db)
    await clips.add(ALICE, "me", CODES, "")
    with pytest.raises(ClipNotFound):  # Bob has no clip of that name: he cannot reach Alice's
        await clips.share(GUILD, BOB, "me", "Alice")
    shared = await clips.share(GUILD, ALICE, "me", "Alice")
    assert shared.clip.user_id == ALICE
    assert [s.name for s in await clips.shared_in(GUILD)] == ["Alice"]
    assert await clips.shared_in(OTHER_GUILD) == []  # shared with one server, not every server


async def test_a_shared_name_is_unique_per_server(db: Database) -> None:
    clips = VoiceClips(db)
    await clips.add(ALICE, "me", CODES, "")
    await clips.add(BOB, "me", CODES, "")
    await clips.share(GUILD, ALICE, "me", "Narrator")
    with pytest.raises(ClipNameTaken):
        await clips.share(GUILD, BOB, "me", "narrator")
    await clips.share(OTHER_GUILD, BOB, "me", "Narrator")  # another server may use the name


async def test_deleting_a_clip_removes_its_codes_and_every_share(db: Database) -> None:
    clips = VoiceClips(db)
    await clips.add(ALICE, "me", CODES, "")
    await clips.share(GUILD, ALICE, "me", "Alice")
    await clips.share(OTHER_GUILD, ALICE, "me", "Alice")
    await clips.delete(ALICE, "me")
    assert await clips.mine(ALICE) == []
    for guild in (GUILD, OTHER_GUILD):
        with pytest.raises(ClipNotFound):
            await clips.shared(guild, "Alice")
    assert (await db.fetch_one("SELECT count(*) FROM voice_clips"))[0] == 0
    assert (await db.fetch_one("SELECT count(*) FROM shared_voices"))[0] == 0


async def test_others_cannot_unshare_but_a_manager_can(db: Database) -> None:
    clips = VoiceClips(db)
    await clips.add(ALICE, "me", CODES, "")
    await clips.share(GUILD, ALICE, "me", "Alice")
    with pytest.raises(ClipNotFound, match="someone else"):
        await clips.unshare(GUILD, "Alice", user_id=BOB)
    await clips.unshare(GUILD, "alice", user_id=None)
    assert await clips.shared_in(GUILD) == []
    assert len(await clips.mine(ALICE)) == 1  # unsharing keeps the clip


async def test_bad_names_and_clips_are_refused(db: Database) -> None:
    clips = VoiceClips(db)
    with pytest.raises(StoreLimitError):
        await clips.add(ALICE, "   ", CODES, "")
    with pytest.raises(ValueError):
        await clips.add(ALICE, "empty", b"", "")
    await clips.add(ALICE, "me", CODES, "")
    with pytest.raises(StoreLimitError):
        await clips.share(GUILD, ALICE, "me", "x" * 33)


async def test_clips_cloned_before_the_library_become_its_first_entries(db_path: Path) -> None:
    async with await Database.open(db_path, migrations=MIGRATIONS[:1]) as old:
        await save_profile_as_v1(old)
    async with await Database.open(db_path) as db:
        (clip,) = await VoiceClips(db).mine(ALICE)
        assert clip.name == "me.wav" and clip.codes == CODES and clip.transcript == "はい"
        profile = await VoiceProfiles(db).get(ALICE)
        assert profile.reference == CODES and profile.shared_voice is None


async def save_profile_as_v1(db: Database) -> None:
    """A profile row as the first schema stored it (the bot of that version wrote exactly these columns)."""
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO voice_profiles (user_id, reference, reference_transcript, reference_name, updated_at) "
            "VALUES (?, ?, ?, ?, ?)", (ALICE, CODES, "はい", "me.wav", 1.0))

