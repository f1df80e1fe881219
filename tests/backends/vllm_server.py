"""Fixtures for the vLLM backend: real `vllm serve` processes on 127.0.0.1 with tiny HF Llasa models.

vLLM is found as the product finds it (scripts/setup-vllm.sh makes its virtualenv; VLLM_BIN
overrides). Each server runs in its own process group (API server, engine core, worker) and is
stopped with it; waiting for one is bounded. On 2 busy cores a start takes minutes (imports),
so a module starts its servers once, side by side.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.speech.backends.hf_tokenizer import HfTokenizer
from bot.speech.backends.vllm import vllm_serve_command
from tests.backends.llama_server_process import free_port
from tests.tiny_hf_llasa import write_tiny_hf_llasa

STARTUP_LIMIT_S = 900  # a bound on a hung start, not a speed requirement
MAX_NUM_SEQS = 8
MAX_MODEL_LEN = 2048


class VllmServer:
    """A vLLM OpenAI-compatible server for one model folder; launch(), wait_ready(), kill(), stop()."""

    def __init__(self, model: Path, log_dir: Path) -> None:
        self.model = model
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log_dir / f"vllm-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            *vllm_serve_command(), "--model", str(self.model), "--host", "127.0.0.1", "--port", str(self.port),
            "--max-model-len", str(MAX_MODEL_LEN), "--max-num-seqs", str(MAX_NUM_SEQS), "--dtype", "bfloat16",
            # torch.compile takes minutes on 2 cores; eager runs the tiny model just as well.
            "--enforce-eager", "--enable-prompt-tokens-details",
        ]

    def launch(self) -> "VllmServer":
        env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1",
                   HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def wait_ready(self) -> "VllmServer":
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"vllm exited with {self._process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass  # not listening yet
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"vllm did not come up in {STARTUP_LIMIT_S} s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL to the whole process group, as a crash would: no goodbye to the clients."""
        if self._process is not None:
            _signal_group(self._process, signal.SIGKILL)
            self._process.wait(30)
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            _signal_group(self._process, signal.SIGTERM)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(self._process, signal.SIGKILL)  # the engine processes too, whatever the API server did
            self._process.wait(30)
            self._process = None

    def log_tail(self) -> str:
        return self._log.read_text(errors="replace")[-3000:] if self._log.exists() else "(no log)"


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)  # start_new_session: the group id is the server's pid
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def tiny_hf_llasa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny HF Llasa that never ends by itself."""
    return write_tiny_hf_llasa(tmp_path_factory.mktemp("hf-llasa") / "model")


@pytest.fixture(scope="session")
def tiny_hf_llasa_that_ends(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny HF Llasa that says END after ~40 codes."""
    return write_tiny_hf_llasa(tmp_path_factory.mktemp("hf-llasa-end") / "model", end_logit=10.0)


@pytest.fixture(scope="session")
def hf_tokenizer(tiny_hf_llasa: Path) -> HfTokenizer:
    return HfTokenizer.load(tiny_hf_llasa)


@pytest.fixture(scope="module")
def vllm_servers(tiny_hf_llasa: Path, tiny_hf_llasa_that_ends: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VllmServer, VllmServer]]:
    """Two servers started side by side: (the random model, the model that ends); both stopped at the end."""
    logs = tmp_path_factory.mktemp("vllm")
    servers = (VllmServer(tiny_hf_llasa, logs), VllmServer(tiny_hf_llasa_that_ends, logs))
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()
