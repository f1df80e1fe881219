"""The GGUF files in the models folder, and switching the embedded model without a restart.

Memory: an 8 GB GPU cannot hold two Llasa-3B models (about 4 GB each with their context) beside
the codec, so a switch unloads the old model first and loads the new one; if that load fails,
the old model is loaded again. A file that is plainly wrong (not a GGUF, not a Llasa vocabulary)
is refused from its vocabulary alone, before the old model is touched.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import LlmConfig
from .backends.base import BackendError
from .llm import GgufTokenizer, LlasaModel, LoadOptions, ModelError
from .prompt import LlasaVocab
from .synthesizer import Synthesizer

log = logging.getLogger(__name__)

# engine.run_exclusive: runs fn once every job queued before it has ended, nothing beside it.
RunExclusive = Callable[[Callable[[], Any]], Awaitable[Any]]


@dataclass(frozen=True)
class ModelFile:
    """One GGUF in the models folder, and whether it takes captions (the Captions model's prompt)."""

    path: Path
    size_bytes: int
    captions: bool

    @property
    def name(self) -> str:
        return self.path.name


def takes_captions(path: Path, llm: LlmConfig) -> bool:
    """The configured file follows llm.captions; any other is judged by its name, like llm.captions "auto"."""
    if path == llm.model_path:
        return llm.uses_captions
    return replace(llm, model_path=path, captions="auto").uses_captions


def list_models(folder: Path, llm: LlmConfig) -> list[ModelFile]:
    """The *.gguf files directly in folder, by name (an empty list when the folder is missing)."""
    if not folder.is_dir():
        return []
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() == ".gguf" and p.is_file()), key=lambda p: p.name)
    return [ModelFile(p, p.stat().st_size, takes_captions(p, llm)) for p in files]


class NoModel:
    """In place of a model that could not be loaded again after a failed switch: every job fails
    with the reason (a closed llama.cpp model would crash the process), until /model loads one."""

    capacity = 1

    def __init__(self, vocab: LlasaVocab, reason: str) -> None:
        self.vocab = vocab
        self.reason = reason

    def tokenize_text(self, text: str) -> list[int]:
        raise BackendError(self.reason)

    def generate(self, prompt: Any, sampling: Any, **_: Any) -> Any:
        raise BackendError(self.reason)

    def close(self) -> None:
        pass


class ModelSwitcher:
    """Swaps the synthesizer's embedded Llasa model for another GGUF in the models folder."""

    def __init__(self, synthesizer: Synthesizer, llm: LlmConfig, options: LoadOptions, run_exclusive: RunExclusive) -> None:
        self._synthesizer = synthesizer
        self._llm = llm
        self._options = options
        self._run_exclusive = run_exclusive
        self.folder = llm.model_path.parent
        self.current = llm.model_path

    @property
    def loaded(self) -> bool:
        """False only after a failed switch that could not load the previous model again either."""
        return not isinstance(self._synthesizer.llm, NoModel)

    def models(self) -> list[ModelFile]:
        return list_models(self.folder, self._llm)

    def find(self, name: str) -> ModelFile:
        """The file of that name in the folder (names only: no paths); ModelError when there is none."""
        found = next((m for m in self.models() if m.name == name), None)
        if found is None:
            raise ModelError(f"there is no model file named {name!r} in {self.folder}; pick one from /model list")
        return found

    async def switch(self, name: str) -> ModelFile:
        """Load `name` in place of the current model once the jobs queued before have ended.

        ModelError (the old model still loaded) when the file can't be used.
        """
        model = self.find(name)
        # The vocabulary alone (fast, little memory) refuses most wrong files without unloading anything.
        await asyncio.to_thread(GgufTokenizer.load, model.path)
        await self._run_exclusive(lambda: self._swap(model))
        return model

    def _swap(self, model: ModelFile) -> None:
        synthesizer, previous = self._synthesizer, self.current
        old = synthesizer.llm
        old.close()  # first: two models at once do not fit an 8 GB GPU
        try:
            new = LlasaModel.load(model.path, self._load_options(model.path))
        except ModelError as error:
            log.warning("switching to %s failed (%s); loading %s again", model.name, error, previous.name)
            try:
                synthesizer.llm = LlasaModel.load(previous, self._load_options(previous))
            except ModelError as again:
                log.error("loading %s again failed too: %s", previous.name, again)
                reason = f"no model is loaded: {model.name} and {previous.name} both failed to load; pick another with /model use"
                synthesizer.llm = NoModel(old.vocab, reason)
                raise ModelError(f"{error}; and loading {previous.name} again failed too ({again}): "
                                 "no model is loaded until /model use loads one") from error
            raise
        synthesizer.llm, synthesizer.captions = new, model.captions
        self.current = model.path
        log.info("switched the model from %s to %s (captions: %s)", previous.name, model.name, model.captions)

    def _load_options(self, path: Path) -> LoadOptions:
        # A LoRA adapter is trained for the configured model, not for whatever file is picked later.
        return self._options if path == self._llm.model_path else replace(self._options, lora_path=None)
