"""Per-user voice profiles: defaults, round trips, updates, limits, and the packed reference codes."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.store import (
    Database, StoreLimitError, UnknownFieldError, VoiceProfile, VoiceProfiles, pack_codes, unpack_codes,
)

USER = 123456789012345678  # a real-looking 18-digit snowflake


def full_profile(user_id: int = USER) -> VoiceProfile:
    return VoiceProfile(
        user_id=user_id, preset="cheerful",
        caption={"emotion": "excited", "speed": "速い", "caption": "明るい少女の声。"},
        reference=pack_codes([0, 1, 4096, 65535]), reference_transcript="こんにちは", reference_name="me.wav",
        temperature=0.7, top_p=0.9, top_k=40, repeat_penalty=1.2, seed=-1, spoken_name="たろう",
    )


@given(st.lists(st.integers(0, 0xFFFF), max_size=300))
def test_packed_codes_unpack_to_the_same_codes(codes: list[int]) -> None:
    packed = pack_codes(codes)
    assert len(packed) == 2 * len(codes)
    assert unpack_codes(packed) == tuple(codes)


def test_packed_codes_are_uint16_little_endian() -> None:
    assert pack_codes([1, 0x1234]) == b"\x01\x00\x34\x12"


@pytest.mark.parametrize("code", [-1, 0x10000, 1.5, True])
def test_a_code_outside_uint16_is_refused(code: object) -> None:
    with pytest.raises(ValueError):
        pack_codes([code])  # type: ignore[list-item]


async def test_a_user_without_a_profile_gets_the_default(db: Database) -> None:
    assert await VoiceProfiles(db).get(USER) == VoiceProfile(USER)


async def test_every_field_round_trips(db: Database) -> None:
    voices = VoiceProfiles(db, clock=lambda: 1_700_000_000.5)
    saved = await voices.save(full_profile())
    assert saved.updated_at == 1_700_000_000.5
    assert await voices.get(USER) == saved
    assert saved == dataclasses.replace(full_profile(), updated_at=1_700_000_000.5)


async def test_profiles_survive_a_restart(db_path: Path) -> None:
    async with await Database.open(db_path) as db:
        saved = await VoiceProfiles(db).save(full_profile())
    async with await Database.open(db_path) as db:
        assert await VoiceProfiles(db).get(USER) == saved


async def test_update_changes_only_the_named_fields(db: Database) -> None:
    voices = VoiceProfiles(db)
    await voices.save(full_profile())
    updated = await voices.update(USER, temperature=1.1, reference=None, reference_transcript="")
    assert (updated.temperature, updated.reference, updated.preset, updated.top_k) == (1.1, None, "cheerful", 40)
    assert await voices.get(USER) == updated


async def test_update_of_a_new_user_starts_from_the_default(db: Database) -> None:
    updated = await VoiceProfiles(db).update(USER, spoken_name="ななし")
    assert updated.spoken_name == "ななし" and updated.preset is None and updated.updated_at is not None


async def test_update_with_an_unknown_field_raises_and_changes_nothing(db: Database) -> None:
    voices = VoiceProfiles(db)
    with pytest.raises(UnknownFieldError, match="did you mean temperature"):
        await voices.update(USER, temprature=1.0, preset="x")
    with pytest.raises(UnknownFieldError, match="can't be changed"):
        await voices.update(USER, user_id=5)
    assert await voices.get(USER) == VoiceProfile(USER)


async def test_reset_forgets_the_profile(db: Database) -> None:
    voices = VoiceProfiles(db)
    await voices.save(full_profile())
    await voices.reset(USER)
    await voices.reset(USER)  # twice is harmless
    assert await voices.get(USER) == VoiceProfile(USER)


async def test_profiles_are_per_user(db: Database) -> None:
    voices = VoiceProfiles(db)
    await voices.update(1, preset="a")
    await voices.update(2, preset="b")
    assert [(await voices.get(u)).preset for u in (1, 2, 3)] == ["a", "b", None]


def test_a_profile_keeps_its_own_copy_of_the_caption() -> None:
    caption = {"emotion": "sad"}
    profile = VoiceProfile(USER, caption=caption)
    caption["emotion"] = "angry"
    assert profile.caption == {"emotion": "sad"}


def test_empty_caption_and_reference_mean_none() -> None:
    assert VoiceProfile(USER, caption={}, reference=b"") == VoiceProfile(USER)


@pytest.mark.parametrize("changes", [
    {"spoken_name": "x" * 101},
    {"reference_transcript": "あ" * 1001},
    {"reference": pack_codes([1] * (120 * 50 + 1))},
    {"caption": {"caption": "x" * 201}},
    {"top_p": 1.5},
    {"temperature": float("nan")},
    {"top_k": -1},
])
async def test_values_over_the_limits_are_refused_with_a_message(db: Database, changes: dict) -> None:
    with pytest.raises(StoreLimitError) as error:
        await VoiceProfiles(db).update(USER, **changes)
    assert str(error.value)
    assert await VoiceProfiles(db).get(USER) == VoiceProfile(USER)


@pytest.mark.parametrize("changes", [{"temperature": "hot"}, {"seed": True}, {"caption": ["a"]}, {"reference": [1, 2]}])
def test_values_of_the_wrong_type_are_a_type_error(changes: dict) -> None:
    with pytest.raises(TypeError):
        VoiceProfile(USER, **changes)
