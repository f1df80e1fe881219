"""Best of N by speech recognition: a take whose heard reading strays too far from its text fails, and is made again."""
from __future__ import annotations

import logging
import re
from typing import Protocol

import numpy as np

from ..text.reading import reading_cer
from .detectors import Failure

log = logging.getLogger(__name__)

# （囁き）, （笑いながら）: delivery tags in full-width parentheses steer the model and are not spoken.
_DELIVERY_TAG = re.compile(r"（[^（）]*）")


class Transcriber(Protocol):
    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str: ...


class RecognitionCheck:
    """A TakeCheck: transcribes the take and fails it when its reading's CER against the text exceeds max_cer."""

    detector = "recognition"

    def __init__(self, recognizer: Transcriber, max_cer: float) -> None:
        self._recognizer = recognizer
        self.max_cer = max_cer

    def check(self, text: str, audio: np.ndarray, sample_rate: int) -> Failure | None:
        spoken = _DELIVERY_TAG.sub("", text)
        heard = self._recognizer.transcribe(audio, sample_rate)
        cer = reading_cer(spoken, heard)
        log.debug("recognition: %r heard as %r, reading error %.2f", spoken, heard, cer)
        if cer <= self.max_cer:
            return None
        return Failure(self.detector, f"heard 「{_short(heard)}」 for 「{_short(spoken)}」 "
                                      f"(reading error {cer:.2f}, more than {self.max_cer:.2f})")


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
