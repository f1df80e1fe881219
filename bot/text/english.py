"""English words in chat → katakana, so no reader spells them letter by letter (Discord → ディーアイエス…)."""
from __future__ import annotations

import functools
import logging
import re

log = logging.getLogger(__name__)

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
_VOWEL = re.compile(r"[aeiouy]", re.I)
# kanalizer loops on very long input and nobody wants 30 letters of gibberish read out.
MAX_WORD_LETTERS = 24
ACRONYM_MAX_LETTERS = 5

LETTER_NAMES = {
    "a": "エー", "b": "ビー", "c": "シー", "d": "ディー", "e": "イー", "f": "エフ", "g": "ジー",
    "h": "エイチ", "i": "アイ", "j": "ジェー", "k": "ケー", "l": "エル", "m": "エム", "n": "エヌ",
    "o": "オー", "p": "ピー", "q": "キュー", "r": "アール", "s": "エス", "t": "ティー", "u": "ユー",
    "v": "ブイ", "w": "ダブリュー", "x": "エックス", "y": "ワイ", "z": "ゼット",
}  # fmt: skip

# Chat words and short function words that kanalizer gets wrong (ok → オク, the → セ, hello → ヘロ),
# and lower-case acronyms people type (idk, afk). Keys are lower case.
CHAT_WORDS = {
    "ok": "オーケー", "okay": "オーケー", "k": "ケー", "lol": "ワラ", "lmao": "ワラ", "www": "ワラワラ",
    "gg": "ジージー", "ggwp": "ジージーダブリューピー", "gj": "グッジョブ", "wp": "ダブリューピー",
    "nice": "ナイス", "thx": "サンクス", "ty": "サンキュー", "tyvm": "サンキューベリーマッチ",
    "np": "ノープロブレム", "pls": "プリーズ", "plz": "プリーズ", "omg": "オーマイガー",
    "btw": "バイザウェイ", "idk": "アイディーケー", "afk": "エーエフケー", "brb": "ビーアールビー",
    "xd": "エックスディー", "wtf": "ダブリューティーエフ", "imo": "アイエムオー", "irl": "アイアールエル",
    "discord": "ディスコード", "youtube": "ユーチューブ", "twitter": "ツイッター", "iphone": "アイフォン",
    "pokemon": "ポケモン", "vtuber": "ブイチューバー", "nintendo": "ニンテンドー", "wifi": "ワイファイ",
    "url": "ユーアールエル", "app": "アプリ", "apps": "アプリ", "image": "イメージ", "ping": "ピン",
    "team": "チーム", "lose": "ルーズ", "vc": "ブイシー", "vs": "ブイエス", "dm": "ディーエム",
    "mic": "マイク", "pc": "ピーシー", "ai": "エーアイ", "api": "エーピーアイ", "jpg": "ジェイペグ",
    "jpeg": "ジェイペグ", "png": "ピング", "json": "ジェイソン", "bot": "ボット", "bots": "ボット",
    "hello": "ハロー", "hi": "ハイ", "hey": "ヘイ", "bye": "バイ", "yes": "イエス", "yeah": "イヤー",
    "no": "ノー", "oh": "オー", "wow": "ワオ", "hmm": "フーン", "now": "ナウ", "the": "ザ",
    "a": "ア", "an": "アン", "i": "アイ", "is": "イズ", "it": "イット", "this": "ディス",
    "that": "ザット", "to": "トゥー", "of": "オブ", "me": "ミー", "be": "ビー", "we": "ウィー",
    "he": "ヒー", "she": "シー", "they": "ゼイ", "do": "ドゥー", "was": "ワズ", "or": "オア",
    "so": "ソー", "one": "ワン", "two": "ツー", "three": "スリー", "your": "ユア",
    "you're": "ユーアー", "i'm": "アイム", "don't": "ドント", "it's": "イッツ", "can't": "キャント",
    "that's": "ザッツ", "what's": "ワッツ", "ver": "バージョン", "apex": "エーペックス",
}  # fmt: skip


# Units right after a number (5kg, 10 GB); elsewhere the same letters are ordinary words.
UNITS = {
    "kg": "キログラム", "g": "グラム", "mg": "ミリグラム", "km": "キロメートル", "m": "メートル",
    "cm": "センチ", "mm": "ミリ", "ml": "ミリリットル", "l": "リットル", "kb": "キロバイト",
    "mb": "メガバイト", "gb": "ギガバイト", "tb": "テラバイト", "hz": "ヘルツ", "khz": "キロヘルツ",
    "mhz": "メガヘルツ", "ghz": "ギガヘルツ", "ms": "ミリ秒", "fps": "エフピーエス", "mbps": "メガビーピーエス",
    "kmh": "キロ", "yen": "円", "px": "ピクセル", "pt": "ポイント",
}  # fmt: skip


def english_to_katakana(text: str, *, stop_after: int | None = None) -> str:
    """Replace every ASCII word with katakana: the chat table, letter names for acronyms, else kanalizer.

    With stop_after, words past that many output characters stay as written (the caller cuts them).
    """
    if not any("a" <= ch.lower() <= "z" for ch in text):
        return text
    out: list[str] = []
    length = position = 0
    for match in _WORD.finditer(text):
        if stop_after is not None and length + match.start() - position >= stop_after:
            break
        word, before = match.group(), text[max(0, match.start() - 2):match.start()]
        if word.lower() in UNITS and (before[-1:].isdigit() or (before[-1:] == " " and before[:1].isdigit())):
            katakana = UNITS[word.lower()]
        else:
            katakana = word_to_katakana(word)
        out += [text[position:match.start()], katakana]
        length += match.start() - position + len(katakana)
        position = match.end()
    out.append(text[position:])
    return "".join(out)


def word_to_katakana(word: str) -> str:
    """One English word in katakana ("" for a word too long to be a word)."""
    key = word.lower()
    if len(word) == 1 and word.isupper():
        return spell(key)  # "A" is a letter (Aさん); lower-case "a" is the article
    if key in CHAT_WORDS:
        return CHAT_WORDS[key]
    letters = key.replace("'", "")
    if len(letters) > MAX_WORD_LETTERS:
        return ""
    # Short all-caps words are acronyms (USB, FPS); vowel-less words can only be spelled (pdf, css).
    if len(letters) == 1 or (word.isupper() and len(letters) <= ACRONYM_MAX_LETTERS) or not _VOWEL.search(letters):
        return spell(letters)
    return _kanalize(letters)


def spell(letters: str) -> str:
    """Letter names: usb → ユーエスビー."""
    return "".join(LETTER_NAMES.get(ch, "") for ch in letters.lower())


# kanalizer costs ~9 ms a word; chat repeats the same few words, so remember them.
@functools.lru_cache(maxsize=8192)
def _kanalize(letters: str) -> str:
    try:
        import kanalizer
    except ImportError:  # a broken install should cost readability, not the message
        log.warning("kanalizer is not installed; English words are spelled letter by letter")
        return spell(letters)
    try:
        # "ignore" rather than the default "warning": warnings.catch_warnings is not thread-safe.
        return kanalizer.convert(letters, on_invalid_input="ignore", on_incomplete="ignore") or spell(letters)
    except (kanalizer.InvalidInputError, kanalizer.IncompleteConversionError) as error:
        log.debug("kanalizer failed on a %d-letter word: %s", len(letters), error)
        return spell(letters)
