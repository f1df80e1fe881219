"""Each user's own voice: preset, caption, cloned reference, sampling, spoken name (global per user)."""
from __future__ import annotations

import dataclasses
import json
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .database import Database, Transaction
from .errors import StoreLimitError
from .validation import (
    check_float, check_id, check_int, check_optional_text, check_text, with_changes,
)

MAX_CODE = 0xFFFF  # XCodec2's codebook has 65,536 entries: one uint16 each
# 120 s at XCodec2's 50 codes a second; the bot caps clips far lower, this guards the file.
MAX_REFERENCE_CODES = 120 * 50
MAX_PRESET_CHARS = 100
MAX_CAPTION_FIELDS = 16
MAX_CAPTION_KEY_CHARS = 32
MAX_CAPTION_VALUE_CHARS = 200
MAX_TRANSCRIPT_CHARS = 1_000
MAX_REFERENCE_NAME_CHARS = 200
MAX_SPOKEN_NAME_CHARS = 100


def pack_codes(codes: Iterable[int]) -> bytes:
    """Speech codes as a uint16 little-endian array (the `reference` column's format)."""
    values = tuple(codes)
    for code in values:
        if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= MAX_CODE:
            raise ValueError(f"a speech code must be an int from 0 to {MAX_CODE}, not {code!r}")
    return struct.pack(f"<{len(values)}H", *values)


def unpack_codes(data: bytes) -> tuple[int, ...]:
    """The codes `pack_codes` packed."""
    if len(data) % 2:
        raise ValueError(f"packed speech codes have an even length, not {len(data)} bytes")
    return struct.unpack(f"<{len(data) // 2}H", data)


@dataclass(frozen=True)
class VoiceProfile:
    """How one user sounds; None in a sampling field means "the server default"."""

    user_id: int
    preset: str | None = None                 # a preset's name
    caption: dict[str, str] | None = None     # caption fields laid over the preset
    reference: bytes | None = None            # cloned voice: pack_codes() of its speech codes
    reference_transcript: str = ""            # what the reference clip says
    reference_name: str = ""                  # the uploaded file's name, to show back
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repeat_penalty: float | None = None
    seed: int | None = None                   # -1: a new seed each time
    spoken_name: str | None = None            # how read-aloud announces the user
    shared_voice: str | None = None           # a voice shared in the server they speak in, by name
    updated_at: float | None = None           # unix seconds of the last save; None: never saved

    def __post_init__(self) -> None:
        check_id("user_id", self.user_id)
        check_optional_text("preset", self.preset, MAX_PRESET_CHARS)
        object.__setattr__(self, "caption", _checked_caption(self.caption))
        object.__setattr__(self, "reference", _checked_reference(self.reference))
        check_text("reference_transcript", self.reference_transcript, MAX_TRANSCRIPT_CHARS)
        check_text("reference_name", self.reference_name, MAX_REFERENCE_NAME_CHARS)
        # Only what storage needs (finite, non-negative); the command sets the usable ranges.
        for name in ("temperature", "top_p", "repeat_penalty"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check_float(name, value, 0.0, 1.0 if name == "top_p" else 100.0))
        if self.top_k is not None:
            check_int("top_k", self.top_k, 0, 1_000_000)
        if self.seed is not None:
            check_int("seed", self.seed)
        check_optional_text("spoken_name", self.spoken_name, MAX_SPOKEN_NAME_CHARS)
        check_optional_text("shared_voice", self.shared_voice, MAX_PRESET_CHARS)
        if self.updated_at is not None:
            object.__setattr__(self, "updated_at", float(self.updated_at))


def _checked_caption(caption: object) -> dict[str, str] | None:
    if caption is None:
        return None
    if not isinstance(caption, dict):
        raise TypeError(f"caption must be a dict of str, not {type(caption).__name__}")
    if len(caption) > MAX_CAPTION_FIELDS:
        raise StoreLimitError("store.caption_fields", limit=MAX_CAPTION_FIELDS, count=len(caption))
    for key, value in caption.items():
        check_text("caption field name", key, MAX_CAPTION_KEY_CHARS)
        check_text(f"caption field {key}", value, MAX_CAPTION_VALUE_CHARS)
    # A copy: the caller's dict changing later must not change a stored profile.
    return dict(caption) or None


def _checked_reference(reference: object) -> bytes | None:
    if reference is None:
        return None
    if not isinstance(reference, (bytes, bytearray, memoryview)):
        raise TypeError(f"reference must be bytes from pack_codes, not {type(reference).__name__}")
    data = bytes(reference)
    if len(data) % 2:
        raise ValueError("reference must be bytes from pack_codes (an even number of bytes)")
    if len(data) // 2 > MAX_REFERENCE_CODES:
        raise StoreLimitError("store.reference_too_long", seconds=MAX_REFERENCE_CODES // 50)
    return data or None


_COLUMNS = tuple(f.name for f in dataclasses.fields(VoiceProfile))
_UPSERT = (
    f"INSERT INTO voice_profiles ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    f"ON CONFLICT (user_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _COLUMNS[1:])}"
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM voice_profiles WHERE user_id = ?"


class VoiceProfiles:
    """Reads and writes `VoiceProfile`s; a user without one gets the default profile."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def get(self, user_id: int) -> VoiceProfile:
        """The user's profile, or a default one (`updated_at` None) when nothing is stored."""
        return _from_row(user_id, await self._db.fetch_one(_SELECT, (check_id("user_id", user_id),)))

    async def save(self, profile: VoiceProfile) -> VoiceProfile:
        """Store the whole profile; returns it as stored (with `updated_at` set)."""
        async with self._db.transaction() as tx:
            return await self._write(tx, profile)

    async def update(self, user_id: int, /, **changes: Any) -> VoiceProfile:
        """Change some fields atomically; an unknown field name raises UnknownFieldError."""
        async with self._db.transaction() as tx:
            current = _from_row(user_id, await tx.fetch_one(_SELECT, (check_id("user_id", user_id),)))
            updated = with_changes(current, changes, fixed=frozenset({"user_id", "updated_at"}), what="voice")
            return await self._write(tx, updated)

    async def reset(self, user_id: int) -> None:
        """Forget the user's profile (the cloned clip too); they get the default again."""
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM voice_profiles WHERE user_id = ?", (check_id("user_id", user_id),))

    async def _write(self, tx: Transaction, profile: VoiceProfile) -> VoiceProfile:
        stored = dataclasses.replace(profile, updated_at=self._clock())
        values = [getattr(stored, c) for c in _COLUMNS]
        if stored.caption is not None:
            values[_COLUMNS.index("caption")] = json.dumps(stored.caption, ensure_ascii=False)
        await tx.execute(_UPSERT, values)
        return stored


def _from_row(user_id: int, row: Any) -> VoiceProfile:
    if row is None:
        return VoiceProfile(user_id)
    values = dict(zip(_COLUMNS, row))
    if values["caption"] is not None:
        values["caption"] = json.loads(values["caption"])
    return VoiceProfile(**values)
