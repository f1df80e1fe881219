"""What every generation backend does: Llasa prompt ids in, speech codes out, several at once.

The embedded llama.cpp model (`bot.speech.llm.LlasaModel`, capacity 1) is one; remote serving
engines (llama-server, vLLM) are others. The synthesizer and the engine see only this interface.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Protocol, runtime_checkable

from ..llm import CodeGeneration, Sampling
from ..prompt import LlasaVocab


class BackendError(RuntimeError):
    """The backend could not generate (a server down or answering nonsense); the message is fit for users."""


@runtime_checkable
class GenerationBackend(Protocol):
    """Generates speech codes for Llasa prompts. Thread-safe up to `capacity` generations at once."""

    vocab: LlasaVocab

    def tokenize_text(self, text: str) -> list[int]:
        """Plain text to ids, no BOS, special-token strings kept as text."""
        ...

    @property
    def capacity(self) -> int:
        """How many generations may run at once right now (0 while every server is down)."""
        ...

    def generate(
        self,
        prompt: Sequence[int],
        sampling: Sampling,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        affinity: Hashable | None = None,
    ) -> CodeGeneration:
        """Codes after prompt, yielded as each is sampled; iteration raises BackendError on failure.

        affinity: work with the same key (a guild) goes to the same server while it is up, so its
        prompt prefix stays cached there.
        """
        ...

    def close(self) -> None:
        """Release connections and models; generations still running end with BackendError."""
        ...
