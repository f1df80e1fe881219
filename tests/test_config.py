"""Configuration: the example file is valid, and bad values fail with the key and the fix."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from bot.speech.captions import load_presets

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_config_loads_and_paths_are_relative_to_it():
    config = load_config(ROOT / "config.example.toml")
    assert config.llm.model_path == ROOT / "models/Anime-Llasa-3B-Captions.Q8_0.gguf"
    assert config.llm.uses_captions and config.llm.lora_path is None
    assert config.sampling.temperature == 0.8 and config.sampling.top_k == 0
    assert config.storage.database == ROOT / "data/bot.sqlite3"


@pytest.mark.parametrize("text, message", [
    ("[sampling]\ntemperature = 5", r"sampling\.temperature: must be between 0 and 2"),
    ("[sampling]\ntemprature = 0.5", r"sampling\.temprature: unknown key; did you mean 'temperature'"),
    ("[llm]\nn_ctx = 'big'", r"llm\.n_ctx: must be a whole number"),
    ("[llm]\nflash_attn = 1", r"llm\.flash_attn: must be true or false"),
    ("[codec]\ndevice = 'gpu'", r"codec\.device: must be one of 'auto', 'cpu', 'cuda'"),
    ("[limits]\nqueue_per_user = 50", r"limits\.queue_per_user: must be between 1 and queue_per_guild"),
    ("[llm\n", r"not valid TOML"),
    ("llm = 3", r"llm: expected a table"),
])
def test_bad_values_name_the_key_and_the_fix(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_a_missing_config_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="copy config.example.toml"):
        load_config(tmp_path / "config.toml")


def test_the_token_comes_from_the_environment(monkeypatch):
    config = load_config(None)
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="export DISCORD_TOKEN"):
        config.discord_token()
    monkeypatch.setenv("DISCORD_TOKEN", " abc ")
    assert config.discord_token() == "abc"


def test_the_shipped_presets_are_valid_captions():
    presets = load_presets(ROOT / "presets")
    assert len(presets) >= 6
    assert all(p.caption and p.system_text().count("\n") == 8 for p in presets.values())
