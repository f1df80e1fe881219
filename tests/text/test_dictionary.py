"""Pronunciation dictionaries: longest match, layers, limits, and all-or-nothing import."""
from __future__ import annotations

import json
import re

import pytest

import bot.text.dictionary as dictionary_module
from bot.text.dictionary import checked_entry

from bot.text import DictionaryError, ReadingDictionary, ReadingSettings, speakable_phrase, speakable_text
from tests.text.fakes import ALICE_ID, chat, spy_on_dictionary


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
    ({"改\n行": "かいぎょう"}, "line breaks, control or invalid characters"),
    ({"語": "<|s_1|>"}, "contains <|…|> markers"),
    ({"語": "よ\x00み"}, "line breaks, control or invalid characters"),
    ({1: "いち"}, "a word must be text (in quotes), not a number"),
    ({"語": None}, "must be text (in quotes), not null"),
])
def test_bad_entries_are_refused(entries, message):
    with pytest.raises(DictionaryError, match=re.escape(message)):
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


def test_a_dictionary_compiles_its_matcher_once_however_often_it_is_used(monkeypatch):
    compiles = spy_on_dictionary(monkeypatch, "_compile")
    dictionary = ReadingDictionary({f"単語{i}": f"たんご{i}" for i in range(2000)})
    for _ in range(50):
        assert dictionary.apply("単語1999と単語5の話") == "たんご1999とたんご5の話"
    assert len(compiles) == 1


# --- defect 9: every malformed import is refused with a message that says where -----------------------------

def _entries_file(*entries: object) -> str:
    return json.dumps({"format": "anime-llasa-bot/reading-dictionary", "version": 1, "entries": list(entries)},
                      ensure_ascii=False)


@pytest.mark.parametrize(("text", "message"), [
    # A 5,000-digit number: Python refuses over 4,300 digits with a bare ValueError ("something went wrong").
    ('{"entries": [{"word": "草", "reading": "くさ"}, {"word": "a", "reading": ' + "9" * 5000 + "}]}",
     r"entry 2: the reading of 'a' must be text \(in quotes\), not a number"),
    ('[{"word": ' + "1" * 5000 + ', "reading": "x"}]', r"entry 1: a word must be text \(in quotes\), not a number"),
    ('{"version": ' + "9" * 5000 + ', "entries": []}', "format version must be a whole number from 1, not a number"),
    ('{"version": -' + "9" * 5000 + ', "entries": []}', "format version must be a whole number from 1, not a number"),
    ('{"version": 0, "entries": []}', "from 1, not 0"),
    ('{"version": true, "entries": []}', "not true/false"),
    ('{"format": ' + json.dumps("x" * 900_000) + ', "entries": []}', r"format 'xxxxx.*…'\)"),
    ('{"草": "くさ", "草": "わら"}', "'草' appears twice in one {…} object"),
    ('[{"word": "草", "word": "笑", "reading": "くさ"}]', "'word' appears twice"),
    (_entries_file({"word": "Discord", "reading": "ディスコード"}, {"word": "ｄｉｓｃｏｒｄ", "reading": "でぃすこ"}),
     r"entries 1 and 2 give one word two readings \('Discord' → 'ディスコード', 'discord' → 'でぃすこ'\)"),
    (_entries_file(*({"word": f"語{i}", "reading": "ご"} for i in range(2001))), "at most 2000 words; this file has 2001"),
    (_entries_file({"word": "草", "reading": "く" * 200_000}), "entry 1: the reading of '草' is 200000 characters"),
    (_entries_file({"word": "a" + " " * 200_000 + "b", "reading": "x" * 101}), "entry 1: the reading of 'a b' is 101"),
    (_entries_file({"word": "語", "reading": "\ud800"}), "entry 1: the reading of '語' contains line breaks, control"),
    (_entries_file({"word": "\u202e語", "reading": "ご"}), r"entry 1: the word '\\u202e語' contains"),  # shown escaped, not applied
    (_entries_file({"word": "語", "reading": ["ご"]}), "not a list"),
    (_entries_file({"word": {"w": 1}, "reading": "ご"}), "not an object"),
    (_entries_file({"word": "語", "reading": 1e999}), "not a number"),
    ("\n\n  [1,", "line 3, column 6"),
    ("\ufeff\ufeff{}", "not valid JSON"),
    (b"{\n\n\"\xe8\xaa\": \"x\"}", r"not UTF-8 text \(line 3, byte 5\)"),
    ("{}".encode("utf-16"), "looks like UTF-16"),
    (b" " * 1_000_001, "too large"),
])
def test_every_malformed_import_is_refused_with_a_message_that_says_where(text, message):
    with pytest.raises(DictionaryError, match=message) as refused:
        ReadingDictionary.from_json(text)
    assert len(str(refused.value)) < 300  # a Discord reply over 2,000 characters would not even send


def test_a_new_word_holding_emoji_is_refused_but_a_stored_one_still_loads():
    # Chat emoji are dropped (or named) before the dictionary runs: such a word could never match.
    with pytest.raises(DictionaryError, match="entry 2: the word '草😂' holds emoji"):
        ReadingDictionary.from_json(_entries_file({"word": "草", "reading": "くさ"}, {"word": "草😂", "reading": "わら"}))
    with pytest.raises(DictionaryError, match="holds emoji"):
        checked_entry("😂", "わら")
    assert checked_entry("ｗ♥", "わらはーと") == ("w♥", "わらはーと")  # ♥ is kept in chat text, so it can match
    assert len(ReadingDictionary({"草😂": "わら", "草": "くさ"})) == 2  # a dictionary saved before this rule


def test_an_entry_given_twice_with_the_same_reading_is_read_once():
    text = _entries_file({"word": "VC", "reading": "ボイチャ"}, {"word": "vc", "reading": "ボイチャ"})
    assert ReadingDictionary.from_json(text).items() == [("vc", "ボイチャ")]


def test_words_that_nest_inside_each_other_still_match_leftmost_longest():
    # Every word a prefix and a suffix of the next: the most overlapping matches a dictionary can have.
    nested = ReadingDictionary({"あ" * n: str(n) for n in range(1, 51)})
    assert nested.apply("あ" * 4000) == "50" * 80
    assert nested.apply("あ" * 75) == "5025"


# --- defect 9: layering is cheap, compiled once, cached within a bound ---------------------------------------



def test_layering_checks_no_word_again_and_compiles_only_the_result_once(monkeypatch):
    user = ReadingDictionary({f"ユーザー{i}": "ゆ" for i in range(2000)})
    server = ReadingDictionary({f"サーバー{i}": "さ" for i in range(2000)})
    validations, compiles = spy_on_dictionary(monkeypatch, "_validated_table"), spy_on_dictionary(monkeypatch, "_compile")
    layered = ReadingDictionary.layered(user, server)
    for _ in range(3):
        assert ReadingDictionary.layered(user, server).apply("ユーザー1とサーバー1999") == "ゆとさ"
    assert (len(layered), validations, len(compiles)) == (4000, [], 1)


def test_the_layered_cache_is_bounded_and_a_changed_layer_is_a_new_entry():
    server = ReadingDictionary({"草": "くさ"})
    first = ReadingDictionary.layered(ReadingDictionary({"推し": "おし"}), server)
    changed = ReadingDictionary.layered(ReadingDictionary({"推し": "いちおし"}), server)
    assert changed is not first and changed.apply("推し草") == "いちおしくさ"
    for i in range(dictionary_module.MAX_LAYERED_CACHED + 10):
        ReadingDictionary.layered(ReadingDictionary({f"語{i}": "ご"}), server)
    assert dictionary_module._layered.cache_info().currsize == dictionary_module.MAX_LAYERED_CACHED
