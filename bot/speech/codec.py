"""XCodec2 for the engine: load a checkpoint, decode codes (one-shot or streamed), encode clips.

Decoding runs our own torch module (xcodec2_decoder.py) built from the checkpoint's decoder
keys only, so the 600 M-parameter semantic model is never loaded for it. Encoding reference clips
uses the xcodec2 package's XCodec2Model, built lazily on the first encode() call from files
already on disk: `fetch_semantic_model` (run by the `download` command) puts them there.
"""

from __future__ import annotations

import gc
import json
import logging
import re
import sys
import threading
import types
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..audio.resample import resample
from ..i18n import UserFacing
from .batch_decode import BatchDecoder
from .xcodec2_decoder import XCodec2Decoder, build_decoder, canonical_key, is_decoder_key

log = logging.getLogger(__name__)

CODEBOOK_SIZE = 65536
ENCODER_SAMPLE_RATE = 16000
MIN_CLIP_SECONDS = 0.5
DEFAULT_MAX_CLIP_SECONDS = 30.0
# A clip quieter than −60 dBFS RMS holds no voice to clone; it would encode to noise codes.
SILENCE_RMS = 1e-3
# Parts of XCodec2Model that encoding needs; semantic_model may be absent from a checkpoint
# (XCodec2Model's own __init__ fetches it from the hub then).
ENCODER_PREFIXES = ("SemanticEncoder_module.", "CodecEnc.", "fc_prior.", "generator.quantizer.")
SEMANTIC_PREFIX = "semantic_model."
# The speech model in front of XCodec2's encoder. XCodec2Model.__init__ would fetch it from the
# hub itself, on the speech worker, at the first clone (46 s per try offline, on every clone).
SEMANTIC_MODEL_ID = "facebook/w2v-bert-2.0"
FETCH_HINT = "run `scripts/run-bot download` on the bot's machine, then restart the bot"
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


class CodecError(Exception):
    """The codec cannot do what was asked; the message is fit for a user."""


class UnusableClip(UserFacing, CodecError):
    """A voice clip a user sent cannot be encoded (empty, damaged, too short, silent)."""


class CloningUnavailable(UserFacing, CodecError):
    """This installation cannot encode voice clips at all; the detail says what the operator must do."""


# --------------------------------------------------------------------------- checkpoint files


@dataclass(frozen=True)
class CheckpointFiles:
    """Where a codec's weights and optional config live on disk."""

    tensors: tuple[Path, ...]
    config: dict[str, Any]

    def keys(self) -> list[str]:
        """Every tensor name, without reading any tensor."""
        from safetensors import safe_open

        names: list[str] = []
        for path in self.tensors:
            with safe_open(str(path), framework="pt") as f:
                names.extend(f.keys())
        return names

    def read(self, wanted: Callable[[str], bool]) -> dict[str, Tensor]:
        """Only the tensors whose key is wanted (the full checkpoint is ~3 GB)."""
        from safetensors import safe_open

        state: dict[str, Tensor] = {}
        for path in self.tensors:
            with safe_open(str(path), framework="pt") as f:
                state.update({k: f.get_tensor(k) for k in f.keys() if wanted(k)})
        return state


def locate_checkpoint(source: str | Path, *, local_files_only: bool = False) -> CheckpointFiles:
    """A local folder (or .safetensors file), else a hub id fetched with huggingface_hub."""
    path = Path(source).expanduser()
    if path.is_file() and path.suffix == ".safetensors":
        return CheckpointFiles((path,), _read_config(path.parent))
    if not path.is_dir():
        if not _HUB_ID.match(str(source)):
            raise CodecError(f"codec not found: {source} is neither a folder nor a hub model id")
        path = _download(str(source), local_files_only)
    preferred = path / "model.safetensors"
    tensors = (preferred,) if preferred.is_file() else tuple(sorted(path.glob("*.safetensors")))
    if not tensors:
        raise CodecError(f"no .safetensors weights in {path}")
    return CheckpointFiles(tensors, _read_config(path))


def _download(repo_id: str, local_files_only: bool) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        folder = snapshot_download(
            repo_id, allow_patterns=["*.safetensors", "*.json"], local_files_only=local_files_only
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as error:
        hint = " (offline: it is not in the local cache)" if local_files_only else ""
        message = f"could not get the codec {repo_id} from the hub{hint}: {error}"
        raise CodecError(message) from error
    return Path(folder)


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CodecError(f"unreadable codec config {path}: {error}") from error
    if not isinstance(config, dict):
        raise CodecError(f"codec config {path} is not a JSON object")
    return config


# --------------------------------------------------------------------------- device and precision


def _pick_device(device: str) -> torch.device:
    try:
        picked = torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise CodecError(f"unknown device {device!r}") from error
    if picked.type == "cuda" and not torch.cuda.is_available():
        raise CodecError("CUDA was asked for the codec but no CUDA GPU is available")
    return picked


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """"auto": fp16 backbone on CUDA (head, FFT and norms stay fp32 anyway), fp32 on CPU."""
    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise CodecError(f"codec dtype must be auto, float32, float16 or bfloat16, not {dtype!r}")
    if device.type == "cpu" and dtype != "float32":
        # Measured on a 2-core Xeon: bf16 decodes ~40x slower than fp32 there.
        log.warning("codec dtype %s on CPU works but is much slower than float32", dtype)
    return DTYPES[dtype]


# --------------------------------------------------------------------------- code validation


CodeInput = Sequence[int] | np.ndarray | Tensor


def as_codes(codes: CodeInput, *, allow_empty: bool = False) -> np.ndarray:
    """Speech codes as a 1-D int64 array, or CodecError (an empty list, a wrong value...)."""
    if isinstance(codes, Tensor):
        codes = codes.detach().cpu().numpy()
    array = np.asarray(codes)
    while array.ndim > 1 and array.shape[0] == 1:
        array = array[0]  # accept the package's [1, 1, T] and [1, T] layouts
    if array.ndim != 1:
        raise CodecError(f"speech codes must be a flat list, got shape {array.shape}")
    if array.size == 0:
        if allow_empty:
            return array.astype(np.int64)
        raise CodecError("there are no speech codes to decode (the model produced no speech)")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or not np.all(np.mod(array, 1) == 0):
            raise CodecError("speech codes must be whole numbers")
    if array.min() < 0 or array.max() >= CODEBOOK_SIZE:
        raise CodecError(f"speech codes must lie in 0…{CODEBOOK_SIZE - 1}")
    return array.astype(np.int64)


# --------------------------------------------------------------------------- the codec


class SpeechCodec:
    """An XCodec2 checkpoint ready to decode speech codes (50 a second) and encode clips."""

    def __init__(
        self,
        decoder: XCodec2Decoder,
        checkpoint: CheckpointFiles,
        device: torch.device,
        dtype: torch.dtype,
        *,
        batch_streams: bool = False,
    ) -> None:
        self._decoder: XCodec2Decoder | None = decoder
        self._checkpoint = checkpoint
        self._device = device
        self._dtype = dtype
        self._encoder: nn.Module | None = None
        self._encoder_error: CodecError | None = None  # why encoding cannot work; never retried
        self._encoder_lock = threading.Lock()
        self.sample_rate: int = decoder.sample_rate
        self.samples_per_code: int = decoder.samples_per_code
        # With several generation lanes, one worker decodes all streams' windows (batched);
        # with one, streams call the decoder directly as before.
        self._batcher = BatchDecoder(self._decode_batch) if batch_streams else None

    @classmethod
    def load(
        cls,
        source: str | Path,
        *,
        device: str = "cpu",
        dtype: str = "auto",
        local_files_only: bool = False,
        batch_streams: bool = False,
    ) -> SpeechCodec:
        """Load the decoder of a local folder or hub model; the encoder waits for encode().

        batch_streams: decode concurrent streams' windows in batched calls (for backends with
        capacity > 1)."""
        torch_device = _pick_device(device)
        torch_dtype = _pick_dtype(dtype, torch_device)
        checkpoint = locate_checkpoint(source, local_files_only=local_files_only)
        raw = checkpoint.read(lambda key: is_decoder_key(canonical_key(key)))
        try:
            decoder = build_decoder(raw, checkpoint.config)
        except ValueError as error:
            raise CodecError(f"{source} is not a usable XCodec2 checkpoint: {error}") from error
        decoder = decoder.set_precision(torch_dtype).to(torch_device)
        log.info(
            "codec %s: %d Hz, %d samples per code, %s on %s",
            source, decoder.sample_rate, decoder.samples_per_code, torch_dtype, torch_device,
        )
        return cls(decoder, checkpoint, torch_device, torch_dtype, batch_streams=batch_streams)

    # ----------------------------------------------------------------- decoding

    def decode(self, codes: CodeInput) -> np.ndarray:
        """Codes → float32 mono audio of exactly len(codes) · samples_per_code samples."""
        return self._decode_window(as_codes(codes))

    def decode_batch(self, windows: Sequence[CodeInput]) -> list[np.ndarray]:
        """Equal-length code sequences → their audio, decoded in one batched call."""
        codes = [as_codes(w) for w in windows]
        if len({len(c) for c in codes}) > 1:
            raise ValueError("a batched decode needs code sequences of one length")
        return list(self._decode_batch(np.stack(codes))) if codes else []

    def stream(self, schedule: StreamSchedule | None = None) -> CodecStream:
        """An incremental decoder for codes that arrive a few at a time."""
        schedule = schedule or DEFAULT_SCHEDULE
        if self._batcher is None:
            return CodecStream(self._decode_window, self.samples_per_code, schedule)
        return CodecStream.through(self._batcher, self.samples_per_code, schedule)

    def _decode_window(self, codes: np.ndarray) -> np.ndarray:
        if self._batcher is not None:
            return self._batcher.decode(codes)
        return self._decode_batch(codes[None])[0]

    def _decode_batch(self, codes: np.ndarray) -> np.ndarray:
        """Codes (B, T) → float32 audio (B, T · samples_per_code)."""
        decoder = self._require_decoder()
        batch = torch.from_numpy(codes).to(self._device)
        with torch.inference_mode():
            audio = decoder(batch)
        return audio.float().cpu().numpy()

    def _require_decoder(self) -> XCodec2Decoder:
        if self._decoder is None:
            raise RuntimeError("the codec was closed")
        return self._decoder

    # ----------------------------------------------------------------- encoding

    def encode(
        self, wav: np.ndarray, sample_rate: int, *, max_seconds: float = DEFAULT_MAX_CLIP_SECONDS
    ) -> np.ndarray:
        """A voice clip (any rate, mono or stereo) → int64 speech codes, ~50 a second.

        Clips longer than max_seconds are cut; empty, broken, silent or too short ones raise
        CodecError. The encoder (~2 GB) is built on the first call.
        """
        clip = prepare_clip(wav, sample_rate, max_seconds=max_seconds)
        encoder = self._require_encoder()
        batch = torch.from_numpy(clip)[None].to(self._device)
        with torch.inference_mode(), self._encoder_autocast():
            codes = encoder.encode_code(batch)
        return codes.reshape(-1).cpu().numpy().astype(np.int64)

    def _require_encoder(self) -> nn.Module:
        with self._encoder_lock:
            if self._encoder_error is not None:
                raise self._encoder_error
            if self._encoder is None:
                self._require_decoder()
                try:
                    self._encoder = self._load_encoder()
                except CodecError as error:
                    # A missing file or encoder stays missing until the operator acts: answer
                    # every later clip at once instead of searching again per request.
                    self._encoder_error = error
                    raise
            return self._encoder

    def _load_encoder(self) -> nn.Module:
        present = {canonical_key(k) for k in self._checkpoint.keys()}
        if not all(any(k.startswith(p) for k in present) for p in ENCODER_PREFIXES):
            raise CloningUnavailable("codec.cloning_unavailable",
                                     detail="this codec checkpoint has no encoder: it cannot read voice clips")
        log.info("building the XCodec2 encoder (first reference clip)")
        model = build_encoder_model(fetch_semantic_model(local_files_only=True))
        load_encoder_weights(model, self._checkpoint)
        if self._device.type == "cuda" and self._dtype != torch.float32:
            _half_with_fp32_norms(model, self._dtype)
        return model.to(self._device).eval()

    def _encoder_autocast(self) -> Any:
        if self._device.type == "cuda" and self._dtype != torch.float32:
            return torch.autocast("cuda", dtype=self._dtype)
        return nullcontext()

    def close(self) -> None:
        """Drop the decoder and encoder so their memory (RAM or VRAM) can be reused."""
        if self._batcher is not None:
            self._batcher.close()
        with self._encoder_lock:
            self._decoder = None
            self._encoder = None
        gc.collect()
        if self._device.type == "cuda":
            torch.cuda.empty_cache()


# --------------------------------------------------------------------------- streaming

# Why a schedule, not fixed windows: nothing in the decoder is local. Attention spans the whole
# input (content based; its RoPE rotates by head, not by time) and every GroupNorm averages over
# all frames, so audio depends on every code in the window. A window therefore re-decodes
# `context` codes of the past, holds back `lookahead` codes (their audio would still change) and
# overlaps the previous window by `fade` codes, cross-faded so that joins cannot click. Re-decoding is the cost: 25-code windows with 100 codes
# of context decoded 5.2x the codes they released. So the first window is small (audio once
# first_step + lookahead + fade = 25 codes are in, the synthesizer's first push) and later ones
# grow with the audio already out, up to 3 s: what playback holds while the next one is made.
# Measured with bench/codec_decode.py --grid (full-size random decoder, 10 s of random codes,
# 25-code pushes; SER of streamed vs one-shot audio). Around context 50, lookahead 12, fade 4:
# context 0/25/50/100 gave 17.0/18.9/19.7/20.6 dB at 1.3/1.6/1.9/2.5x the codes decoded;
# lookahead 4/12/24 19.4/19.7/20.5 dB (24 delays the first audio); fade 2/4/8 no difference;
# the old schedule 19.5 dB at 5.2x. The error is spread over whole windows, not gathered at the
# joins. Chosen growth 0.5 first (18.8 dB at 1.47x the codes), then 0.25 (18.2 dB at 1.68x the
# codes, 2.0x the one-shot wall time on 2 CPU cores in bench/realtime.py; the old schedule: 5.5x):
# windows that grow faster than generation outpaces playback make a stream just above real time
# wait for its next piece, so with growth 0.5 playback could start at the first chunk only above
# ~1.8x real time; with 0.25, above ~1.5x (see pacing.can_start, which plans with this schedule).
# The small lookahead and fade let the first window release 15 codes (0.3 s). Steps over 3 s
# saved nothing more.


@dataclass(frozen=True)
class StreamSchedule:
    """How CodecStream cuts a growing code sequence into decoder windows; sizes in codes."""

    context: int = 25  # past codes re-decoded for the attention and norm statistics
    lookahead: int = 8  # codes decoded but held back: their audio still changes
    fade: int = 2  # overlap with the previous window, cross-faded
    first_step: int = 15  # the first window releases this many codes (early first audio)
    growth: float = 0.25  # later windows release at least this share of the audio already out
    max_step: int = 150  # but wait for no more than this many

    def __post_init__(self) -> None:
        if self.fade < 1 or self.first_step < self.fade or self.max_step < self.first_step:
            raise ValueError("need 1 <= fade <= first_step <= max_step")
        if self.context < 0 or self.lookahead < 0 or self.growth < 0:
            raise ValueError("context, lookahead and growth must not be negative")

    @property
    def first_audio_codes(self) -> int:
        """How many codes must be in before the first audio comes out."""
        return self.first_step + self.lookahead + self.fade

    def step_after(self, released: int) -> int:
        """The fewest codes the next window releases, once `released` codes are out."""
        return min(self.max_step, max(self.first_step, int(self.growth * released)))


DEFAULT_SCHEDULE = StreamSchedule()


class CodecStream:
    """Decodes a growing code sequence window by window; every sample comes out exactly once."""

    def __init__(
        self,
        decode_window: Callable[[np.ndarray], np.ndarray],
        samples_per_code: int,
        schedule: StreamSchedule = DEFAULT_SCHEDULE,
        *,
        on_finish: Callable[[], None] | None = None,
    ) -> None:
        self._decode_window = decode_window
        self._on_finish = on_finish
        self._spc = samples_per_code
        self.schedule = schedule
        self._codes: list[int] = []
        self._released = 0  # codes whose audio is out (the held tail comes after them)
        self._tail: np.ndarray | None = None  # last window's audio for the next `fade` codes
        self._fade_in = _fade_curve(schedule.fade * samples_per_code)
        self._finished = False
        self.decoded_codes = 0  # codes run through the decoder so far, context included

    @classmethod
    def through(
        cls, worker: BatchDecoder, samples_per_code: int, schedule: StreamSchedule = DEFAULT_SCHEDULE
    ) -> CodecStream:
        """A stream whose windows go through a batch decode worker, as one of its open lanes."""
        lane = worker.lane()
        stream = cls(lane, samples_per_code, schedule, on_finish=lane.close)
        weakref.finalize(stream, lane.close)  # a stream dropped unfinished (a cancelled take)
        return stream

    def push(self, codes: Sequence[int] | np.ndarray) -> np.ndarray:
        """Add codes; return the audio that is now final (often empty)."""
        if self._finished:
            raise RuntimeError("push() after finish()")
        self._codes.extend(as_codes(codes, allow_empty=True).tolist())
        held = self.schedule.fade + self.schedule.lookahead
        pieces = []
        # Each window releases exactly its step and decodes exactly `held` codes past it, so every
        # stream walks the same ladder of window lengths (fixed once steps reach max_step) and
        # windows of concurrent streams can share a batched decode; codes beyond wait their turn.
        while len(self._codes) - held - self._released >= self.schedule.step_after(self._released):
            release_to = self._released + self.schedule.step_after(self._released)
            pieces.append(self._release(release_to, release_to + held))
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)

    def finish(self) -> np.ndarray:
        """Decode what is left; all outputs together hold len(codes) · samples_per_code samples."""
        if self._finished:
            return np.zeros(0, dtype=np.float32)
        self._finished = True
        try:
            if len(self._codes) == self._released:
                return np.zeros(0, dtype=np.float32)
            return self._release(len(self._codes), len(self._codes))
        finally:
            if self._on_finish is not None:
                self._on_finish()

    def _release(self, release_to: int, end: int) -> np.ndarray:
        """Decode codes [start, end) and give out the audio of codes [released, release_to)."""
        spc, start = self._spc, max(0, self._released - self.schedule.context)
        audio = self._decode_window(np.asarray(self._codes[start:end], dtype=np.int64))
        self.decoded_codes += end - start
        begin = (self._released - start) * spc
        out = audio[begin : (release_to - start) * spc].copy()
        if self._tail is not None:
            n = len(self._tail)
            out[:n] = self._tail * (1.0 - self._fade_in[:n]) + out[:n] * self._fade_in[:n]
        settled = min(end, release_to + self.schedule.fade)
        self._tail = audio[(release_to - start) * spc : (settled - start) * spc].copy()
        self._tail = self._tail if len(self._tail) else None
        self._released = release_to
        return out.astype(np.float32, copy=False)


def _fade_curve(length: int) -> np.ndarray:
    """Raised-cosine fade-in; with its complement it sums to one, right for near-equal signals."""
    t = (np.arange(length, dtype=np.float64) + 0.5) / length
    return (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)


# --------------------------------------------------------------------------- clip preparation


def prepare_clip(
    wav: np.ndarray, sample_rate: int, *, max_seconds: float = DEFAULT_MAX_CLIP_SECONDS
) -> np.ndarray:
    """Any clip → float32 mono at 16 kHz, cut to max_seconds; CodecError for unusable clips."""
    if sample_rate <= 0:
        raise UnusableClip("codec.bad_rate", rate=sample_rate)
    mono = _mono_float(np.asarray(wav))
    if mono.size == 0:
        raise UnusableClip("codec.empty")
    if not np.all(np.isfinite(mono)):
        raise UnusableClip("codec.damaged")
    if mono.size < MIN_CLIP_SECONDS * sample_rate:
        raise UnusableClip("codec.too_short", seconds=MIN_CLIP_SECONDS)
    mono = mono[: int(max_seconds * sample_rate)]
    if float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))) < SILENCE_RMS:
        raise UnusableClip("codec.silent")
    return resample(mono, sample_rate, ENCODER_SAMPLE_RATE)


def _mono_float(wav: np.ndarray) -> np.ndarray:
    """Mix channels down and scale integer PCM to [-1, 1]."""
    if np.issubdtype(wav.dtype, np.integer):
        wav = wav.astype(np.float64) / float(np.iinfo(wav.dtype).max + 1)
    elif not np.issubdtype(wav.dtype, np.floating):
        raise UnusableClip("codec.not_samples")
    if wav.ndim == 2:
        # soundfile gives (frames, channels); a (channels, frames) array has the short axis first.
        channel_axis = 0 if wav.shape[0] < wav.shape[1] and wav.shape[0] <= 8 else 1
        wav = wav.mean(axis=channel_axis)
    elif wav.ndim != 1:
        raise UnusableClip("codec.bad_shape", shape=str(wav.shape))
    return wav.astype(np.float32)


# --------------------------------------------------------------------------- the encoder model


@contextmanager
def _torchaudio_stub() -> Iterator[None]:
    """xcodec2's vq/bs_roformer5.py imports torchaudio without using it, and no torchaudio
    wheel loads beside our torch; a stub serves that import and is removed again, because
    transformers' own torchaudio check breaks on a stub left in sys.modules."""
    if "torchaudio" in sys.modules:
        yield
        return
    stub = types.ModuleType("torchaudio")
    sys.modules["torchaudio"] = stub
    try:
        yield
    finally:
        if sys.modules.get("torchaudio") is stub:
            del sys.modules["torchaudio"]


def import_xcodec2() -> types.ModuleType:
    """The xcodec2 package's modeling module (tests patch its hub downloads through this)."""
    import transformers  # noqa: F401  (imported first so it never sees the stub)
    from transformers import AutoFeatureExtractor, Wav2Vec2BertModel  # noqa: F401

    if "xcodec2.modeling_xcodec2" not in sys.modules:
        with _torchaudio_stub():
            import xcodec2.modeling_xcodec2  # noqa: F401
    return sys.modules["xcodec2.modeling_xcodec2"]


def fetch_semantic_model(*, local_files_only: bool) -> Path:
    """The folder of facebook/w2v-bert-2.0 in the Hugging Face cache, downloaded (with progress
    bars) unless local_files_only; CodecError saying what to run when it is not there."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        folder = snapshot_download(
            SEMANTIC_MODEL_ID,
            allow_patterns=["*.json", "*.safetensors"],
            local_files_only=local_files_only,
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as error:
        where = "is not downloaded" if local_files_only else "could not be downloaded"
        raise CloningUnavailable("codec.cloning_unavailable", detail=f"{SEMANTIC_MODEL_ID} {where}; {FETCH_HINT}") from error
    return Path(folder)


def build_encoder_model(semantic_folder: Path) -> nn.Module:
    """XCodec2Model with only what encoding needs, its semantic model read from a local folder.

    The parts are those XCodec2Model.__init__ makes, which we do not call: it fetches
    facebook/w2v-bert-2.0 from the hub by name. The decoder's backbone and head are dropped."""
    modeling = import_xcodec2()
    from transformers import PreTrainedModel
    from xcodec2.configuration_bigcodec import BigCodecConfig
    from xcodec2.vq.codec_decoder_vocos import CodecDecoderVocos
    from xcodec2.vq.codec_encoder import CodecEncoder_Transformer
    from xcodec2.vq.module import SemanticEncoder

    config = BigCodecConfig()
    model = modeling.XCodec2Model.__new__(modeling.XCodec2Model)
    PreTrainedModel.__init__(model, config)
    try:
        model.semantic_model = modeling.Wav2Vec2BertModel.from_pretrained(
            str(semantic_folder), output_hidden_states=True, local_files_only=True
        ).eval()
        model.feature_extractor = modeling.AutoFeatureExtractor.from_pretrained(
            str(semantic_folder), local_files_only=True
        )
    except (OSError, ValueError) as error:
        raise CloningUnavailable(
            "codec.cloning_unavailable",
            detail=f"could not read {SEMANTIC_MODEL_ID} from {semantic_folder} ({error}); {FETCH_HINT}") from error
    size = config.semantic_hidden_size
    model.SemanticEncoder_module = SemanticEncoder(size, size, size)
    model.CodecEnc = CodecEncoder_Transformer()
    model.generator = CodecDecoderVocos()
    model.generator.backbone = nn.Identity()
    model.generator.head = nn.Identity()
    model.fc_prior = nn.Linear(2048, 2048)
    return model


def load_encoder_weights(model: nn.Module, checkpoint: CheckpointFiles) -> None:
    """Fill the encoder side from the checkpoint, matching names across their spelling variants."""
    expected = {
        canonical_key(k): k
        for k in model.state_dict()
        if k.startswith(ENCODER_PREFIXES) or k.startswith(SEMANTIC_PREFIX)
    }
    raw = checkpoint.read(lambda key: canonical_key(key) in expected)
    state = {expected[canonical_key(k)]: v for k, v in raw.items()}
    required = [k for k in expected.values() if not k.startswith(SEMANTIC_PREFIX)]
    missing = [k for k in required if k not in state]
    if missing:
        raise CloningUnavailable("codec.cloning_unavailable",
                                 detail=f"this codec checkpoint has no encoder weights (missing {missing[0]})")
    semantic = [k for k in expected.values() if k.startswith(SEMANTIC_PREFIX)]
    if any(k in state for k in semantic) and not all(k in state for k in semantic):
        # A partial semantic model would mix two models' weights: keep the downloaded one.
        state = {k: v for k, v in state.items() if not k.startswith(SEMANTIC_PREFIX)}
    model.load_state_dict(state, strict=False)


def _half_with_fp32_norms(model: nn.Module, dtype: torch.dtype) -> None:
    """The seed's CUDA recipe: half weights, LayerNorms back in fp32, run under autocast."""
    model.to(dtype)
    for module in model.modules():
        if isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
            module.float()
