"""Start-up: what users can get wrong stops `python -m bot` with one line, before the models load."""
from __future__ import annotations

import logging
from pathlib import Path

from bot.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


def config_with_database(tmp_path: Path, database: Path) -> Path:
    """A config whose model is missing: an error about the database proves the store was checked first."""
    path = tmp_path / "config.toml"
    path.write_text(
        f'[llm]\nmodel_path = "{tmp_path / "missing.gguf"}"\n'
        f'[storage]\ndatabase = "{database}"\npresets_dir = "{ROOT / "presets"}"\n',
        encoding="utf-8",
    )
    return path


def test_a_database_path_that_is_a_folder_stops_start_up_before_the_models(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "x")
    assert main(["-c", str(config_with_database(tmp_path, tmp_path)), "run"]) == 2
    err = capsys.readouterr().err
    assert f"error: {tmp_path} is a folder, not a database file; set storage.database" in err
    assert "Traceback" not in err and "missing.gguf" not in err


def test_a_damaged_database_stops_start_up_before_the_models(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "x")
    database = tmp_path / "bot.sqlite3"
    database.write_bytes(b"\x00garbage" * 1000)
    assert main(["-c", str(config_with_database(tmp_path, database)), "run"]) == 2
    err = capsys.readouterr().err
    assert f"error: the database {database} is damaged (file is not a database)" in err
    assert "Traceback" not in err and "missing.gguf" not in err


def test_doctor_names_a_database_problem_and_checks_the_rest(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "x")
    assert main(["-c", str(config_with_database(tmp_path, tmp_path)), "doctor"]) == 1
    out = capsys.readouterr().out
    assert f"FAIL  database: {tmp_path} is a folder" in out
    assert "ok    presets" in out and "FAIL  llama.cpp + Llasa model" in out


def test_a_config_path_that_is_a_folder_is_one_line_not_a_traceback(tmp_path, capsys):
    assert main(["-c", str(tmp_path), "doctor"]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}: is a folder; give the config file itself, like {tmp_path / 'config.toml'}\n"


def test_a_codec_device_without_a_gpu_is_reported_before_the_llm_loads(tmp_path, tiny_gguf, capsys, caplog, monkeypatch):
    import torch

    caplog.set_level(logging.INFO)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # this machine, as one without a GPU
    config = tmp_path / "config.toml"
    config.write_text(f'[llm]\nmodel_path = "{tiny_gguf}"\n[codec]\ndevice = "cuda"\n'
                      f'[storage]\ndatabase = "{tmp_path / "bot.sqlite3"}"\npresets_dir = "{ROOT / "presets"}"\n')
    assert main(["-c", str(config), "say", "こんにちは", "-o", str(tmp_path / "a.wav")]) == 2
    captured = capsys.readouterr()
    assert "error: codec.device is 'cuda' but torch sees no CUDA GPU" in captured.err
    assert not [r for r in caplog.records if r.name == "bot.speech.llm" and r.getMessage().startswith("loaded")]


def test_discord_out_of_reach_at_log_in_is_one_line_and_shuts_down_cleanly(tmp_path, caplog, monkeypatch):
    import discord.http

    from tests.fakes import ScriptedSynthesizer

    caplog.set_level(logging.INFO)
    monkeypatch.setenv("DISCORD_TOKEN", "x")
    # The models are not what this is about: stand in for them after the start-up checks.
    synthesizer = ScriptedSynthesizer()
    monkeypatch.setattr("bot.speech.loader.load_synthesizer", lambda config: synthesizer)
    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:1/api/v10")  # nothing listens on port 1
    database = tmp_path / "bot.sqlite3"
    assert main(["-c", str(config_with_database(tmp_path, database)), "run"]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith("cannot reach Discord (")
    assert "shutdown: database closed" in [r.getMessage() for r in caplog.records]
    assert synthesizer.closed  # the models (or a backend's connections and threads) are released too


def test_a_missing_codec_folder_is_reported_before_the_llm_loads(tmp_path, tiny_gguf, capsys, caplog):
    caplog.set_level(logging.INFO)
    config = tmp_path / "config.toml"
    config.write_text(f'[llm]\nmodel_path = "{tiny_gguf}"\n[codec]\nsource = "codec-44k"\ndevice = "cpu"\n'
                      f'[storage]\ndatabase = "{tmp_path / "bot.sqlite3"}"\npresets_dir = "{ROOT / "presets"}"\n')
    assert main(["-c", str(config), "say", "こんにちは", "-o", str(tmp_path / "a.wav")]) == 2
    assert f"{tmp_path / 'codec-44k'} is neither a folder nor a hub model id" in capsys.readouterr().err
    assert not [r for r in caplog.records if r.name == "bot.speech.llm" and r.getMessage().startswith("loaded")]
