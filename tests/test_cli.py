"""The command line: say writes a playable file, doctor reports what is wrong."""
from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from bot.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


def config_file(tmp_path: Path, model: Path, codec: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[llm]\nmodel_path = "{model}"\nn_gpu_layers = 0\nn_threads = 2\n'
        f'[codec]\nsource = "{codec}"\ndevice = "cpu"\n'
        f'[sampling]\nmax_tokens = 40\nseed = 3\n'
        # Random weights never say END: their takes would all fail the detectors (tests/test_retry.py).
        f'[quality]\nenabled = false\n'
        f'[storage]\ndatabase = "{tmp_path}/db/bot.sqlite3"\npresets_dir = "{ROOT / "presets"}"\n' + extra,
        encoding="utf-8",
    )
    return path


def test_say_writes_a_playable_file(tmp_path, tiny_gguf, tiny_codec_dir, capsys):
    out = tmp_path / "hello.flac"
    code = main(["-c", str(config_file(tmp_path, tiny_gguf, tiny_codec_dir)), "say", "こんにちは", "-o", str(out),
                 "--preset", "cheerful"])
    assert code == 0
    samples, rate = sf.read(out)
    assert rate == 44100 and len(samples) == 40 * 882
    assert "40 codes" in capsys.readouterr().out


def test_say_with_an_unknown_preset_says_which_exist(tmp_path, tiny_gguf, tiny_codec_dir, capsys):
    code = main(["-c", str(config_file(tmp_path, tiny_gguf, tiny_codec_dir)), "say", "a", "--preset", "nope"])
    assert code == 2
    assert "no preset 'nope'" in capsys.readouterr().err


def test_doctor_passes_on_working_models_and_names_a_missing_model(tmp_path, tiny_gguf, tiny_codec_dir, capsys, monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "x")
    assert main(["-c", str(config_file(tmp_path, tiny_gguf, tiny_codec_dir)), "doctor"]) == 0
    assert "all good" in capsys.readouterr().out

    missing = tmp_path / "models" / "missing.gguf"
    assert main(["-c", str(config_file(tmp_path, missing, tiny_codec_dir)), "doctor"]) == 1
    out = capsys.readouterr().out
    assert f"FAIL  llama.cpp + Llasa model: model file {missing} not found" in out
    assert "python -m bot download" in out
    assert "ok    XCodec2 codec" in out  # the other checks still ran


def test_a_bad_config_value_stops_with_the_key_named(tmp_path, capsys):
    bad = tmp_path / "config.toml"
    bad.write_text("[sampling]\ntop_p = 3\n")
    assert main(["-c", str(bad), "doctor"]) == 2
    assert "sampling.top_p: must be above 0 and at most 1" in capsys.readouterr().err


def unloadable_config(tmp_path: Path, extra: str = "") -> Path:
    """A config whose model does not exist: any check that runs after loading would report that instead."""
    return config_file(tmp_path, tmp_path / "models" / "missing.gguf", tmp_path / "no-codec", extra)


@pytest.mark.parametrize("argv, message", [
    (["say", "あ" * 20000], "the text is 20000 characters long; limits.max_text_chars is 1000"),
    (["say", ""], "there is nothing to say"),
    (["say", "  \n "], "there is nothing to say"),
    (["say", "a", "--reference", "missing.wav"], "--reference missing.wav: no such file"),
    (["say", "a", "--transcript", "hello"], "--transcript describes a --reference clip"),
    (["say", "a", "-o", "out.mp4"], "'.mp4' is not a format I write"),
    (["say", "a", "--preset", "nope"], "no preset 'nope'"),
])
def test_say_checks_its_input_before_loading_any_model(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["-c", str(unloadable_config(tmp_path)), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "missing.gguf" not in err  # the model was never loaded


def test_say_refuses_a_reference_that_is_not_audio_and_an_output_that_is_a_folder(tmp_path, capsys):
    config = str(unloadable_config(tmp_path))
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not a sound")
    assert main(["-c", config, "say", "a", "--reference", str(not_audio)]) == 2
    assert f"--reference {not_audio}: this file is not audio" in capsys.readouterr().err
    assert main(["-c", config, "say", "a", "-o", str(tmp_path)]) == 2
    assert f"{tmp_path} is a folder; name a file in it" in capsys.readouterr().err


def test_say_says_which_part_of_a_long_text_the_clip_limit_cut(tmp_path, tiny_gguf, tiny_codec_dir, capsys):
    sentence = "あ" * 50 + "。"  # two never join into one piece (80 characters at most)
    out = tmp_path / "long.wav"
    config = config_file(tmp_path, tiny_gguf, tiny_codec_dir, "[limits]\nmax_clip_seconds = 1\n")
    assert main(["-c", str(config), "say", sentence * 3, "-o", str(out)]) == 0
    captured = capsys.readouterr()
    samples, rate = sf.read(out)
    assert len(samples) <= rate * 1.2  # 1 s of codes and the pause between sentences
    assert "limits.max_clip_seconds (1 s) was reached after 2 of 3 sentences; 51 characters were not spoken" in captured.err
    assert "hit sampling.max_tokens (40)" in captured.err


def test_a_seed_out_of_range_is_refused_by_the_argument_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["-c", str(unloadable_config(tmp_path)), "say", "a", "--seed", str(2**32)])
    assert exit_.value.code == 2
    assert "--seed: 4294967296 is out of range; use -1 (random) or 0 to 4294967295" in capsys.readouterr().err
