"""Fixtures for the remote backends: the real llama-server on 127.0.0.1 with the tiny Llasa GGUF.

Every server a test starts is stopped by the test (see llama_server_process.py).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.speech.llm import GgufTokenizer
from tests.backends.llama_server_process import LlamaServer


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_gguf: Path) -> GgufTokenizer:
    return GgufTokenizer.load(tiny_gguf)


@pytest.fixture(scope="module")
def llama_server(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """One llama-server with 4 slots for the tests of a module that do not kill it."""
    server = LlamaServer(tiny_gguf, tmp_path_factory.mktemp("llama-server")).start()
    yield server
    server.stop()


@pytest.fixture
def make_llama_server(tiny_gguf: Path, tmp_path: Path) -> Iterator:
    """Start extra servers (which a test may kill and restart); all stopped at the end."""
    servers: list[LlamaServer] = []

    def make(slots: int = 4) -> LlamaServer:
        server = LlamaServer(tiny_gguf, tmp_path, slots=slots).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
