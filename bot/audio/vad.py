"""Trim a reference clip to its speech with Silero VAD: breaths and noise at the edges spoil XCodec2's encoding.

The VAD is Silero's ONNX model, shipped inside the silero-vad package and run here with
onnxruntime (the package itself is never imported: it sets torch to one thread for the whole
process). Inner pauses are kept; isolated blips at the edges (a click, a breath) are dropped;
the kept span gets a little padding and short fades.
"""
from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .resample import resample
from .upload import UploadRejected

VAD_RATE = 16_000
FRAME = 512  # samples per Silero decision at 16 kHz (32 ms)
_CONTEXT = 64  # samples of the previous frame Silero's v5+ models see with each frame
SPEECH_PROBABILITY = 0.5  # Silero's own default; a frame at or above it starts speech
SILENCE_PROBABILITY = 0.35  # speech ends only below this (hysteresis, as Silero's get_speech_timestamps)
JOIN_GAP_S = 0.3  # speech parts closer than this are one part
EDGE_BLIP_S = 0.4  # a part shorter than this, alone at either edge, is a click or breath
MIN_SPEECH_S = 0.5
PADDING_S = 0.1
FADE_S = 0.01

_lock = threading.Lock()
_session = None


class NoSpeech(UploadRejected):
    """The clip holds no speech the VAD can find; the message is fit for the user."""


@dataclass(frozen=True)
class TrimmedClip:
    """The kept part of a clip, and where it lay in the original."""

    samples: np.ndarray
    sample_rate: int
    start_s: float
    original_seconds: float

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def trim_to_speech(samples: np.ndarray, sample_rate: int) -> TrimmedClip:
    """Cut float32 mono samples to the span from the first to the last speech, padded; NoSpeech if none."""
    parts = speech_parts(samples, sample_rate)
    if sum(end - start for start, end in parts) < MIN_SPEECH_S:
        raise NoSpeech("upload.no_speech")
    total = len(samples) / sample_rate
    start_s = max(0.0, parts[0][0] - PADDING_S)
    end_s = min(total, parts[-1][1] + PADDING_S)
    kept = samples[int(start_s * sample_rate):int(end_s * sample_rate)].astype(np.float32, copy=True)
    fade = min(int(FADE_S * sample_rate), len(kept) // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        kept[:fade] *= ramp
        kept[-fade:] *= ramp[::-1]
    return TrimmedClip(kept, sample_rate, start_s, total)


def speech_parts(samples: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
    """(start, end) seconds of each stretch of speech, close ones joined, edge blips dropped."""
    return parts_from_probabilities(speech_probabilities(resample(samples, sample_rate, VAD_RATE)), FRAME / VAD_RATE)


def parts_from_probabilities(probabilities: np.ndarray, frame_s: float) -> list[tuple[float, float]]:
    """Speech stretches from per-frame speech probabilities (the rules of speech_parts)."""
    parts: list[tuple[float, float]] = []
    speaking, start, last_sure = False, 0, 0
    for i, p in enumerate(probabilities):
        if p >= SPEECH_PROBABILITY:
            start = i if not speaking else start
            speaking, last_sure = True, i
        elif speaking and p < SILENCE_PROBABILITY:
            # Silero's probability decays for ~0.2 s after speech: the part ends after its last sure frame.
            speaking = False
            parts.append((start * frame_s, (last_sure + 1) * frame_s))
    if speaking:
        parts.append((start * frame_s, (last_sure + 1) * frame_s))
    joined: list[tuple[float, float]] = []
    for start_s, end_s in parts:
        if joined and start_s - joined[-1][1] < JOIN_GAP_S:
            joined[-1] = (joined[-1][0], end_s)
        else:
            joined.append((start_s, end_s))
    while len(joined) > 1 and joined[0][1] - joined[0][0] < EDGE_BLIP_S:
        joined.pop(0)
    while len(joined) > 1 and joined[-1][1] - joined[-1][0] < EDGE_BLIP_S:
        joined.pop()
    return joined


def speech_probabilities(samples_16k: np.ndarray) -> np.ndarray:
    """Silero's speech probability for each whole 32 ms frame of 16 kHz audio."""
    session = _load()
    state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros(_CONTEXT, dtype=np.float32)
    rate = np.array(VAD_RATE, dtype=np.int64)
    x = np.asarray(samples_16k, dtype=np.float32)
    out = np.empty(len(x) // FRAME, dtype=np.float32)
    for i in range(len(out)):
        chunk = np.concatenate([context, x[i * FRAME:(i + 1) * FRAME]])[None]
        probability, state = session.run(None, {"input": chunk, "state": state, "sr": rate})
        out[i] = probability[0, 0]
        context = chunk[0, -_CONTEXT:]
    return out


def model_path() -> Path:
    """silero_vad.onnx inside the installed silero-vad package (found without importing it)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the silero-vad package is not installed (pip install silero-vad); it trims voice clips")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"


def _load():
    global _session
    with _lock:
        if _session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            # A tiny model run frame by frame: more threads only add hand-off cost, and the CPU is shared.
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            _session = onnxruntime.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])
        return _session
