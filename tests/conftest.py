"""Shared fixtures: tiny real models made once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_llasa import write_tiny_llasa


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight Llasa GGUF with the real vocabulary layout."""
    return write_tiny_llasa(tmp_path_factory.mktemp("llm") / "tiny-llasa.gguf")


@pytest.fixture(scope="session")
def tiny_gguf_that_ends(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llasa that says END after ~8 codes on average (temperature 1)."""
    return write_tiny_llasa(tmp_path_factory.mktemp("llm") / "tiny-llasa-ends.gguf", end_logit=9.0)


@pytest.fixture(scope="session")
def tiny_llm(tiny_gguf: Path):
    from bot.speech.llm import LlasaModel, LoadOptions

    return LlasaModel.load(tiny_gguf, LoadOptions(n_gpu_layers=0, n_ctx=4096, n_threads=2))


from tests.fakediscord.fixtures import fake_discord  # noqa: E402,F401  (shared fixture)
