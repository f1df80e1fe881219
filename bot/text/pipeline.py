"""Chat message → the text the speech engine says: every rule, in one fixed order.

Discord markup (on the raw content, where its syntax is still intact):
  1. lone surrogates, private-use characters and `<|…|>` token look-alikes removed
  2. code blocks and inline code parked, so `||` in code is not a spoiler
  3. spoilers → ネタバレ / nothing / their text (parked code inside goes with them)
  4. code back: blocks → コード省略 / nothing / their text; inline code → its text
  5. masked links → their text; bare and <wrapped> URLs → URL省略 / 〇〇のURL / nothing
  6. custom emoji <:name:id> → name (repeats once) / nothing
  7. mentions of users, roles, channels and commands, @everyone and @here → names
  8. timestamps <t:unix:style> → spoken date and time
  9. markdown markers (headings, -# subtext, quotes, lists, ** __ ~~ * _) stripped
 10. reply prefix (太郎への返信、) before, attachments and stickers (画像2枚、スタンプ) after
Plain text (control tags such as （囁き） are split off first and pass through untouched):
 11. Unicode emoji dropped or named (before NFKC, which would turn ℹ️ into "i")
 12. NFKC (ｶﾞ → ガ, ｗ → w, full-width → ASCII; ～ kept as a wave dash)
 13. zero-width, bidi and control characters removed
 14. pronunciation dictionary, leftmost-longest; its readings are final (never re-read below)
 15. laughter: w → わら, www → わらわら, 888 → ぱちぱち
 16. runs of more than max_repeat identical characters cut
 17. stray markup symbols out, newlines → 、, spaces collapsed; text far past the limit cut here
 18. English words → katakana; dates and clock times (12:30 → 12時30分)
 19. kanji and numbers → kana (kana_mode); 18 and 19 stop converting once past the limit
     (both are costly: kanalizer ~9 ms a new word, OpenJTalk ~0.2 ms a character)
 20. joined, tidied, token look-alikes removed again, cut to max_chars + 以下略
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import kana, markup, rules
from .dictionary import ReadingDictionary
from .english import english_to_katakana
from .message import ChatMessage, ReadingSettings


@dataclass(frozen=True)
class _Piece:
    """A stretch of text; fixed pieces (control tags, dictionary readings) are never rewritten."""

    text: str
    fixed: bool = False


def speakable_text(message: ChatMessage, settings: ReadingSettings, dictionary: ReadingDictionary | None = None) -> str:
    """What to say for a chat message ("" when nothing is left to say); at most max_chars + 3 long."""
    text = _discord_markup(message.content, message, settings)
    if settings.announce_replies and message.is_reply:
        name = markup.remove_unsafe_characters(message.reply_to_name or "").strip()
        text = f"{name}への返信、{text}" if name else f"返信、{text}"
    if settings.describe_attachments:
        described = rules.describe_attachments(message.attachments, message.sticker_names)
        text = f"{text}\n{described}" if described else text
    return _plain_text(text, settings, dictionary)


def speakable_phrase(text: str, settings: ReadingSettings, dictionary: ReadingDictionary | None = None) -> str:
    """The plain-text rules alone, for names and announcements (no Discord markup is parsed)."""
    text = markup.remove_special_tokens(markup.remove_unsafe_characters(text))
    return _plain_text(text, settings, dictionary)


def warm_up() -> bool:
    """Load the kana reader, kanalizer and emoji names now (about 0.7 s), not on the first message.

    Returns False when pyopenjtalk-plus is missing (text is then read without kana conversion).
    """
    reader_ready = kana.warm_up()
    speakable_phrase("Hello 😀 今日は重い荷物を2024年に", ReadingSettings(unicode_emoji="name"))
    return reader_ready


def _discord_markup(content: str, message: ChatMessage, settings: ReadingSettings) -> str:
    text = markup.remove_special_tokens(markup.remove_unsafe_characters(content))
    text, code = markup.hide_code(text)
    text = markup.spoilers(text, settings.spoilers)
    text = markup.restore_code(text, code, settings.code_blocks)
    text = markup.links(text, settings.urls)
    text = markup.custom_emoji(text, settings.custom_emoji)
    text = markup.mentions(text, message.user_names, message.role_names, message.channel_names)
    text = markup.timestamps(text, settings.utc_offset_minutes, message.created_at)
    return markup.markdown(text)


def _plain_text(text: str, settings: ReadingSettings, dictionary: ReadingDictionary | None) -> str:
    pieces = _split_control_tags(text) if settings.keep_control_tags else [_Piece(text)]
    pieces = _each_plain(pieces, lambda t: rules.unicode_emoji(t, settings.unicode_emoji))
    # NFKC can build token look-alikes from full-width ＜｜…｜＞, so they are removed again after it.
    pieces = _each_plain(pieces, lambda t: markup.remove_special_tokens(rules.remove_invisible(rules.to_nfkc(t))))
    if dictionary is not None and len(dictionary):
        pieces = _apply_dictionary(pieces, dictionary)
    if settings.laughter:
        pieces = _each_plain(pieces, rules.laughter)
    pieces = _each_plain(pieces, lambda t: rules.cap_repeats(t, settings.max_repeat))
    pieces = _each_plain(pieces, rules.tidy_inside)
    pieces, cut_short = _precut(pieces, settings.max_chars)
    # The costly rules stop once the output is past what will be said (the cap cuts the rest).
    enough = settings.max_chars + _SLACK
    if settings.english_to_katakana:
        pieces = _each_plain_until(pieces, lambda t, room: english_to_katakana(t, stop_after=room), enough)
    pieces = _each_plain(pieces, rules.dates_and_times)
    pieces = _each_plain_until(pieces, lambda t, room: kana.to_kana(t, settings.kana_mode, stop_after=room), enough)
    spoken = markup.remove_special_tokens(rules.tidy("".join(piece.text for piece in pieces)))
    if not rules.has_speakable(spoken):
        return ""
    if cut_short:
        return rules.cut_at(spoken, settings.max_chars) + rules.TRUNCATION_MARK
    return rules.truncate(spoken, settings.max_chars)


def _split_control_tags(text: str) -> list[_Piece]:
    pieces: list[_Piece] = []
    position = 0
    for tag in rules.CONTROL_TAG.finditer(text):
        pieces += [_Piece(text[position:tag.start()]), _Piece(tag.group(), fixed=True)]
        position = tag.end()
    pieces.append(_Piece(text[position:]))
    return pieces


def _each_plain(pieces: list[_Piece], rule: Callable[[str], str]) -> list[_Piece]:
    return [piece if piece.fixed or not piece.text else _Piece(rule(piece.text)) for piece in pieces]


def _each_plain_until(pieces: list[_Piece], rule: Callable[[str, int], str], limit: int) -> list[_Piece]:
    """Like _each_plain, but rule(text, room) learns how much output is still wanted; later pieces stay."""
    out: list[_Piece] = []
    length = 0
    for piece in pieces:
        if not piece.fixed and piece.text and length < limit:
            piece = _Piece(rule(piece.text, limit - length))
        out.append(piece)
        length += len(piece.text)
    return out


def _apply_dictionary(pieces: list[_Piece], dictionary: ReadingDictionary) -> list[_Piece]:
    out: list[_Piece] = []
    for piece in pieces:
        if piece.fixed:
            out.append(piece)
            continue
        position = 0
        for match in dictionary.find(piece.text):
            out += [_Piece(piece.text[position:match.start]), _Piece(match.reading, fixed=True)]
            position = match.end
        out.append(_Piece(piece.text[position:]))
    return out


# Rules after the cut never shrink text by more than this factor (kana and katakana grow it).
_PRECUT_FACTOR = 3
# Output past max_chars that the costly rules still convert: the final tidy may shrink a little.
_SLACK = 20
_PRECUT_MARGIN = 30
_WORD_TAIL = re.compile(r"[A-Za-z0-9]+$")


def _precut(pieces: list[_Piece], max_chars: int) -> tuple[list[_Piece], bool]:
    """Keep about 3 × max_chars: a 4,000-character paste must not cost 4,000 characters of work."""
    budget = max_chars * _PRECUT_FACTOR + _PRECUT_MARGIN
    if sum(len(piece.text) for piece in pieces) <= budget:
        return pieces, False
    kept: list[_Piece] = []
    for piece in pieces:
        if len(piece.text) <= budget:
            kept.append(piece)
            budget -= len(piece.text)
            continue
        if not piece.fixed:
            # Do not leave half a word or number to be read as something else (unless it is all there is).
            head = piece.text[:budget]
            whole = _WORD_TAIL.sub("", head) if piece.text[budget:budget + 1].isalnum() else head
            kept.append(_Piece(whole if whole.strip() else head))
        break
    return kept, True
