"""Each user's library of cloned clips, and the clips they shared with a server under a name."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..i18n import UserFacing
from .database import Database
from .errors import StoreError, StoreLimitError
from .validation import check_id, check_text
from .voices import MAX_TRANSCRIPT_CHARS, _checked_reference

MAX_CLIPS_PER_USER = 10
MAX_SHARED_PER_GUILD = 50
MAX_SHARED_NAME_CHARS = 32
MAX_CLIP_NAME_CHARS = 100  # Discord's limit for an autocomplete value


class ClipNotFound(UserFacing, StoreError, LookupError):
    """No clip (or shared voice) of that name; the message says which."""


class ClipNameTaken(UserFacing, StoreError, ValueError):
    """The name is already used (by the user's own clip, or by a shared voice in the server)."""


@dataclass(frozen=True)
class VoiceClip:
    """One cloned clip: its speech codes (pack_codes format) and what is said in it."""

    clip_id: int
    user_id: int
    name: str
    codes: bytes
    transcript: str
    created_at: float

    @property
    def seconds(self) -> float:
        return len(self.codes) / 2 / 50  # two bytes a code, XCodec2's 50 codes a second


@dataclass(frozen=True)
class SharedVoice:
    """A clip shared with one server under `name`; `clip.user_id` is who shared it."""

    guild_id: int
    name: str
    clip: VoiceClip


_CLIP = "c.clip_id, c.user_id, c.name, c.codes, c.transcript, c.created_at"


class VoiceClips:
    """Adds, lists, shares and deletes clips; deleting a clip removes its codes and every share of it."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def add(self, user_id: int, name: str, codes: bytes, transcript: str) -> VoiceClip:
        """Keep a clip under name (a clip of the same name is replaced); StoreLimitError past the cap."""
        check_id("user_id", user_id)
        name = _clip_name(name)
        data = _checked_reference(codes)
        if not data:
            raise ValueError("a clip needs at least one code")
        check_text("transcript", transcript, MAX_TRANSCRIPT_CHARS)
        async with self._db.transaction() as tx:
            row = await tx.fetch_one("SELECT clip_id FROM voice_clips WHERE user_id = ? AND name = ?", (user_id, name))
            if row is not None:
                # Same name: new codes, same id, so the servers it was shared with get the new take.
                await tx.execute("UPDATE voice_clips SET codes = ?, transcript = ?, created_at = ? WHERE clip_id = ?",
                                 (data, transcript, self._clock(), row[0]))
            else:
                (count,) = await tx.fetch_one("SELECT count(*) FROM voice_clips WHERE user_id = ?", (user_id,))
                if count >= MAX_CLIPS_PER_USER:
                    raise StoreLimitError("clips.too_many", limit=MAX_CLIPS_PER_USER)
                await tx.execute("INSERT INTO voice_clips (user_id, name, codes, transcript, created_at) "
                                 "VALUES (?, ?, ?, ?, ?)", (user_id, name, data, transcript, self._clock()))
            found = await tx.fetch_one(f"SELECT {_CLIP} FROM voice_clips c WHERE user_id = ? AND name = ?",
                                       (user_id, name))
        return VoiceClip(*found)

    async def mine(self, user_id: int) -> list[VoiceClip]:
        """The user's clips, oldest first."""
        rows = await self._db.fetch_all(f"SELECT {_CLIP} FROM voice_clips c WHERE user_id = ? ORDER BY created_at, clip_id",
                                        (check_id("user_id", user_id),))
        return [VoiceClip(*row) for row in rows]

    async def get(self, user_id: int, name: str) -> VoiceClip:
        row = await self._db.fetch_one(f"SELECT {_CLIP} FROM voice_clips c WHERE user_id = ? AND name = ?",
                                       (check_id("user_id", user_id), name))
        if row is None:
            raise ClipNotFound("clips.not_found", name=name)
        return VoiceClip(*row)

    async def delete(self, user_id: int, name: str) -> VoiceClip:
        """Remove the user's clip and its codes; every server it was shared with loses it too."""
        clip = await self.get(user_id, name)
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM voice_clips WHERE clip_id = ?", (clip.clip_id,))  # shares cascade
        return clip

    async def share(self, guild_id: int, user_id: int, clip_name: str, shared_name: str) -> SharedVoice:
        """Share one of the user's own clips with the server; only its uploader can (it is looked up by owner)."""
        check_id("guild_id", guild_id)
        shared_name = _shared_name(shared_name)
        clip = await self.get(user_id, clip_name)
        async with self._db.transaction() as tx:
            row = await tx.fetch_one("SELECT clip_id FROM shared_voices WHERE guild_id = ? AND name = ?",
                                     (guild_id, shared_name))
            if row is not None and row[0] != clip.clip_id:
                raise ClipNameTaken("clips.name_taken", name=shared_name)
            (count,) = await tx.fetch_one("SELECT count(*) FROM shared_voices WHERE guild_id = ?", (guild_id,))
            if row is None and count >= MAX_SHARED_PER_GUILD:
                raise StoreLimitError("clips.too_many_shared", limit=MAX_SHARED_PER_GUILD)
            await tx.execute("INSERT OR IGNORE INTO shared_voices (guild_id, name, clip_id) VALUES (?, ?, ?)",
                             (guild_id, shared_name, clip.clip_id))
        return SharedVoice(guild_id, shared_name, clip)

    async def unshare(self, guild_id: int, name: str, *, user_id: int | None) -> None:
        """Stop sharing; user_id limits it to that uploader's own shares (None: a server manager)."""
        shared = await self.shared(guild_id, name)
        if user_id is not None and shared.clip.user_id != user_id:
            raise ClipNotFound("clips.not_yours", name=name)
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM shared_voices WHERE guild_id = ? AND name = ?", (guild_id, shared.name))

    async def shared(self, guild_id: int, name: str) -> SharedVoice:
        """The server's shared voice of that name; ClipNotFound when there is none (any more)."""
        row = await self._db.fetch_one(
            f"SELECT s.name, {_CLIP} FROM shared_voices s JOIN voice_clips c USING (clip_id) "
            "WHERE s.guild_id = ? AND s.name = ?", (check_id("guild_id", guild_id), name))
        if row is None:
            raise ClipNotFound("clips.no_shared", name=name)
        return SharedVoice(guild_id, row[0], VoiceClip(*row[1:]))

    async def shared_in(self, guild_id: int) -> list[SharedVoice]:
        """Every voice shared with the server, by name."""
        rows = await self._db.fetch_all(
            f"SELECT s.name, {_CLIP} FROM shared_voices s JOIN voice_clips c USING (clip_id) "
            "WHERE s.guild_id = ? ORDER BY s.name", (check_id("guild_id", guild_id),))
        return [SharedVoice(guild_id, row[0], VoiceClip(*row[1:])) for row in rows]


def _clip_name(name: str) -> str:
    return _name("clip name", name, MAX_CLIP_NAME_CHARS, StoreLimitError("clips.clip_needs_name"))


def _shared_name(name: str) -> str:
    return _name("shared voice name", name, MAX_SHARED_NAME_CHARS, StoreLimitError("clips.shared_needs_name"))


def _name(what: str, name: str, max_chars: int, empty: StoreLimitError) -> str:
    """Runs of spaces folded to one; empty (raises `empty`, whose key the catalogue check can see) or too long refused."""
    name = " ".join(str(name).split())
    check_text(what, name, max_chars)
    if not name:
        raise empty
    return name
