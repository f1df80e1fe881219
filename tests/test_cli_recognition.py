"""The command line and speech recognition: download fetches the recogniser's model; reference clips are cut to speech."""
from __future__ import annotations

import numpy as np
import soundfile as sf

from bot.__main__ import main
from tests.speechlike import noise, silence
from tests.test_cli import config_file, unloadable_config
from tests.tiny_whisper import TINY_WHISPER_ID, cached_tiny_whisper


def _offline_everything_but_the_recognizer(monkeypatch, cache) -> list[bool]:
    """The hub cache is `cache` and offline; w2v-BERT's fetch is recorded, not made."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    fetched: list[bool] = []
    monkeypatch.setattr("bot.speech.codec.fetch_semantic_model", lambda local_files_only: fetched.append(True))
    return fetched


def test_download_fetches_the_recognition_model_when_recognition_is_on(tmp_path, tiny_gguf, tiny_codec_dir,
                                                                        monkeypatch, capsys):
    cache = cached_tiny_whisper(tmp_path / "hf")
    _offline_everything_but_the_recognizer(monkeypatch, cache)
    config = config_file(tmp_path, tiny_gguf, tiny_codec_dir, f'[recognition]\nenabled = true\nmodel = "{TINY_WHISPER_ID}"\n')
    assert main(["-c", str(config), "download"]) == 0
    out = capsys.readouterr().out
    assert f"downloading {TINY_WHISPER_ID} (speech recognition" in out and out.endswith("done\n")


def test_download_skips_the_recognition_model_when_recognition_is_off(tmp_path, tiny_gguf, tiny_codec_dir,
                                                                      monkeypatch, capsys):
    _offline_everything_but_the_recognizer(monkeypatch, tmp_path / "empty-cache")
    assert main(["-c", str(config_file(tmp_path, tiny_gguf, tiny_codec_dir)), "download"]) == 0
    out = capsys.readouterr().out
    assert "speech recognition is off (recognition.enabled = false): not fetching litagin/anime-whisper" in out


def test_say_refuses_a_reference_clip_without_speech_before_the_models_load(tmp_path, capsys):
    clip = tmp_path / "hiss.wav"
    sf.write(clip, np.concatenate([silence(1.0), noise(3.0, level=0.05)]), 16_000)
    assert main(["-c", str(unloadable_config(tmp_path)), "say", "a", "--reference", str(clip)]) == 2
    assert f"--reference {clip}: I could not hear anyone speaking" in capsys.readouterr().err


def test_doctor_checks_the_recogniser_when_recognition_is_on(tmp_path, monkeypatch, capsys):
    cache = cached_tiny_whisper(tmp_path / "hf")
    _offline_everything_but_the_recognizer(monkeypatch, cache)
    config = unloadable_config(tmp_path, f'[recognition]\nenabled = true\nmodel = "{TINY_WHISPER_ID}"\ndevice = "cpu"\n')
    main(["-c", str(config), "doctor"])
    assert f"ok    speech recognition: {TINY_WHISPER_ID} on cpu: 1 s transcribed in" in capsys.readouterr().out
