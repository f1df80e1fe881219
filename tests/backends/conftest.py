"""Fixtures for the remote backends: the real llama-server on 127.0.0.1 with the tiny Llasa GGUF.

The binary is found as the product finds it (scripts/setup.sh builds it; LLAMA_SERVER_BIN
overrides). Every server a test starts is stopped by the test, and waiting for one is bounded.
"""
from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.speech.backends.llama_server import llama_server_binary
from bot.speech.llm import GgufTokenizer
from tests.tiny_llasa import SPEECH_END

STARTUP_LIMIT_S = 120  # a bound on a hung start, not a speed requirement


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """A llama-server process serving one GGUF with `slots` slots; start(), kill(), stop()."""

    def __init__(self, gguf: Path, log_dir: Path, *, slots: int = 4, ctx_per_slot: int = 2048) -> None:
        self.gguf, self.slots, self.ctx_per_slot = gguf, slots, ctx_per_slot
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log_dir / f"llama-server-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            str(llama_server_binary()), "-m", str(self.gguf), "--host", "127.0.0.1", "--port", str(self.port),
            "-np", str(self.slots), "-c", str(self.slots * self.ctx_per_slot), "-t", "2", "--no-warmup",
            "--override-kv", f"tokenizer.ggml.eos_token_id=int:{SPEECH_END}",
        ]

    def start(self) -> "LlamaServer":
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self._process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass  # not listening yet, or 503 while loading
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"llama-server did not come up in {STARTUP_LIMIT_S} s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no goodbye to the clients."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(30)
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(15)
            self._process = None

    def log_tail(self) -> str:
        return self._log.read_text(errors="replace")[-2000:] if self._log.exists() else "(no log)"


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
