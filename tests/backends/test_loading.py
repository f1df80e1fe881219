"""The [backend] config section and building a backend from it (make_backend)."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from bot.speech.backends.base import BackendError
from bot.speech.backends.pool import EndpointPool
from bot.speech.llm import LlasaModel, Sampling
from bot.speech.loader import make_backend
from tests.backends.llama_server_process import free_port


def _config(tmp_path: Path, backend: str, gguf: Path | None = None) -> Path:
    path = tmp_path / "config.toml"
    llm = f'[llm]\nmodel_path = "{gguf}"\nn_gpu_layers = 0\n' if gguf else ""
    path.write_text(llm + "[backend]\n" + backend, encoding="utf-8")
    return path


def test_the_default_backend_is_the_embedded_model(tmp_path: Path, tiny_gguf: Path) -> None:
    config = load_config(_config(tmp_path, "", tiny_gguf))
    assert config.backend.kind == "llama-cpp" and config.backend.endpoints == ()
    backend = make_backend(config)
    try:
        assert isinstance(backend, LlasaModel) and backend.capacity == 1
    finally:
        backend.close()


@pytest.mark.parametrize(("backend", "message"), [
    ('kind = "llama-server"\n', "backend.endpoints: list at least one server"),
    ('kind = "llama-server"\nendpoints = ["127.0.0.1:8080"]\n', "backend.endpoints: '127.0.0.1:8080' must start with http"),
    ('kind = "llama-server"\nendpoints = ["http://h:8080", "http://h:8080"]\n', "backend.endpoints: lists a server twice"),
    ('endpoints = ["http://h:8080"]\n', "backend.endpoints: are only used by kind"),
    ('kind = "llama-server"\nendpoints = ["http://h:1"]\nslots = -1\n', "backend.slots"),
    ('kind = "vllm"\nendpoints = ["http://h:1"]\n', "backend.tokenizer"),
    ('kind = "tgi"\n', "backend.kind: must be one of"),
])
def test_bad_backend_settings_name_the_key(tmp_path: Path, backend: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_config(tmp_path, backend))


def test_llama_server_backend_from_config(tmp_path: Path, tiny_gguf: Path, llama_server) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    config = load_config(_config(tmp_path, f'kind = "llama-server"\nendpoints = ["{dead}", "{llama_server.url}"]\n',
                                 tiny_gguf))
    backend = make_backend(config)  # the dead one is logged and retried, not fatal
    try:
        assert isinstance(backend, EndpointPool)
        assert backend.live() == [llama_server.url] and backend.capacity == 4
        assert len(list(backend.generate([backend.vocab.begin_of_text, backend.vocab.speech_start],
                                         Sampling(max_tokens=8, seed=1)))) == 8
    finally:
        backend.close()


def test_all_servers_down_is_a_clear_error(tmp_path: Path, tiny_gguf: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    config = load_config(_config(tmp_path, f'kind = "llama-server"\nendpoints = ["{dead}"]\n', tiny_gguf))
    with pytest.raises(BackendError, match=f"no speech server answered: {dead}"):
        make_backend(config)
