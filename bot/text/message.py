"""A chat message as plain data, and the per-server settings that decide how it is read aloud."""
from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from .errors import SettingsError

CodeBlockMode = Literal["omit", "drop", "read"]
SpoilerMode = Literal["announce", "drop", "read"]
UrlMode = Literal["omit", "domain", "drop"]
CustomEmojiMode = Literal["name", "drop"]
UnicodeEmojiMode = Literal["drop", "name"]
KanaMode = Literal["off", "kanji", "all"]


@dataclass(frozen=True)
class Attachment:
    """One file attached to a message; content_type is Discord's MIME type when it sent one."""

    filename: str
    content_type: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    """What the reader needs from a Discord message, with every mention already resolved to a name."""

    content: str
    author_name: str = ""
    user_names: Mapping[int, str] = field(default_factory=dict)
    role_names: Mapping[int, str] = field(default_factory=dict)
    channel_names: Mapping[int, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    sticker_names: tuple[str, ...] = ()
    is_reply: bool = False
    reply_to_name: str | None = None
    # Unix seconds; the "now" for relative timestamps (<t:…:R>), so the pipeline stays pure.
    created_at: float | None = None

    def __post_init__(self) -> None:
        # Read-only copies: a caller mutating its dict later must not change a message in flight.
        for name in ("user_names", "role_names", "channel_names"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        object.__setattr__(self, "attachments", tuple(self.attachments))
        object.__setattr__(self, "sticker_names", tuple(self.sticker_names))


@dataclass(frozen=True)
class ReadingSettings:
    """How one server wants chat read aloud; every field is one clean-up rule."""

    code_blocks: CodeBlockMode = "omit"          # ``` blocks → コード省略 / nothing / their text
    spoilers: SpoilerMode = "announce"           # ||…|| → ネタバレ / nothing / their text
    urls: UrlMode = "omit"                       # links → URL省略 / 〇〇のURL / nothing
    custom_emoji: CustomEmojiMode = "name"       # <:kusa:1> → kusa / nothing
    unicode_emoji: UnicodeEmojiMode = "drop"     # 😂 → nothing / 嬉し泣き
    laughter: bool = True                        # www → わらわら, 8888 → ぱちぱち
    max_repeat: int = 3                          # ああああああ → あああ; 0 turns the cap off
    english_to_katakana: bool = True             # hello → ハロー
    # "kanji": the model misreads kanji and numbers (its guide says to write kana), while kana it
    # reads well; rewriting only those words keeps the rest as written. "all" is there to measure.
    kana_mode: KanaMode = "kanji"
    max_chars: int = 100                         # longer text is cut and ends with 以下略
    announce_replies: bool = False               # "太郎への返信、" before a reply
    describe_attachments: bool = True            # 画像, 動画, ファイル, スタンプ
    keep_control_tags: bool = True               # （囁き） reaches the model as a delivery tag
    utc_offset_minutes: int = 540                # time zone for <t:…> timestamps (JST)

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            _check_value(spec.name, getattr(self, spec.name), _HINTS[spec.name])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for storage); from_dict reads it back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, ignore_unknown: bool = False) -> ReadingSettings:
        """Build from a stored or user-given dict: missing keys take defaults, bad values raise SettingsError."""
        if not isinstance(data, Mapping):
            raise SettingsError("reading.not_a_mapping", kind=type(data).__name__)
        known = {spec.name for spec in dataclasses.fields(cls)}
        unknown = [key for key in data if key not in known]
        if unknown and not ignore_unknown:
            key = str(unknown[0])
            close = difflib.get_close_matches(key, sorted(known), n=1)
            if close:
                raise SettingsError("reading.unknown_close", name=repr(key), close=close[0])
            raise SettingsError("reading.unknown", name=repr(key), known=", ".join(sorted(known)))
        return cls(**{key: value for key, value in data.items() if key in known})


def _check_value(name: str, value: Any, hint: Any) -> None:
    if typing.get_origin(hint) is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed or not isinstance(value, str):
            raise SettingsError("reading.one_of", name=name, allowed=", ".join(allowed), value=repr(value))
    elif hint is bool:
        if not isinstance(value, bool):
            raise SettingsError("reading.bool", name=name, value=repr(value))
    elif hint is int:
        low, high = _INT_RANGES[name]
        # bool is an int subclass; True as a character limit is a bug, not a value.
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise SettingsError("reading.int_range", name=name, low=low, high=high, value=repr(value))
    else:  # pragma: no cover - a new field type without a check is our bug
        raise TypeError(f"no validation for setting {name} of type {hint!r}")


_INT_RANGES: dict[str, tuple[int, int]] = {
    "max_repeat": (0, 20),
    "max_chars": (1, 2000),
    "utc_offset_minutes": (-720, 840),
}
_HINTS: dict[str, Any] = typing.get_type_hints(ReadingSettings)
