"""Reading comparison: what was meant vs what a recogniser heard, by katakana reading and CER."""
from __future__ import annotations

import pytest

from bot.text.reading import edit_distance, normalized_reading, reading_cer


@pytest.mark.parametrize("expected, heard", [
    ("東京に行きます", "とうきょうにいきます"),      # kanji vs its hiragana rewrite
    ("こんにちは", "こんにちわ"),                  # particle は is read ワ
    ("ねぇ、ちょっと待って！", "ねえ ちょっとまって"),  # small vowel, punctuation, space
    ("コーヒー", "こおひい"),                      # long vowels spelled out
    ("今日は良い天気ですね。", "今日は良い天気ですね"),
])
def test_same_reading_written_differently_scores_zero(expected: str, heard: str) -> None:
    assert reading_cer(expected, heard) == 0.0


def test_one_mora_off_scores_small() -> None:
    cer = reading_cer("おはようございます", "おはようござます")  # イ dropped
    assert 0.0 < cer <= 0.15


def test_dropped_clause_scores_about_half() -> None:
    assert 0.4 <= reading_cer("明日の会議は十時からです", "明日の会議は") <= 0.6


def test_unrelated_sentence_scores_high() -> None:
    assert reading_cer("今日は良い天気ですね", "猫が好きです") >= 0.6


def test_hallucinated_tail_scores_above_one_mora_off() -> None:
    assert reading_cer("ありがとう", "ありがとうございましたまたね") > 1.0


def test_nothing_expected_nothing_heard() -> None:
    assert reading_cer("。", "") == 0.0
    assert reading_cer("", "あ") == 1.0


def test_normalized_reading_keeps_only_kana() -> None:
    assert normalized_reading("今日は、ねぇ！") == "キョオワネエ"


@pytest.mark.parametrize("a, b, distance", [
    ("", "", 0), ("アイウ", "", 3), ("アイウ", "アイウ", 0), ("アイウ", "アウ", 1), ("アイウ", "エイウ", 1), ("アイ", "イア", 2),
])
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance
