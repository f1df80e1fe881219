"""Pronunciation dictionaries: longest match, layers, limits, and all-or-nothing import."""
from __future__ import annotations

import json

import pytest

from bot.text import DictionaryError, ReadingDictionary, ReadingSettings, speakable_phrase, speakable_text
from tests.text.fakes import ALICE_ID, chat


@pytest.mark.parametrize(("entries", "text", "expected"), [
    ({"米津": "よねず", "米津玄師": "よねづけんし"}, "米津玄師の新曲", "よねづけんしの新曲"),   # longest wins
    ({"米津": "よねず", "米津玄師": "よねづけんし"}, "米津さん", "よねずさん"),
    ({"あいう": "X", "いうえ": "Y"}, "あいうえ", "Xえ"),                         # leftmost wins
    ({"いう": "Y", "あいうえ": "Z"}, "あいうえお", "Zお"),
    ({"abc": "X"}, "abcd abc", "abcd X"),
    ({"ok": "おっけー"}, "OK book ok", "おっけー book おっけー"),                  # whole ASCII words
    ({"vc": "ボイチャ"}, "VCに来て", "ボイチャに来て"),                            # Japanese is no word boundary
    ({"ＡＢＣ": "えーびーしー"}, "ABC", "えーびーしー"),                           # keys are NFKC like the text
    ({"あ": "1", "ああ": "2"}, "あああ", "21"),
    ({"えっ…": "えっ", "ｗ～": "わら"}, "えっ…w〜", "えっわら"),
    ({}, "そのまま", "そのまま"),
])
def test_leftmost_longest_replacement(entries, text, expected):
    assert ReadingDictionary(entries).apply(text) == expected


def test_a_users_reading_wins_over_the_servers():
    server = ReadingDictionary({"推し": "おし", "草": "くさ"})
    user = ReadingDictionary({"推し": "いちおし"})
    assert ReadingDictionary.layered(user, server).apply("推しに草") == "いちおしにくさ"


def test_a_longer_word_from_a_lower_layer_still_matches_first():
    server = ReadingDictionary({"米津玄師": "よねづけんし"})
    user = ReadingDictionary({"米津": "こめづ"})
    assert ReadingDictionary.layered(user, server).apply("米津玄師") == "よねづけんし"


def test_layering_the_same_dictionaries_reuses_one_matcher():
    server = ReadingDictionary({"草": "くさ"})
    user = ReadingDictionary({"推し": "おし"})
    assert ReadingDictionary.layered(user, server) is ReadingDictionary.layered(user, ReadingDictionary({"草": "くさ"}))
    assert ReadingDictionary.layered(None, server) is server


def test_readings_are_final_in_the_pipeline():
    dictionary = ReadingDictionary({"草": "大草原", "wk": "www", "米津玄師": "よねづけんし"})
    said = speakable_phrase("草 wk 米津玄師の曲", ReadingSettings(), dictionary)
    assert said == "大草原 www よねづけんしのきょく"


def test_dictionary_applies_to_mentioned_names():
    message = chat(f"<@{ALICE_ID}> 来た", user_names={ALICE_ID: "Mika"})
    assert speakable_text(message, ReadingSettings(), ReadingDictionary({"mika": "みか"})) == "みか きた"


@pytest.mark.parametrize(("entries", "message"), [
    ({"": "から"}, "a word cannot be empty"),
    ({"   ": "から"}, "a word cannot be empty"),
    ({"語": ""}, "the reading of '語' is empty"),
    ({"長" * 51: "ながい"}, "is 51 characters; the limit is 50"),
    ({"語": "よ" * 101}, "is 101 characters; the limit is 100"),
    ({"改\n行": "かいぎょう"}, "line breaks or control characters"),
    ({"語": "<|s_1|>"}, "contains <|…|> markers"),
    ({"語": "よ\x00み"}, "line breaks or control characters"),
    ({1: "いち"}, "a word must be text, not int"),
    ({"語": None}, "must be text, not NoneType"),
])
def test_bad_entries_are_refused(entries, message):
    with pytest.raises(DictionaryError, match=message.replace("|", r"\|").replace("…", ".")):
        ReadingDictionary(entries)


def test_at_most_two_thousand_words():
    full = ReadingDictionary({f"語{i}": "ご" for i in range(ReadingDictionary.MAX_ENTRIES)})
    with pytest.raises(DictionaryError, match="at most 2000 words"):
        full.with_entry("もう一つ", "もうひとつ")
    assert len(full.with_entry("語1", "いち")) == ReadingDictionary.MAX_ENTRIES  # replacing is fine


def test_changes_make_new_dictionaries():
    base = ReadingDictionary({"草": "くさ"})
    added = base.with_entry("推し", "おし")
    assert (len(base), len(added), added.get("推し")) == (1, 2, "おし")
    assert added.without("草").items() == [("推し", "おし")]
    with pytest.raises(DictionaryError, match="not in the dictionary"):
        base.without("無い")


def test_json_round_trip():
    dictionary = ReadingDictionary({"米津玄師": "よねづけんし", "VC": "ボイチャ"})
    restored = ReadingDictionary.from_json(dictionary.to_json())
    assert restored == dictionary and restored.items() == dictionary.items()
    assert restored.fingerprint == dictionary.fingerprint


@pytest.mark.parametrize("document", [
    {"草": "くさ"},
    [{"word": "草", "reading": "くさ"}],
    {"entries": [{"word": "草", "reading": "くさ"}]},
])
def test_json_layouts_other_bots_export_are_read(document):
    assert ReadingDictionary.from_json(json.dumps(document, ensure_ascii=False)).items() == [("草", "くさ")]


def test_utf8_bytes_with_a_bom_are_read():
    assert len(ReadingDictionary.from_json("\ufeff{\"草\": \"くさ\"}".encode())) == 1


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not valid JSON"),
    ('"a string"', "expected"),
    ('[{"word": "草"}]', "entry 1 must look like"),
    ('{"entries": [{"word": "草", "reading": "くさ"}, {"word": "", "reading": "x"}]}', "cannot be empty"),
    ('{"format": "something-else", "entries": []}', "not a reading dictionary"),
    ('{"version": 99, "entries": []}', "newer than this bot understands"),
    ("[" * 100000 + "]" * 100000, "not valid JSON|too large|nested"),
    (b"\xff\xfe\x00", "not UTF-8"),
])
def test_malformed_imports_are_refused(text, message):
    with pytest.raises(DictionaryError, match=message):
        ReadingDictionary.from_json(text)


def test_a_refused_import_changes_nothing():
    current = ReadingDictionary({"草": "くさ"})
    bad = json.dumps({"entries": [{"word": "推し", "reading": "おし"}, {"word": "語", "reading": ""}]})
    with pytest.raises(DictionaryError):
        current = current.merged(ReadingDictionary.from_json(bad))
    assert current.items() == [("草", "くさ")]
    assert current.apply("推し草") == "推しくさ"


def test_matching_a_full_dictionary_is_fast_enough_for_every_message():
    import time

    dictionary = ReadingDictionary({f"単語{i}": f"たんご{i}" for i in range(2000)})
    text = "単語1999と単語5の話" * 20
    dictionary.apply(text)  # builds the automaton once
    started = time.perf_counter()
    for _ in range(100):
        dictionary.apply(text)
    assert (time.perf_counter() - started) / 100 < 0.005
