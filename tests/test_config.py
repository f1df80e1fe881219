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


@pytest.mark.parametrize("text, message", [
    ("[llm]\nn_batch = 0", r"llm\.n_batch: must be between 1 and n_ctx"),
    ("[llm]\nn_batch = -5\nn_ubatch = -6", r"llm\.n_batch: must be between 1 and n_ctx"),
    ("[llm]\nn_ctx = 4611686018427387904", r"llm\.n_ctx: must be between 512 and 131072"),
    ("[llm]\nn_gpu_layers = 100000", r"llm\.n_gpu_layers"),
    ("[llm]\nn_threads = 99999", r"llm\.n_threads"),
    ("[llm]\ninstruction = ' '", r"llm\.instruction: must not be empty"),
    ("[discord]\ndev_guild_ids = [0]", r"discord\.dev_guild_ids: 0 is not a server id.*Copy Server ID"),
    ("[discord]\ndev_guild_ids = [-1]", r"discord\.dev_guild_ids: -1 is not a server id"),
    ("[discord]\ntoken_env = 'MTA1.abc.def'", r"discord\.token_env: name the environment variable.*not the token"),
    ("[limits]\nreference_max_seconds = 300", r"limits\.reference_max_seconds: must be between 3 and 120"),
    ("[limits]\nqueue_per_guild = 100000000", r"limits\.queue_per_guild: must be between 1 and 1000"),
    ("[limits]\nrunning_per_guild = -1", r"limits\.running_per_guild: must be between 0 and 1000"),
    ("[sampling]\nseed = 4294967296", r"sampling\.seed: use -1 \(random\) or a number from 0 to 4294967295"),
    ("[sampling]\ntemperature = nan", r"sampling\.temperature: must be between 0 and 2"),
    ("[storage]\ndatabase = '   '", r"storage\.database: must be a path string"),
    ("[storage]\ndatabase = 'data/..'", r"storage\.database: must name a file"),
    ("[storage]\npresets_dir = '~no_such_user_xyz/presets'", r"storage\.presets_dir: cannot expand"),
])
def test_out_of_range_values_name_the_key_and_the_fix(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_the_longest_reference_the_config_allows_is_one_the_store_keeps(tmp_path):
    from bot.store.voices import MAX_REFERENCE_CODES

    longest = MAX_REFERENCE_CODES // 50  # XCodec2 makes 50 codes a second
    config = load_config(write(tmp_path, f"[limits]\nreference_max_seconds = {longest}"))
    assert config.limits.reference_max_seconds * 50 == MAX_REFERENCE_CODES


def test_a_config_path_that_is_a_folder_says_so(tmp_path):
    with pytest.raises(ConfigError, match=r"is a folder; give the config file itself"):
        load_config(tmp_path)


def test_a_config_file_that_is_not_utf8_says_so(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes("[llm]\ninstruction = '変換'\n".encode("shift_jis"))
    with pytest.raises(ConfigError, match=r"not UTF-8 text .*save it as UTF-8"):
        load_config(path)


def test_a_relative_codec_folder_is_relative_to_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    monkeypatch.chdir(tmp_path)  # the working directory is not where the config file is
    config = load_config(write(tmp_path / "conf", '[codec]\nsource = "codec-44k"\n'))
    assert config.codec.source == str(tmp_path / "conf" / "codec-44k")


def test_a_hub_id_stays_a_hub_id_unless_a_folder_of_that_name_is_next_to_the_config(tmp_path):
    text = '[codec]\nsource = "NandemoGHS/Anime-XCodec2-44.1kHz"\n'
    assert load_config(write(tmp_path, text)).codec.source == "NandemoGHS/Anime-XCodec2-44.1kHz"
    (tmp_path / "NandemoGHS" / "Anime-XCodec2-44.1kHz").mkdir(parents=True)
    assert load_config(write(tmp_path, text)).codec.source == str(tmp_path / "NandemoGHS/Anime-XCodec2-44.1kHz")


def test_a_real_server_id_is_accepted():
    from bot.config import DiscordConfig

    DiscordConfig(dev_guild_ids=(81384788765712384, 2**63 - 1)).validate("discord")
