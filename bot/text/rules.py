"""Rules for plain chat text: width, emoji, invisible characters, laughter, repeats, pauses, length."""
from __future__ import annotations

import re
import threading
import unicodedata

import emoji

from .markup import MAX_EMOJI_NAMES_IN_A_ROW
from .message import Attachment, UnicodeEmojiMode

TRUNCATION_MARK = "以下略"
LAUGH_SHORT = "わら"
LAUGH_LONG = "わらわら"
APPLAUSE = "ぱちぱち"

# A control tag the model understands: （囁き）, （笑いながら）. Long asides are ordinary text.
CONTROL_TAG = re.compile(r"（[^（）()\n]{1,20}）")
# A w-run that is not part of an English word ("www", "草w"; not "wow", "new").
_LAUGHTER = re.compile(r"(?<![A-Za-z])[wW]+(?![A-Za-z])")
# 888 claps; not a price (8888円), a longer number or a decimal.
_APPLAUSE = re.compile(r"(?<![\d.,])8{3,}(?![\d.,%]|\s*[円年月日時分秒個人回件本枚%])")
_CLOCK = re.compile(r"(?<![\d:.])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])")
_DATE = re.compile(r"(?<![\d/.\-])(\d{4})([/.\-])(1[0-2]|0?[1-9])\2(3[01]|[12]\d|0?[1-9])(?![\d/.\-])")
# One maximal run of separators per match keeps these rules linear on 4,000 spaces or commas.
_SEPARATOR_RUN = re.compile(r"[\s、,]+")
_STRAY_MARKUP = re.compile(r"[*_`|]+")
# A space that only separated rule output from Japanese punctuation ("URL省略 。").
_SPACE_BY_PUNCTUATION = re.compile(r" (?=[。.!?！？」』）)】])|(?<=[「『（(【]) ")
_LEADING_PAUSE = " \t\n\r\f\v、,。"
_TRAILING_PAUSE = " \t\n\r\f\v、,"
_SPEAKABLE = re.compile(r"[^\W_]")  # a letter or a digit in any script
_SENTENCE_BREAK = re.compile(r"[、。！？!?…\s]")
_VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef\u20e3]")
# Japanese skin-tone and hair suffixes in emoji names: サムズアップ_中間の肌色 → サムズアップ.
_EMOJI_NAME_MODIFIER = re.compile(r"_[^_]*(?:の肌色|髪)")
_FLAG_NAME = re.compile(r"^旗_(.+)$")


def to_nfkc(text: str) -> str:
    """NFKC (ｶﾞ → ガ, ｗ → w, full-width letters → ASCII), keeping wave dashes and ellipses as they are."""
    # NFKC makes ～ an ASCII "~" and … three dots; the model's training text kept both (its
    # normaliser turns ～ into ー and runs of … into ……), so they are spared.
    parts = text.replace("～", "〜").split("…")
    return "…".join(unicodedata.normalize("NFKC", part) for part in parts)


def unicode_emoji(text: str, mode: UnicodeEmojiMode) -> str:
    """Drop emoji, or say their Japanese names (a run of the same emoji once, at most three names)."""
    if text.isascii():
        return text
    if mode == "drop":
        return emoji.replace_emoji(text, replace=lambda chars, data: chars if _is_kept(chars) else " ")
    _load_japanese_names()
    out: list[str] = []
    run: list[str] = []  # names in the current unbroken run of emoji
    last_end = 0
    for token in emoji.analyze(text, non_emoji=False, join_emoji=True):
        match = token.value
        if not isinstance(match, emoji.EmojiMatch):
            continue
        if match.start != last_end or _is_kept(match.emoji):
            out += [_emoji_run(run), text[last_end:match.start]]
            run = []
        if _is_kept(match.emoji):
            out.append(match.emoji)
        else:
            run.append(_emoji_name(match.data))
        last_end = match.end
    out += [_emoji_run(run), text[last_end:]]
    return "".join(out)


# Symbols the model's training text uses (♥ becomes ♡ in its normaliser), though Unicode calls them emoji.
_KEPT_SYMBOLS = frozenset("♥‼⁉")
_names_lock = threading.Lock()
_names_loaded = False


def _is_kept(chars: str) -> bool:
    return chars.rstrip("\ufe0e\ufe0f") in _KEPT_SYMBOLS


def _load_japanese_names() -> None:
    # The emoji package loads each language's names on demand; once is enough for every thread.
    global _names_loaded
    with _names_lock:
        if not _names_loaded:
            emoji.config.load_language("ja")
            _names_loaded = True


def _emoji_name(data: dict | None) -> str:
    name = _EMOJI_NAME_MODIFIER.sub("", (data or {}).get("ja") or (data or {}).get("en") or "").strip(":")
    name = _FLAG_NAME.sub(r"\1の旗", name)  # 旗_日本 → 日本の旗
    return " ".join(name.replace("_", " ").split())


def _emoji_run(names: list[str]) -> str:
    unique = [n for i, n in enumerate(names) if n and (i == 0 or names[i - 1] != n)]
    return f" {' '.join(unique[:MAX_EMOJI_NAMES_IN_A_ROW])} " if unique else ""


def remove_invisible(text: str) -> str:
    """Remove zero-width, bidi and other control characters (keeping newlines), and emoji selectors."""
    text = text.replace("\t", " ").replace("\u2028", "\n").replace("\u2029", "\n")
    if text.isascii():
        return "".join(ch for ch in text if " " <= ch < "\x7f" or ch == "\n")
    text = _VARIATION_SELECTORS.sub("", text)
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) not in _INVISIBLE)


_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co"})


def laughter(text: str) -> str:
    """Chat laughter to words: w/ww → わら, www+ → わらわら, 888+ → ぱちぱち."""
    text = _LAUGHTER.sub(lambda m: LAUGH_LONG if len(m.group()) >= 3 else LAUGH_SHORT, text)
    return _APPLAUSE.sub(APPLAUSE, text)


def cap_repeats(text: str, limit: int) -> str:
    """Cut runs of more than `limit` identical characters (digits excepted: 10000 is a number)."""
    if limit <= 0:
        return text
    pattern = re.compile(rf"([^\d\s])\1{{{limit},}}")
    return pattern.sub(lambda m: m.group(1) * limit, text)


def dates_and_times(text: str) -> str:
    """2024/10/05 → 2024年10月5日 and 12:30 → 12時30分, said as dates and times, not number lists."""
    text = _DATE.sub(lambda m: f"{m.group(1)}年{int(m.group(3))}月{int(m.group(4))}日", text)
    return _CLOCK.sub(lambda m: f"{int(m.group(1))}時" + ("" if m.group(2) == "00" else f"{int(m.group(2))}分"), text)


def line_breaks_to_pauses(text: str) -> str:
    """Newlines (and runs of them, with any commas) → one 、; runs of spaces → one space."""
    return _SEPARATOR_RUN.sub(_separator, text)


def _separator(match: re.Match[str]) -> str:
    run = match.group()
    if "\n" in run or "、" in run:
        return "、"
    if "," in run:
        return re.sub(r"\s+", " ", run)  # 1,000 and "a, b" keep their comma
    return " "


def tidy_inside(text: str) -> str:
    """Stray markup symbols out and separators collapsed (newlines → 、), ends left alone."""
    return line_breaks_to_pauses(_STRAY_MARKUP.sub(" ", text))


def tidy(text: str) -> str:
    """Leftover markup symbols out, one space or 、 at a time, none at the ends."""
    text = _STRAY_MARKUP.sub(" ", text)
    text = line_breaks_to_pauses(text)
    text = _SPACE_BY_PUNCTUATION.sub("", text)
    return text.lstrip(_LEADING_PAUSE).rstrip(_TRAILING_PAUSE)


def has_speakable(text: str) -> bool:
    """Whether any letter or digit is left to say (punctuation alone is silence)."""
    return bool(_SPEAKABLE.search(text))


def describe_attachments(attachments: tuple[Attachment, ...], sticker_names: tuple[str, ...]) -> str:
    """画像2枚、ファイル、スタンプ: what was attached, by kind and count."""
    counts: dict[str, int] = {}
    for attachment in attachments:
        kind = _attachment_kind(attachment)
        counts[kind] = counts.get(kind, 0) + 1
    if sticker_names:
        counts["スタンプ"] = len(sticker_names)
    return "、".join(kind if n == 1 else f"{kind}{n}{_COUNTERS[kind]}" for kind, n in counts.items())


_COUNTERS = {"画像": "枚", "動画": "本", "音声": "件", "ファイル": "個", "スタンプ": "個"}
_IMAGE_EXT = frozenset(["png", "jpg", "jpeg", "gif", "webp", "bmp", "heic", "avif", "svg"])
_VIDEO_EXT = frozenset(["mp4", "mov", "webm", "mkv", "avi", "m4v"])
_AUDIO_EXT = frozenset(["mp3", "wav", "ogg", "flac", "m4a", "opus", "aac"])


def _attachment_kind(attachment: Attachment) -> str:
    mime = (attachment.content_type or "").split("/")[0].lower()
    ext = attachment.filename.rsplit(".", 1)[-1].lower() if "." in attachment.filename else ""
    if mime == "image" or ext in _IMAGE_EXT:
        return "画像"
    if mime == "video" or ext in _VIDEO_EXT:
        return "動画"
    if mime == "audio" or ext in _AUDIO_EXT:
        return "音声"
    return "ファイル"


def truncate(text: str, max_chars: int) -> str:
    """Cut to max_chars (at a pause if one is near, never inside a control tag) and add 以下略."""
    if len(text) <= max_chars:
        return text
    return cut_at(text, max_chars) + TRUNCATION_MARK


def cut_at(text: str, max_chars: int) -> str:
    """The longest head of text within max_chars, ending at a pause when one is in its last fifth."""
    cut = max_chars
    for tag in CONTROL_TAG.finditer(text, 0, max_chars + 25):
        if tag.start() < cut < tag.end():
            cut = tag.start()
    head = text[:cut]
    window = max(1, cut // 5)
    breaks = [m.start() for m in _SENTENCE_BREAK.finditer(head, max(0, cut - window))]
    if breaks and breaks[-1] > 0:
        head = head[: breaks[-1]]
    return head.rstrip(_TRAILING_PAUSE)
