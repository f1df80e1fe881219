"""ReadingSettings: sensible defaults, plain-dict storage, and clear errors for bad values."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot.text import ChatMessage, ReadingSettings, SettingsError, TextInputError


def test_defaults_match_the_better_japanese_readers():
    settings = ReadingSettings()
    assert (settings.code_blocks, settings.spoilers, settings.urls) == ("omit", "announce", "omit")
    assert (settings.custom_emoji, settings.unicode_emoji) == ("name", "drop")
    assert settings.laughter and settings.english_to_katakana and settings.keep_control_tags
    assert (settings.max_repeat, settings.max_chars, settings.kana_mode) == (3, 100, "kanji")


def test_round_trips_through_a_json_dict():
    settings = ReadingSettings(urls="domain", max_chars=60, kana_mode="all", laughter=False)
    stored = json.loads(json.dumps(settings.to_dict()))
    assert ReadingSettings.from_dict(stored) == settings


def test_missing_keys_take_defaults():
    assert ReadingSettings.from_dict({"max_chars": 50}) == ReadingSettings(max_chars=50)


@pytest.mark.parametrize(("data", "message"), [
    ({"max_chars": 0}, "max_chars must be a whole number from 1 to 2000, not 0"),
    ({"max_chars": "100"}, "max_chars must be a whole number from 1 to 2000, not '100'"),
    ({"max_chars": True}, "max_chars must be a whole number"),
    ({"max_repeat": -1}, "max_repeat must be a whole number from 0 to 20"),
    ({"kana_mode": "hiragana"}, "kana_mode must be one of off, kanji, all, not 'hiragana'"),
    ({"urls": None}, "urls must be one of omit, domain, drop"),
    ({"laughter": 1}, "laughter must be true or false, not 1"),
    ({"max_char": 100}, "unknown reading setting 'max_char' (did you mean max_chars?)"),
    ({"utc_offset_minutes": 100000}, "utc_offset_minutes must be a whole number from -720 to 840"),
])
def test_bad_values_are_refused_with_a_clear_message(data, message):
    with pytest.raises(SettingsError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        ReadingSettings.from_dict(data)


def test_settings_errors_are_value_errors_users_can_be_shown():
    assert issubclass(SettingsError, TextInputError) and issubclass(TextInputError, ValueError)


def test_unknown_keys_can_be_skipped_when_reading_old_rows():
    assert ReadingSettings.from_dict({"retired_rule": 1}, ignore_unknown=True) == ReadingSettings()


def test_not_a_mapping_is_refused():
    with pytest.raises(SettingsError, match="mapping"):
        ReadingSettings.from_dict(["max_chars", 10])  # type: ignore[arg-type]


def test_changed_copies_are_validated_too():
    with pytest.raises(SettingsError):
        replace(ReadingSettings(), max_chars=-5)


def test_a_message_cannot_change_under_the_reader():
    names = {1: "ありす"}
    message = ChatMessage("<@1>", user_names=names, attachments=[])  # type: ignore[arg-type]
    names[1] = "ボブ"
    assert message.user_names[1] == "ありす"
    assert message.attachments == ()
    with pytest.raises(TypeError):
        message.user_names[2] = "x"  # type: ignore[index]


def test_the_text_package_stands_alone():
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys, bot.text\n"
        "heavy = {'discord', 'torch', 'llama_cpp', 'pyopenjtalk', 'kanalizer'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            check=True, cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "[]"  # no Discord or model code, and the readers load lazily
