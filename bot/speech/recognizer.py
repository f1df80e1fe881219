"""Speech recognition with a Whisper model (litagin/anime-whisper by default) through transformers.

Loaded once at start-up from a folder or the local Hugging Face cache (never fetched while a
request waits: `python -m bot download` fetches it); transcribes 16 kHz audio in 30 s windows.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.resample import resample

log = logging.getLogger(__name__)

DEFAULT_RECOGNIZER_ID = "litagin/anime-whisper"
WHISPER_RATE = 16_000
WINDOW_SECONDS = 30  # Whisper's input window; longer audio is transcribed window by window
FETCH_HINT = "run `python -m bot download` once with recognition.enabled = true"
_FILES = ["*.json", "*.safetensors", "*.txt"]


class RecognizerUnavailable(Exception):
    """The recognition model cannot be loaded; the message says why and what to run."""


def locate_model(source: str, *, local_files_only: bool = True) -> Path:
    """A folder holding the model, or its snapshot in the Hugging Face cache (downloaded unless local_files_only)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    path = Path(source).expanduser()
    if path.is_dir():
        return path
    try:
        return Path(snapshot_download(source, allow_patterns=_FILES, local_files_only=local_files_only))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as error:
        where = "is not downloaded" if local_files_only else "could not be downloaded"
        raise RecognizerUnavailable(f"the speech recognition model {source} {where}; {FETCH_HINT}") from error


class SpeechRecognizer:
    """A loaded Whisper model; `transcribe` may be called from any thread (one at a time inside)."""

    def __init__(self, model: Any, processor: Any, device: str, name: str) -> None:
        self._model = model
        self._processor = processor
        self._device = device
        self.name = name
        self._lock = threading.Lock()
        # Whisper stops at its decoder's length; 8 tokens are left for the language and task prompt.
        self._max_new_tokens = int(model.config.max_target_positions) - 8

    @classmethod
    def load(cls, source: str = DEFAULT_RECOGNIZER_ID, *, device: str = "cpu") -> SpeechRecognizer:
        """Load from a folder or the local cache only; RecognizerUnavailable says what is missing."""
        folder = locate_model(source, local_files_only=True)
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        try:
            processor = WhisperProcessor.from_pretrained(folder, local_files_only=True)
            model = WhisperForConditionalGeneration.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, KeyError) as error:
            raise RecognizerUnavailable(f"the speech recognition model in {folder} cannot be loaded: {error}") from error
        return cls(model.to(device=device, dtype=dtype).eval(), processor, device, source)

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        """What is said in float32 mono samples, as text (empty when nothing is heard)."""
        audio = resample(np.asarray(samples, dtype=np.float32), sample_rate, WHISPER_RATE)
        window = WINDOW_SECONDS * WHISPER_RATE
        pieces = [self._transcribe_window(audio[i:i + window]) for i in range(0, max(len(audio), 1), window)]
        return "".join(pieces).strip()

    def _transcribe_window(self, audio: np.ndarray) -> str:
        import torch

        features = self._processor.feature_extractor(
            audio, sampling_rate=WHISPER_RATE, return_tensors="pt", return_attention_mask=True)
        inputs = features.input_features.to(self._device, dtype=self._model.dtype)
        with self._lock, torch.inference_mode():
            # The anime-whisper model card: Japanese, greedy, no repetition controls, and no
            # initial prompt (one makes it hallucinate).
            ids = self._model.generate(
                inputs, attention_mask=features.attention_mask.to(self._device), language="ja", task="transcribe",
                do_sample=False, num_beams=1, no_repeat_ngram_size=0, repetition_penalty=1.0,
                max_new_tokens=self._max_new_tokens)
        return self._processor.batch_decode(ids, skip_special_tokens=True)[0]

    def close(self) -> None:
        """Free the model's memory (RAM or VRAM)."""
        with self._lock:
            self._model = None
        if self._device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
