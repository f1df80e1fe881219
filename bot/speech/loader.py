"""Build the speech stack (a generation backend + XCodec2) from the validated config."""
from __future__ import annotations

import logging
from pathlib import Path

from ..config import Config
from .codec import CodecError, SpeechCodec, locate_checkpoint
from .backends.base import GenerationBackend
from .backends.hf_tokenizer import HfTokenizer
from .backends.http import Timeouts
from .backends.llama_server import LlamaServerBackend
from .backends.pool import EndpointBackend, EndpointPool
from .backends.vllm import VllmBackend
from .llm import GgufTokenizer, LlasaModel, LoadOptions, Sampling
from .recognizer import SpeechRecognizer
from .detectors import CODES_PER_SECOND, Thresholds
from .synthesizer import Synthesizer

log = logging.getLogger(__name__)


def codec_device(requested: str, key: str = "codec.device") -> str:
    """'auto' means CUDA when torch sees a GPU, else the CPU; CodecError when 'cuda' can't be had."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise CodecError(f"{key} is 'cuda' but torch sees no CUDA GPU (a CPU-only torch, or no driver); "
                         f"set {key} to 'auto' or 'cpu'")
    return requested


def llm_options(config: Config) -> LoadOptions:
    c = config.llm
    return LoadOptions(
        n_gpu_layers=c.n_gpu_layers, n_ctx=c.n_ctx, n_batch=c.n_batch, n_ubatch=c.n_ubatch,
        n_threads=c.n_threads, flash_attn=c.flash_attn, lora_path=c.lora_path,
    )


def default_sampling(config: Config) -> Sampling:
    s = config.sampling
    return Sampling(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k,
                    repeat_penalty=s.repeat_penalty, max_tokens=s.max_tokens, seed=s.seed)


def load_synthesizer(config: Config) -> Synthesizer:
    """Load both models once; ModelError / CodecError explain what is missing."""
    # A wrong codec device or a missing codec folder fails now, not after minutes of LLM loading.
    device = codec_device(config.codec.device)
    if Path(config.codec.source).is_absolute():  # a folder (the config made it absolute), not a hub id
        locate_checkpoint(config.codec.source)
    llm = make_backend(config)
    codec = SpeechCodec.load(
        config.codec.source,
        device=device,
        dtype=config.codec.dtype,
        local_files_only=config.codec.local_files_only,
        batch_streams=llm.capacity != 1,  # many lanes (a pool reads 0 until its servers answer)
    )
    q = config.quality
    thresholds = Thresholds(max_inner_silence_s=q.max_inner_silence_s, fastest_morae_per_s=q.fastest_morae_per_s,
                            slowest_morae_per_s=q.slowest_morae_per_s) if q.enabled else None
    return Synthesizer(llm, codec, captions=config.llm.uses_captions, instruction=config.llm.instruction,
                       retries=q.retries, hold_codes=round(q.hold_seconds * CODES_PER_SECOND), thresholds=thresholds)


def make_backend(config: Config) -> GenerationBackend:
    """The generation backend that backend.kind names, ready to generate (one branch per kind).

    Remote kinds tokenize locally and reach their servers through an EndpointPool: an endpoint
    that is down is logged and retried; BackendError when none answers.
    """
    kind = config.backend.kind
    if kind == "llama-cpp":
        return LlasaModel.load(config.llm.model_path, llm_options(config))
    if kind == "llama-server":
        tokenizer = GgufTokenizer.load(config.llm.model_path)
        return _started_pool([LlamaServerBackend(url, tokenizer, slots=config.backend.slots, timeouts=_timeouts(config))
                              for url in config.backend.endpoints])
    if kind == "vllm":
        assert config.backend.tokenizer is not None  # config validation requires it for vllm
        hf_tokenizer = HfTokenizer.load(config.backend.tokenizer)
        return _started_pool([VllmBackend(url, hf_tokenizer, slots=config.backend.slots, model=config.backend.model,
                                          timeouts=_timeouts(config))
                              for url in config.backend.endpoints])
    raise AssertionError(f"unhandled backend kind {kind!r}")  # config validation lists the kinds


def _timeouts(config: Config) -> Timeouts:
    b = config.backend
    return Timeouts(connect_s=b.connect_timeout, read_s=b.read_timeout, probe_s=b.connect_timeout)


def _started_pool(backends: list[EndpointBackend]) -> EndpointPool:
    pool = EndpointPool(backends)
    pool.start()
    log.info("speech servers in service: %s of %s (%d slots)", len(pool.live()), len(pool.endpoints), pool.capacity)
    return pool


def load_recognizer(config: Config) -> SpeechRecognizer | None:
    """The speech recogniser when recognition is enabled and its model loads; else None, said once in the log."""
    settings = config.recognition
    if not settings.enabled:
        return None
    try:
        device = codec_device(settings.device, "recognition.device")
        recognizer = SpeechRecognizer.load(settings.model, device=device)
    except Exception as error:  # noqa: BLE001 - an optional feature that cannot load must not stop the bot
        log.warning("speech recognition is off: %s", error)
        return None
    log.info("speech recognition: %s on %s (takes are checked; /voice clone transcribes clips)", settings.model, device)
    return recognizer


def verify_takes(synthesizer: Synthesizer, recognizer: SpeechRecognizer, max_cer: float) -> None:
    """Add speech recognition to the checks every take must pass (best of N by reading CER).

    Called after both are loaded: the recogniser loads last, so an optional model can never take
    the memory the required ones need, and it is added before any request is served."""
    from .verify import RecognitionCheck

    synthesizer.checks = (*synthesizer.checks, RecognitionCheck(recognizer, max_cer))
