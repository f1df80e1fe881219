"""Kanji and numbers → kana with pyopenjtalk-plus, because Anime-Llasa misreads kanji far more than kana.

Modes: "off" leaves text alone; "kanji" rewrites only words holding kanji or digits (and unit
symbols such as ％ ℃), keeping kana, punctuation and particles (は, へ) as written; "all" leaves
nothing but kana: katakana becomes hiragana and letters and symbols are read out too.
"""
from __future__ import annotations

import contextlib
import io
import logging
import re
import threading
from types import ModuleType

from .message import KanaMode

log = logging.getLogger(__name__)

_KANJI_OR_DIGIT = re.compile(r"[0-9\u3005-\u3007\u303b\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_HIRAGANA_ONLY = re.compile(r"[\u3041-\u309f\u30fc]+")
_KANA_ONLY = re.compile(r"[\u3041-\u309f\u30a1-\u30ff]+")
_LETTERS_OR_KANA = re.compile(r"[^\W\d_]")
_KATAKANA_READING = re.compile(r"[\u30a1-\u30f4\u30fc]+")
# OpenJTalk is fast on sentences; long pastes go in pieces so one odd piece cannot spoil the rest.
_PIECE_CHARS = 100
_PIECE_BREAK = re.compile(r"(?<=[。！？!?\n])|(?<=、)")

_lock = threading.Lock()
_engine: ModuleType | None = None
_unavailable = False


def to_kana(text: str, mode: KanaMode = "kanji", *, stop_after: int | None = None) -> str:
    """Rewrite text in kana per `mode`; on any reader failure the text comes back unchanged.

    With stop_after, text past the point where the output reaches that length stays as written
    (the caller cuts it anyway): a long paste costs only what will be said.
    """
    if mode == "off" or not text.strip():
        return text
    if mode == "kanji" and not _KANJI_OR_DIGIT.search(text) and not _has_unit_symbol(text):
        return text
    engine = _load()
    if engine is None:
        return text
    out: list[str] = []
    length = 0
    for piece in _pieces(text):
        converted = piece if stop_after is not None and length >= stop_after else _convert_piece(engine, piece, mode)
        out.append(converted)
        length += len(converted)
    return "".join(out)


def warm_up() -> bool:
    """Load the reader and its dictionaries now (about 0.5 s) rather than on the first message."""
    engine = _load()
    if engine is not None:
        _convert_piece(engine, "今日は2024年です", "kanji")
    return engine is not None


def katakana_to_hiragana(text: str) -> str:
    """ァ-ヶ → ぁ-ゖ; ー and the rare ヷ-ヺ (no hiragana twins) stay."""
    return "".join(chr(ord(ch) - 0x60) if "\u30a1" <= ch <= "\u30f6" else ch for ch in text)


def katakana_reading(text: str) -> str:
    """How text is pronounced, in katakana with punctuation (OpenJTalk: 今日は → キョーワ); kana only if the reader is missing."""
    engine = _load()
    if engine is None:
        return hiragana_to_katakana(text)
    try:
        return engine.g2p(text, kana=True)
    except Exception:  # noqa: BLE001 - a failure in the C reader must cost the reading, not the caller
        log.warning("reading a %d-character text failed; comparing its kana as written", len(text), exc_info=True)
        return hiragana_to_katakana(text)


def _load() -> ModuleType | None:
    global _engine, _unavailable
    if _engine is not None or _unavailable:
        return _engine
    # pyopenjtalk-plus serialises its OpenJTalk calls and gives each thread its own Sudachi
    # tokenizer (read in its source), so only this one-time import needs our lock.
    with _lock:
        if _engine is None and not _unavailable:
            captured = io.StringIO()
            try:
                # It prints (not logs) a notice when onnxruntime is missing; keep stdout clean.
                with contextlib.redirect_stdout(captured):
                    import pyopenjtalk
                _engine = pyopenjtalk
            except ImportError as error:
                _unavailable = True
                log.warning("pyopenjtalk-plus is not available (%s); text is read without kana conversion", error)
            if captured.getvalue().strip():
                log.info("pyopenjtalk-plus: %s", " ".join(captured.getvalue().split()))
    return _engine


def _pieces(text: str) -> list[str]:
    if len(text) <= _PIECE_CHARS:
        return [text]
    pieces: list[str] = []
    for part in _PIECE_BREAK.split(text):
        while len(part) > _PIECE_CHARS:
            pieces.append(part[:_PIECE_CHARS])
            part = part[_PIECE_CHARS:]
        if pieces and len(pieces[-1]) + len(part) <= _PIECE_CHARS:
            pieces[-1] += part
        elif part:
            pieces.append(part)
    return pieces


def _convert_piece(engine: ModuleType, text: str, mode: KanaMode, depth: int = 0) -> str:
    try:
        morphemes = engine.g2p_mapping(text, revert_long_vowels=True, revert_yotsugana=True)
    except ValueError:
        # pyopenjtalk-plus cannot map some inputs back to the text ("1,000 1,"): the halves
        # usually can, so only the odd bit is left as written.
        if depth >= _MAX_SPLITS or len(text) < 2:
            log.debug("kana conversion left a %d-character text as written", len(text))
            return text
        middle = _split_point(text)
        return _convert_piece(engine, text[:middle], mode, depth + 1) + _convert_piece(
            engine, text[middle:], mode, depth + 1)
    except Exception:  # noqa: BLE001 - a failure in the C reader must cost the kana, not the message
        log.warning("kana conversion failed on a %d-character text; reading it as written", len(text), exc_info=True)
        return text
    out: list[str] = []
    cursor = 0
    for morpheme in morphemes:
        start, end = morpheme["char_span"]
        source = text[start:end]
        reading = None if morpheme["is_ignored"] else _reading(source, morpheme["pron"], mode)
        if reading is None:
            if end > cursor:
                out.append(text[cursor:end])
                cursor = end
            continue
        if start > cursor:
            out.append(text[cursor:start])
        out.append(reading)
        # Number words share one span (二千二十四 ← 2024): only the first moves the cursor.
        cursor = max(cursor, end)
    out.append(text[cursor:])
    return "".join(out)


_MAX_SPLITS = 4


def _split_point(text: str) -> int:
    """Near the middle, just after a space or punctuation when there is one."""
    middle = len(text) // 2
    breaks = [i + 1 for i, ch in enumerate(text[:-1]) if ch in " 、。,!?！？"]
    return min(breaks, key=lambda i: abs(i - middle)) if breaks else middle


def _reading(source: str, pron: str, mode: KanaMode) -> str | None:
    """The kana to write for one morpheme, or None to keep its source text."""
    if mode == "all" and source and _KANA_ONLY.fullmatch(source):
        # Written kana stays as written (は, へ, を; ヴァイオリン keeps its spelling), only in hiragana.
        return None if _HIRAGANA_ONLY.fullmatch(source) else katakana_to_hiragana(source)
    # An empty source is a number word sharing a neighbour's span (the 十 of 二千二十四 ← 2024).
    if mode == "kanji" and source and not (_KANJI_OR_DIGIT.search(source) or _is_unit_symbol(source)):
        return None
    pron = pron.replace("’", "")  # OpenJTalk's devoicing mark
    if not _KATAKANA_READING.fullmatch(pron):
        return None
    if mode == "kanji" and source:
        return _keep_written_kana(source, pron)
    return katakana_to_hiragana(pron)


def _keep_written_kana(source: str, pron: str) -> str:
    """生ビール → なまビール: kana around the kanji stays as the writer typed it; only the kanji is read."""
    written = hiragana_to_katakana(source)
    prefix = 0
    while prefix < min(len(written), len(pron)) and written[prefix] == pron[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < min(len(written), len(pron)) - prefix and written[-1 - suffix] == pron[-1 - suffix]
           and len(written) - suffix - 1 >= prefix):
        suffix += 1
    middle = pron[prefix:len(pron) - suffix]
    if not middle:
        return katakana_to_hiragana(pron)
    return source[:prefix] + katakana_to_hiragana(middle) + source[len(source) - suffix:]


def hiragana_to_katakana(text: str) -> str:
    """ぁ-ゖ → ァ-ヶ (the inverse of katakana_to_hiragana)."""
    return "".join(chr(ord(ch) + 0x60) if "\u3041" <= ch <= "\u3096" else ch for ch in text)


def _is_unit_symbol(source: str) -> bool:
    # ％ ℃ ＆ ＋ ¥ . read as words (パーセント, ド…); letters are English's job, not ours.
    return bool(source) and not _LETTERS_OR_KANA.search(source) and not source.isspace()


def _has_unit_symbol(text: str) -> bool:
    return any(ch in "%℃°¥&+@" for ch in text)
