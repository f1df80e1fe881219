"""Continuing an audio clip (the seed's 音声ファイルの続き): the clip is the reference, only new speech comes out."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..audio.resample import resample
from .prompt import ReferenceVoice
from .synthesizer import Clip, SpeechRequest


@dataclass(frozen=True)
class SourceClip:
    """An uploaded clip as read (float32 mono, cut to the reference limit) and as speech codes."""

    samples: np.ndarray
    sample_rate: int
    codes: tuple[int, ...]

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def continuing(request: SpeechRequest, source: SourceClip, transcript: str) -> SpeechRequest:
    """The request spoken as the clip's continuation: its codes and transcript lead the prompt.

    The model goes on after the clip's last code in the clip's voice, exactly as for a cloned
    voice; the caption (Captions model) and sampling of the request stay.
    """
    return replace(request, voice=replace(request.voice, reference=ReferenceVoice(source.codes, transcript)))


def joined(source: SourceClip, continuation: Clip) -> Clip:
    """The original clip's audio, then the continuation, at the continuation's rate (CPU work: call in a thread)."""
    head = resample(source.samples, source.sample_rate, continuation.sample_rate)
    return replace(continuation, samples=np.concatenate([head, continuation.samples]))
