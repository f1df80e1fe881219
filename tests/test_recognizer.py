"""The speech recogniser, loaded by the real loading code from a Hugging Face cache holding a tiny random Whisper."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from bot.config import Config, RecognitionConfig
from bot.speech.loader import load_recognizer
from bot.speech.recognizer import RecognizerUnavailable, SpeechRecognizer, locate_model
from tests.speechlike import silence, utterance
from tests.tiny_whisper import TINY_WHISPER_ID, cached_tiny_whisper


@pytest.fixture(scope="module")
def whisper_cache(tmp_path_factory: pytest.TempPathFactory):
    return cached_tiny_whisper(tmp_path_factory.mktemp("hf-cache"))


@pytest.fixture
def offline_cache(whisper_cache, monkeypatch):
    """The Hugging Face cache is the tiny one, and nothing may be fetched from the hub."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(whisper_cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return whisper_cache


def enabled(model: str = TINY_WHISPER_ID) -> Config:
    return Config(recognition=RecognitionConfig(enabled=True, model=model, device="cpu"))


def test_a_model_in_the_local_cache_loads_and_transcribes_a_clip(offline_cache, caplog):
    caplog.set_level(logging.INFO)
    recognizer = load_recognizer(enabled())
    assert isinstance(recognizer, SpeechRecognizer)
    clip = np.concatenate([silence(0.3, 44_100), utterance("aiueo", 44_100)])
    text = recognizer.transcribe(clip, 44_100)
    assert isinstance(text, str) and text  # random weights: junk, but text
    assert text == recognizer.transcribe(clip, 44_100)  # greedy decoding: the same audio, the same words
    assert [r.getMessage() for r in caplog.records if r.name == "bot.speech.loader"] == [
        f"speech recognition: {TINY_WHISPER_ID} on cpu (takes are checked; /voice clone transcribes clips)"]


def test_audio_longer_than_whisper_s_window_is_transcribed_window_by_window(offline_cache):
    recognizer = load_recognizer(enabled())
    one = recognizer.transcribe(silence(1.0), 16_000)  # padded to 30 s inside: the same input as a window of silence
    both = recognizer.transcribe(silence(31.0), 16_000)
    assert both.replace(" ", "") == (one * 2).replace(" ", "")


def test_a_model_that_is_not_downloaded_turns_recognition_off_with_one_log_line(offline_cache, caplog):
    caplog.set_level(logging.INFO)
    assert load_recognizer(enabled("someone/not-downloaded")) is None
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.speech.loader"]
    assert lines == ["speech recognition is off: the speech recognition model someone/not-downloaded is not "
                     "downloaded; run `python -m bot download` once with recognition.enabled = true"]


def test_recognition_off_loads_nothing(offline_cache, caplog):
    assert load_recognizer(Config()) is None
    assert not caplog.records


def test_a_folder_is_loaded_as_it_is(offline_cache):
    folder = locate_model(TINY_WHISPER_ID)
    assert locate_model(str(folder)) == folder
    assert SpeechRecognizer.load(str(folder)).transcribe(utterance("ai"), 16_000)


def test_a_broken_folder_is_unavailable_not_a_crash(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(RecognizerUnavailable, match="cannot be loaded"):
        SpeechRecognizer.load(str(tmp_path))


def test_the_recognition_settings_are_checked_and_a_model_folder_is_relative_to_the_config(tmp_path):
    from bot.config import ConfigError, load_config

    from tests.test_config import ROOT

    example = load_config(ROOT / "config.example.toml").recognition
    assert not example.enabled and example.model == "litagin/anime-whisper" and example.max_cer == 0.15
    (tmp_path / "whisper").mkdir()
    path = tmp_path / "config.toml"
    path.write_text('[recognition]\nenabled = true\nmodel = "whisper"\n', encoding="utf-8")
    assert load_config(path).recognition.model == str(tmp_path / "whisper")
    path.write_text("[recognition]\nmax_cer = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"recognition\.max_cer: must be above 0 and at most 1"):
        load_config(path)


def test_start_up_with_recognition_on_and_no_model_says_so_once_and_goes_on(tmp_path, caplog, monkeypatch):
    import discord.http
    from huggingface_hub import constants

    from bot.__main__ import main
    from tests.fakes import ScriptedSynthesizer
    from tests.test_startup import config_with_database

    caplog.set_level(logging.INFO)
    monkeypatch.setenv("DISCORD_TOKEN", "x")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr("bot.speech.loader.load_synthesizer", lambda config: ScriptedSynthesizer())
    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:1/api/v10")  # nothing listens on port 1
    config = config_with_database(tmp_path, tmp_path / "bot.sqlite3")
    config.write_text(config.read_text() + '[recognition]\nenabled = true\ndevice = "cpu"\n')
    assert main(["-c", str(config), "run"]) == 2  # it went on to log in to Discord, out of reach here
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if "recognition" in m] == [
        "speech recognition is off: the speech recognition model litagin/anime-whisper is not downloaded; "
        "run `python -m bot download` once with recognition.enabled = true"]
    assert any(m.startswith("cannot reach Discord (") for m in messages)


def test_start_up_with_recognition_on_adds_the_recognition_check_to_the_synthesizer(tmp_path, monkeypatch):
    import discord.http
    from huggingface_hub import constants

    from bot.__main__ import main
    from bot.speech.verify import RecognitionCheck
    from tests.fakes import ScriptedSynthesizer
    from tests.test_startup import config_with_database

    cache = cached_tiny_whisper(tmp_path / "hf")
    monkeypatch.setenv("DISCORD_TOKEN", "x")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    synthesizer = ScriptedSynthesizer()
    synthesizer.checks = ()  # as the real Synthesizer has, before recognition is added
    monkeypatch.setattr("bot.speech.loader.load_synthesizer", lambda config: synthesizer)
    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:1/api/v10")  # nothing listens on port 1
    config = config_with_database(tmp_path, tmp_path / "bot.sqlite3")
    config.write_text(config.read_text() + f'[recognition]\nenabled = true\nmodel = "{TINY_WHISPER_ID}"\n'
                      'device = "cpu"\nmax_cer = 0.2\n')
    assert main(["-c", str(config), "run"]) == 2  # Discord is out of reach; the models were loaded
    [check] = synthesizer.checks
    assert isinstance(check, RecognitionCheck) and check.max_cer == 0.2
