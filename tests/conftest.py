"""Shared fixtures: tiny real models made once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_llasa import write_tiny_llasa


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight Llasa GGUF with the real vocabulary layout."""
    return write_tiny_llasa(tmp_path_factory.mktemp("llm") / "tiny-llasa.gguf")


@pytest.fixture(scope="session")
def tiny_gguf_that_ends(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llasa that says END after ~8 codes on average (temperature 1)."""
    return write_tiny_llasa(tmp_path_factory.mktemp("llm") / "tiny-llasa-ends.gguf", end_logit=9.0)


@pytest.fixture(scope="session")
def tiny_codec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight Anime-XCodec2-44.1kHz-shaped checkpoint folder (decoder + upsampler)."""
    from tests.tiny_codec import decoder_state, package_decoder, upsampler_modules, upsampler_state, write_checkpoint

    generator, fc_post_a = package_decoder(hidden=128, depth=1, heads=4, hop=98)
    state = decoder_state(generator, fc_post_a) | upsampler_state(upsampler_modules(128, [3, 3], [9, 9]))
    config = {"sample_rate": 44100, "hop_length": 98, "upsample_factors": [3, 3],
              "upsample_kernel_sizes": [9, 9], "heads": 4}
    return write_checkpoint(tmp_path_factory.mktemp("codec44k"), state, config)


@pytest.fixture(scope="session")
def tiny_synthesizer(tiny_llm, tiny_codec_dir: Path):
    """The real synthesizer on the tiny GGUF and the tiny 44.1 kHz codec."""
    from bot.speech.codec import SpeechCodec
    from bot.speech.synthesizer import Synthesizer

    return Synthesizer(tiny_llm, SpeechCodec.load(str(tiny_codec_dir)), captions=True)


@pytest.fixture(scope="session")
def tiny_llm(tiny_gguf: Path):
    from bot.speech.llm import LlasaModel, LoadOptions

    return LlasaModel.load(tiny_gguf, LoadOptions(n_gpu_layers=0, n_ctx=4096, n_threads=2))


from tests.fakediscord.fixtures import fake_discord  # noqa: E402,F401  (shared fixture)
