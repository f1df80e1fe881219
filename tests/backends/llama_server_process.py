"""A real llama-server process on 127.0.0.1 for tests and benchmarks: started, killed, stopped.

The binary is found as the product finds it (scripts/setup.sh builds it; LLAMA_SERVER_BIN
overrides). Waiting for a start is bounded.
"""
from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from bot.speech.backends.llama_server import llama_server_binary
from tests.tiny_llasa import SPEECH_END

STARTUP_LIMIT_S = 120  # a bound on a hung start, not a speed requirement


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """A llama-server process serving one GGUF with `slots` slots; start(), kill(), stop().

    One thread by default: on a busy 2-core machine ggml's spinning worker threads made two
    threads 4x slower than one (measured 3.7 vs 14 tokens/s, tiny GGUF, load average 13).
    """

    def __init__(self, gguf: Path, log_dir: Path, *, slots: int = 4, ctx_per_slot: int = 2048, threads: int = 1) -> None:
        self.gguf, self.slots, self.ctx_per_slot, self.threads = gguf, slots, ctx_per_slot, threads
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log_dir / f"llama-server-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            str(llama_server_binary()), "-m", str(self.gguf), "--host", "127.0.0.1", "--port", str(self.port),
            "-np", str(self.slots), "-c", str(self.slots * self.ctx_per_slot), "-t", str(self.threads), "--no-warmup",
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
