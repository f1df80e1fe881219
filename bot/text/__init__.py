"""Chat text → speakable text: one small function per rule, applied in order by pipeline.py.

Pure and synchronous (run it in a thread); imports nothing from discord, torch or llama_cpp.
"""
from __future__ import annotations

from .dictionary import DictionaryMatch, ReadingDictionary
from .errors import DictionaryError, SettingsError, TextInputError
from .kana import to_kana
from .message import Attachment, ChatMessage, ReadingSettings
from .pipeline import speakable_phrase, speakable_text, warm_up

__all__ = [
    "Attachment",
    "ChatMessage",
    "DictionaryError",
    "DictionaryMatch",
    "ReadingDictionary",
    "ReadingSettings",
    "SettingsError",
    "TextInputError",
    "speakable_phrase",
    "speakable_text",
    "to_kana",
    "warm_up",
]
