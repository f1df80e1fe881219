"""The command line: say writes a playable file, doctor reports what is wrong."""
from __future__ import annotations

from pathlib import Path

import soundfile as sf

from bot.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


def config_file(tmp_path: Path, model: Path, codec: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[llm]\nmodel_path = "{model}"\nn_gpu_layers = 0\nn_threads = 2\n'
        f'[codec]\nsource = "{codec}"\ndevice = "cpu"\n'
        f'[sampling]\nmax_tokens = 40\nseed = 3\n'
        f'[storage]\ndatabase = "{tmp_path}/db/bot.sqlite3"\npresets_dir = "{ROOT / "presets"}"\n',
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
