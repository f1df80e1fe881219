"""Ready-made chat messages shaped like the ones Discord sends, shared by the text tests."""
from __future__ import annotations

import threading
from typing import Any

import bot.text.dictionary as dictionary_module

from bot.text import ChatMessage, ReadingSettings

ALICE_ID = 111111111111111111
BOB_ID = 222222222222222222
ROLE_ID = 333333333333333333
CHANNEL_ID = 444444444444444444
EMOJI_ID = 555555555555555555

USERS = {ALICE_ID: "ありす", BOB_ID: "Bob"}
ROLES = {ROLE_ID: "運営"}
CHANNELS = {CHANNEL_ID: "雑談"}

# The rules without the kana pass: Discord-level tests read best on the text as written.
AS_WRITTEN = ReadingSettings(kana_mode="off", english_to_katakana=False)


def chat(content: str, **fields: Any) -> ChatMessage:
    """A message in a server whose members, roles and channels the tests know by name."""
    fields.setdefault("author_name", "ありす")
    fields.setdefault("user_names", USERS)
    fields.setdefault("role_names", ROLES)
    fields.setdefault("channel_names", CHANNELS)
    return ChatMessage(content, **fields)


def spy_on_dictionary(monkeypatch, name: str) -> list[int]:
    """Record the thread of every call to bot.text.dictionary.<name>, calling through."""
    threads: list[int] = []
    real = getattr(dictionary_module, name)

    def spy(*args, **kwargs):
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(dictionary_module, name, spy)
    return threads
