"""English → katakana: chat words from the table, acronyms spelled, everything else via kanalizer."""
from __future__ import annotations

import pytest

from bot.text.english import english_to_katakana, spell, word_to_katakana


@pytest.mark.parametrize(("text", "expected"), [
    ("ok", "オーケー"),
    ("OK", "オーケー"),
    ("lol", "ワラ"),
    ("gg", "ジージー"),
    ("GGWP", "ジージーダブリューピー"),
    ("discord", "ディスコード"),
    ("Discord", "ディスコード"),
    ("hello world", "ハロー ワールド"),
    ("game", "ゲーム"),
    ("minecraft", "マインクラフト"),
    ("USB", "ユーエスビー"),          # short all-caps: an acronym
    ("pdf", "ピーディーエフ"),        # no vowel: can only be spelled
    ("I", "アイ"),
    ("Aさんとa pen", "エーさんとア ペン"),
    ("x", "エックス"),
    ("don't", "ドント"),
    ("5kgの米", "5キログラムの米"),   # a unit after a number
    ("10 GB", "10 ギガバイト"),
    ("kg", "ケージー"),              # the same letters alone are not a unit
    ("Switchで遊ぶ", "スイッチで遊ぶ"),
    ("日本語だけ", "日本語だけ"),
])
def test_english_words_become_katakana(text, expected):
    assert english_to_katakana(text) == expected


def test_gibberish_longer_than_a_word_is_dropped():
    assert word_to_katakana("a" * 40) == ""


def test_every_word_gets_some_katakana():
    for word in ("xyzzy", "qwerty", "supercalifragilistic", "Zzz", "aaaa"):
        assert word_to_katakana(word), word


def test_spelling_uses_letter_names():
    assert spell("abc") == "エービーシー"
