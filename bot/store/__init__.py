"""SQLite storage (aiosqlite): one connection, versioned schema, one module per table family."""
from __future__ import annotations

from .clips import ClipNameTaken, ClipNotFound, SharedVoice, VoiceClip, VoiceClips
from .database import Database, Transaction
from .dictionary import DictionaryStore, DictScope
from .errors import SchemaTooNewError, StoreError, StoreLimitError, UnknownFieldError
from .guilds import GuildSettings, GuildSettingsStore
from .migrations import SCHEMA_VERSION
from .voices import VoiceProfile, VoiceProfiles, pack_codes, unpack_codes

__all__ = [
    "Database", "Transaction", "SCHEMA_VERSION",
    "VoiceProfile", "VoiceProfiles", "pack_codes", "unpack_codes",
    "VoiceClip", "VoiceClips", "SharedVoice", "ClipNotFound", "ClipNameTaken",
    "GuildSettings", "GuildSettingsStore",
    "DictScope", "DictionaryStore",
    "StoreError", "StoreLimitError", "UnknownFieldError", "SchemaTooNewError",
]
