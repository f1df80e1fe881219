"""Typed settings loaded from TOML and validated once at start-up."""
from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from .speech.backends.http import Endpoint
from .store.voices import MAX_REFERENCE_CODES

# Llama 3.2 (Llasa's base) was trained to 131,072 tokens; more cannot help and only allocates memory.
MAX_N_CTX = 131_072
CODES_PER_SECOND = 50  # XCodec2
# Discord ids (snowflakes) of real servers have 17 to 20 digits and fit in a signed 64-bit integer.
MIN_SNOWFLAKE, MAX_SNOWFLAKE = 10**16, 2**63 - 1
MAX_SHARDS = 4096
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key and the fix."""


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


@dataclass(frozen=True)
class LlmConfig:
    model_path: Path = Path("models/Anime-Llasa-3B-Captions.Q8_0.gguf")
    # Whether the model takes a caption ("System Metadata"): "auto" decides by the file name.
    captions: Literal["auto", "yes", "no"] = "auto"
    lora_path: Path | None = None
    n_gpu_layers: int = -1
    n_ctx: int = 4096
    n_batch: int = 512
    n_ubatch: int = 256
    n_threads: int = 0
    flash_attn: bool = True
    instruction: str = "Convert the text to speech:"

    def validate(self, key: str) -> None:
        _check(512 <= self.n_ctx <= MAX_N_CTX, f"{key}.n_ctx", f"must be between 512 and {MAX_N_CTX} (4096 is a good value)")
        _check(-1 <= self.n_gpu_layers <= 1000, f"{key}.n_gpu_layers", "use -1 (all layers), 0 (CPU) or a count")
        _check(1 <= self.n_batch <= self.n_ctx, f"{key}.n_batch", "must be between 1 and n_ctx (512 is a good value)")
        _check(1 <= self.n_ubatch <= self.n_batch, f"{key}.n_ubatch", "must be between 1 and n_batch")
        _check(0 <= self.n_threads <= 1024, f"{key}.n_threads", "use 0 for automatic, or a thread count")
        _check(bool(self.instruction.strip()), f"{key}.instruction", "must not be empty")

    @property
    def uses_captions(self) -> bool:
        if self.captions == "auto":
            return "caption" in self.model_path.name.lower()
        return self.captions == "yes"


@dataclass(frozen=True)
class CodecConfig:
    # A local folder with model.safetensors (+ config.json), or a Hugging Face repo id.
    source: str = "NandemoGHS/Anime-XCodec2-44.1kHz"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    local_files_only: bool = False

    def validate(self, key: str) -> None:
        _check(bool(self.source.strip()), f"{key}.source", "name a folder or a hub id")


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 0
    repeat_penalty: float = 1.1
    max_tokens: int = 1500
    seed: int = -1

    def validate(self, key: str) -> None:
        _check(0.0 <= self.temperature <= 2.0, f"{key}.temperature", "must be between 0 and 2")
        _check(0.0 < self.top_p <= 1.0, f"{key}.top_p", "must be above 0 and at most 1")
        _check(0 <= self.top_k <= 1000, f"{key}.top_k", "must be between 0 (off) and 1000")
        _check(0.5 <= self.repeat_penalty <= 10.0, f"{key}.repeat_penalty", "must be between 0.5 and 10")
        _check(16 <= self.max_tokens <= 4096, f"{key}.max_tokens", "must be between 16 and 4096 (50 tokens = 1 s)")
        _check(-1 <= self.seed < 2**32, f"{key}.seed", "use -1 (random) or a number from 0 to 4294967295")


@dataclass(frozen=True)
class BackendConfig:
    """Where speech codes are generated: the embedded model, or serving engines over HTTP."""

    kind: Literal["llama-cpp", "llama-server", "vllm"] = "llama-cpp"
    endpoints: tuple[str, ...] = ()  # base URLs, e.g. "http://127.0.0.1:8080"
    slots: int = 0  # generations at once per endpoint; 0: ask the server (llama-server only)
    connect_timeout: float = 5.0
    read_timeout: float = 60.0  # the longest silence of a server while it streams
    tokenizer: Path | None = None  # vllm: the Hugging Face checkpoint folder (tokenizer.json)
    model: str = ""  # vllm: the served model name; "" = the one each server lists

    def validate(self, key: str) -> None:
        remote = self.kind != "llama-cpp"
        _check(not remote or bool(self.endpoints), f"{key}.endpoints",
               f"list at least one server for kind '{self.kind}', like [\"http://127.0.0.1:8080\"]")
        _check(remote or not self.endpoints, f"{key}.endpoints",
               "are only used by kind 'llama-server' or 'vllm'; set kind or remove them")
        for url in self.endpoints:
            try:
                Endpoint.parse(url)
            except ValueError as exc:
                raise ConfigError(f"{key}.endpoints: {exc}, like \"http://127.0.0.1:8080\"") from None
        _check(len(set(self.endpoints)) == len(self.endpoints), f"{key}.endpoints", "lists a server twice")
        _check(0 <= self.slots <= 1024, f"{key}.slots", "use 0 (ask the server) or a count up to 1024")
        _check(0.1 <= self.connect_timeout <= 120, f"{key}.connect_timeout", "must be between 0.1 and 120 seconds")
        _check(1 <= self.read_timeout <= 3600, f"{key}.read_timeout", "must be between 1 and 3600 seconds")
        _check(self.kind != "vllm" or self.tokenizer is not None, f"{key}.tokenizer",
               "kind 'vllm' needs the model's Hugging Face folder (with tokenizer.json) to tokenize locally")
        _check(self.kind != "vllm" or self.slots > 0, f"{key}.slots",
               "kind 'vllm' needs the generations at once per server (its --max-num-seqs); vLLM does not report it")


@dataclass(frozen=True)
class LimitsConfig:
    max_text_chars: int = 1000
    max_clip_seconds: float = 120.0
    queue_per_guild: int = 20
    queue_per_user: int = 5
    running_per_guild: int = 0  # 0: no cap (a server's second message starts only when no other waits)
    reference_max_seconds: float = 30.0

    def validate(self, key: str) -> None:
        _check(1 <= self.max_text_chars <= 20000, f"{key}.max_text_chars", "must be between 1 and 20000")
        _check(1.0 <= self.max_clip_seconds <= 1800.0, f"{key}.max_clip_seconds", "must be between 1 and 1800")
        _check(1 <= self.queue_per_guild <= 1000, f"{key}.queue_per_guild", "must be between 1 and 1000")
        _check(1 <= self.queue_per_user <= self.queue_per_guild, f"{key}.queue_per_user",
               "must be between 1 and queue_per_guild")
        _check(0 <= self.running_per_guild <= 1000, f"{key}.running_per_guild", "must be between 0 and 1000")
        # The store keeps at most this much of a reference clip; a longer cut would be refused after the encode.
        longest = MAX_REFERENCE_CODES // CODES_PER_SECOND
        _check(3.0 <= self.reference_max_seconds <= longest, f"{key}.reference_max_seconds",
               f"must be between 3 and {longest}")


@dataclass(frozen=True)
class DiscordConfig:
    token_env: str = "DISCORD_TOKEN"
    # Guilds whose slash commands are synced at once (handy while testing); global sync otherwise.
    dev_guild_ids: tuple[int, ...] = ()
    # Gateway shards: 0 = as many as Discord recommends, all in this process. Past one process,
    # give every process the same shard_count and its own shard_ids (see README, "Scaling out").
    shard_count: int = 0
    shard_ids: tuple[int, ...] = ()

    def validate(self, key: str) -> None:
        _check(0 <= self.shard_count <= MAX_SHARDS, f"{key}.shard_count",
               f"must be between 0 (Discord's recommendation) and {MAX_SHARDS}")
        _check(not self.shard_ids or self.shard_count > 0, f"{key}.shard_ids",
               "needs shard_count too: every process must agree on the total")
        _check(len(set(self.shard_ids)) == len(self.shard_ids), f"{key}.shard_ids", "lists a shard twice")
        for shard in self.shard_ids:
            _check(0 <= shard < self.shard_count, f"{key}.shard_ids",
                   f"{shard} is not a shard of {self.shard_count} (use 0 to {self.shard_count - 1})")
        _check(bool(_ENV_NAME.match(self.token_env)), f"{key}.token_env",
               "name the environment variable holding the bot token (like DISCORD_TOKEN), not the token itself")
        for guild_id in self.dev_guild_ids:
            _check(MIN_SNOWFLAKE <= guild_id <= MAX_SNOWFLAKE, f"{key}.dev_guild_ids",
                   f"{guild_id} is not a server id; in Discord turn on Developer Mode, "
                   "right-click the server and Copy Server ID (17 to 20 digits)")


@dataclass(frozen=True)
class StorageConfig:
    database: Path = Path("data/bot.sqlite3")
    presets_dir: Path = Path("presets")

    def validate(self, key: str) -> None:
        # Whether the file can be opened is checked when the store opens it, before the models load.
        _check(self.database.name not in ("", ".", ".."), f"{key}.database", "must name a file, like data/bot.sqlite3")


@dataclass(frozen=True)
class RecognitionConfig:
    # Speech recognition: checks each take against its text and transcribes clips for /voice clone.
    enabled: bool = False
    # A local folder or a hub id, read from the local Hugging Face cache (`python -m bot download` fetches it).
    model: str = "litagin/anime-whisper"
    # A take whose reading differs from its text by more than this character error rate is made again.
    max_cer: float = 0.15
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def validate(self, key: str) -> None:
        _check(bool(self.model.strip()), f"{key}.model", "name a folder or a hub id, like litagin/anime-whisper")
        _check(0.0 < self.max_cer <= 1.0, f"{key}.max_cer", "must be above 0 and at most 1 (0.15 is a good value)")


@dataclass(frozen=True)
class QualityConfig:
    # Failed-take detectors (bot/speech/detectors.py): a take that fails one is made again with a new
    # seed before anyone hears it. Off: every take is played as it comes, stuck ones to the token cap.
    enabled: bool = True
    retries: int = 2
    # How much of each take's start is held back and checked before any is played: 0.5 s costs no
    # first-audio time (the codec's first window needs as much); more catches more, later.
    hold_seconds: float = 0.5
    # A silence inside speech longer than this is a hang, not a pause.
    max_inner_silence_s: float = 2.0
    # Plausible speaking rates (Japanese: ~6–9 morae a second); takes outside them are failed.
    fastest_morae_per_s: float = 14.0
    slowest_morae_per_s: float = 3.0

    def validate(self, key: str) -> None:
        _check(0 <= self.retries <= 10, f"{key}.retries", "must be between 0 and 10 (2 is a good value)")
        _check(0.0 <= self.hold_seconds <= 30.0, f"{key}.hold_seconds", "must be between 0 and 30 seconds")
        _check(0.5 <= self.max_inner_silence_s <= 30.0, f"{key}.max_inner_silence_s", "must be between 0.5 and 30 seconds")
        _check(0.5 <= self.slowest_morae_per_s < self.fastest_morae_per_s <= 60.0, f"{key}.slowest_morae_per_s",
               "and fastest_morae_per_s must satisfy 0.5 <= slowest < fastest <= 60")


@dataclass(frozen=True)
class Config:
    llm: LlmConfig = field(default_factory=LlmConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    recognition: RecognitionConfig = field(default_factory=RecognitionConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)

    def discord_token(self) -> str:
        """The bot token, read from the environment (never from a committed file)."""
        token = os.environ.get(self.discord.token_env, "").strip()
        if not token:
            raise ConfigError(
                f"discord.token_env: the environment variable {self.discord.token_env} is empty; "
                f"export {self.discord.token_env}=<your bot token> before starting the bot"
            )
        return token


def load_config(path: Path | str | None) -> Config:
    """Read a TOML file (or take the defaults when path is None) into a validated Config."""
    if path is None:
        return _build(Config, {}, "")
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; copy config.example.toml to {path} and edit it") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; give the config file itself, like {path / 'config.toml'}") from None
    except PermissionError:
        raise ConfigError(f"{path}: not readable by this user; fix its permissions (chmod u+r)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    config = _build(Config, raw, "")
    return _resolve_paths(config, path.parent)


def _resolve_paths(config: Config, base: Path) -> Config:
    """Relative paths in a config file are relative to that file's folder."""
    def fix(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    return dataclasses.replace(
        config,
        llm=dataclasses.replace(config.llm, model_path=fix(config.llm.model_path), lora_path=fix(config.llm.lora_path)),
        codec=dataclasses.replace(config.codec, source=_codec_source(config.codec.source, base)),
        backend=dataclasses.replace(config.backend, tokenizer=fix(config.backend.tokenizer)),
        storage=dataclasses.replace(config.storage, database=fix(config.storage.database),
                                    presets_dir=fix(config.storage.presets_dir)),
        recognition=dataclasses.replace(config.recognition, model=_codec_source(config.recognition.model, base)),
    )


def _codec_source(source: str, base: Path) -> str:
    """A folder (relative to the config file) or a hub id 'owner/name'; a folder of that name wins."""
    path = Path(os.path.expanduser(source))  # unlike Path.expanduser, leaves "~nobody-here" as it is
    if path.is_absolute():
        return str(path)
    if _HUB_ID.match(source) and not (base / path).exists():
        return source
    return str(base / path)


def _build(cls: type, raw: Any, key: str) -> Any:
    label = key or "the config file"
    if not isinstance(raw, dict):
        raise ConfigError(f"{label}: expected a table like [{key}]")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    for name in raw:
        if name not in fields:
            close = difflib.get_close_matches(name, fields, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(sorted(fields))}"
            raise ConfigError(f"{_join(key, name)}: unknown key{hint}")
    values = {name: _convert(hints[name], raw[name], _join(key, name)) for name in fields if name in raw}
    obj = cls(**values)
    if hasattr(obj, "validate"):
        obj.validate(key)
    return obj


def _convert(hint: Any, value: Any, key: str) -> Any:
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        if value in ("", None) and type(None) in get_args(hint):
            return None
        return _convert(options[0], value, key)
    if origin is Literal:
        choices = get_args(hint)
        _check(value in choices, key, f"must be one of {', '.join(map(repr, choices))}, not {value!r}")
        return value
    if origin is tuple:
        _check(isinstance(value, list), key, "must be a list, like [1, 2]")
        item = get_args(hint)[0]
        return tuple(_convert(item, v, key) for v in value)
    if hint is Path:
        _check(isinstance(value, str) and value.strip() != "" and "\0" not in value, key, "must be a path string")
        try:
            return Path(value).expanduser()
        except RuntimeError:  # "~someone" for a user this machine doesn't know
            raise ConfigError(f"{key}: cannot expand {value!r}; write the full path") from None
    if hint is bool:
        _check(isinstance(value, bool), key, f"must be true or false, not {value!r}")
        return value
    if hint is int:
        _check(isinstance(value, int) and not isinstance(value, bool), key, f"must be a whole number, not {value!r}")
        return value
    if hint is float:
        _check(isinstance(value, (int, float)) and not isinstance(value, bool), key, f"must be a number, not {value!r}")
        return float(value)
    if hint is str:
        _check(isinstance(value, str), key, f"must be a string, not {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} at {key}")  # our bug, not the user's


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name
