"""The XCodec2 codec: our decoder equals the xcodec2 package's, streams without clicks, encodes.

Everything runs on tiny random checkpoints built offline (tests/tiny_codec.py).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bot.speech.codec import (
    STREAM_FADE,
    STREAM_LOOKAHEAD,
    STREAM_MIN_STEP,
    CodecError,
    CodecStream,
    SpeechCodec,
    import_xcodec2,
)
from bot.speech.xcodec2_decoder import DecoderShape, XCodec2Decoder, infer_shape, prepare_state
from tests.tiny_codec import (
    TINY_HEADS,
    decoder_state,
    encoder_state,
    offline_w2v_bert,
    package_decode,
    package_decoder,
    random_codes,
    reference_decode_44k,
    upsampler_modules,
    upsampler_state,
    write_checkpoint,
)

CONFIG_44K = {
    "sample_rate": 44100,
    "hop_length": 98,
    "upsample_factors": [3, 3],
    "upsample_kernel_sizes": [9, 9],
}


def snr_db(signal: np.ndarray, reference: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / np.sum((signal - reference) ** 2)))


@pytest.fixture(scope="module")
def tiny(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[SpeechCodec, torch.nn.Module, torch.nn.Linear]:
    """A tiny 16 kHz checkpoint with encoder weights, loaded, and the package modules it holds."""
    generator, fc_post_a = package_decoder(depth=2)
    state = decoder_state(generator, fc_post_a) | encoder_state()
    folder = write_checkpoint(tmp_path_factory.mktemp("xcodec2"), state, {"heads": TINY_HEADS})
    return SpeechCodec.load(folder), generator, fc_post_a


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("depth", [1, 2])
def test_decode_equals_the_package_decode_code(tmp_path: Path, depth: int) -> None:
    generator, fc_post_a = package_decoder(depth=depth, seed=depth)
    folder = write_checkpoint(tmp_path, decoder_state(generator, fc_post_a), {"heads": TINY_HEADS})
    codec = SpeechCodec.load(folder)
    codes = random_codes(137, seed=depth)

    audio = codec.decode(codes)

    expected = package_decode(generator, fc_post_a, torch.from_numpy(codes)[None])[0].numpy()
    assert audio.dtype == np.float32 and audio.shape == (137 * 320,)
    assert np.abs(audio - expected).max() <= 1e-5
    assert (codec.sample_rate, codec.samples_per_code) == (16000, 320)


def test_decoding_never_builds_the_semantic_model(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    modeling = import_xcodec2()

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("decoding must not load w2v-BERT")

    monkeypatch.setattr(modeling.Wav2Vec2BertModel, "from_pretrained", refuse)
    codec, _, _ = tiny
    assert len(codec.decode(random_codes(10))) == 3200
    assert "torchaudio" not in sys.modules  # the import stub is gone again


@pytest.mark.parametrize("weight_norm_style", ["parametrizations", "weight_g"])
def test_44k_checkpoint_decodes_882_samples_per_code(tmp_path: Path, weight_norm_style: str) -> None:
    generator, fc_post_a = package_decoder(hidden=128, depth=1, hop=98)
    upsampler = upsampler_modules(128, [3, 3], [9, 9])
    state = decoder_state(generator, fc_post_a) | upsampler_state(upsampler, weight_norm_style)
    # Stored as the 44.1 kHz checkpoint stores LayerNorm biases: under `.beta`.
    norm_bias = "generator.backbone.final_layer_norm"
    state[f"{norm_bias}.beta"] = state.pop(f"{norm_bias}.bias")
    codec = SpeechCodec.load(write_checkpoint(tmp_path, state, CONFIG_44K | {"heads": TINY_HEADS}))
    codes = random_codes(40)

    audio = codec.decode(codes)

    batch = torch.from_numpy(codes)[None]
    expected = reference_decode_44k(generator, fc_post_a, upsampler, batch)[0].numpy()
    assert (codec.sample_rate, codec.samples_per_code) == (44100, 882)
    assert audio.shape == (40 * 882,)
    assert np.abs(audio - expected).max() <= 1e-5


def test_sizes_come_from_the_checkpoint_shapes() -> None:
    def shapes_of(shape: DecoderShape) -> dict[str, torch.Tensor]:
        """Empty (meta) tensors under the checkpoint's names; fc_post_a sits beside generator."""
        with torch.device("meta"):
            state = XCodec2Decoder(shape).state_dict()
        return {k if k.startswith("fc_post_a.") else f"generator.{k}": v for k, v in state.items()}

    full = DecoderShape(1024, 2048, 8, 12, 16, 2, 2, 320, (), (), 16000)
    variant = DecoderShape(1024, 2048, 8, 12, 16, 2, 2, 98, (3, 3), (9, 9), 44100)

    assert infer_shape(prepare_state(shapes_of(full)), {}) == full
    assert infer_shape(prepare_state(shapes_of(variant)), CONFIG_44K) == variant


@pytest.mark.parametrize(
    "codes",
    [[], [-1, 5], [65536], [1.5, 2.0], [[1, 2], [3, 4]], np.zeros(0, dtype=np.int64)],
    ids=["empty", "negative", "too-large", "fraction", "2-d", "empty-array"],
)
def test_decode_rejects_bad_codes(tiny, codes: object) -> None:
    codec, _, _ = tiny
    with pytest.raises(CodecError):
        codec.decode(codes)  # type: ignore[arg-type]


def test_decode_accepts_the_package_layout(tiny) -> None:
    codec, _, _ = tiny
    codes = random_codes(12)
    package_layout = torch.from_numpy(codes)[None, None]  # [B, 1, T], as decode_code takes
    assert np.array_equal(codec.decode(package_layout), codec.decode(codes.tolist()))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_reduced_precision_on_cpu_stays_close_and_warns_it_is_slow(
    tiny, tmp_path: Path, dtype: str, caplog: pytest.LogCaptureFixture
) -> None:
    codec, generator, fc_post_a = tiny
    folder = write_checkpoint(tmp_path, decoder_state(generator, fc_post_a), {"heads": TINY_HEADS})
    codes = random_codes(100)

    with caplog.at_level(logging.WARNING, logger="bot.speech.codec"):
        audio = SpeechCodec.load(folder, dtype=dtype).decode(codes)

    assert audio.dtype == np.float32
    assert snr_db(audio, codec.decode(codes)) > 25
    assert [r.getMessage() for r in caplog.records] == [
        f"codec dtype {dtype} on CPU works but is much slower than float32"
    ]


def test_float32_on_cpu_loads_without_a_warning(
    tiny, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, generator, fc_post_a = tiny
    folder = write_checkpoint(tmp_path, decoder_state(generator, fc_post_a), {"heads": TINY_HEADS})

    with caplog.at_level(logging.WARNING, logger="bot.speech.codec"):
        SpeechCodec.load(folder, dtype="float32")

    assert caplog.records == []


# --------------------------------------------------------------------------- loading


def test_load_errors_are_plain_codec_errors(tmp_path: Path) -> None:
    with pytest.raises(CodecError, match="not found"):
        SpeechCodec.load(tmp_path / "missing")
    with pytest.raises(CodecError, match="no .safetensors"):
        SpeechCodec.load(tmp_path)
    with pytest.raises(CodecError, match="hub"):
        SpeechCodec.load("nobody-here/no-such-codec", local_files_only=True)
    with pytest.raises(CodecError, match="not a usable XCodec2"):
        other = write_checkpoint(tmp_path / "other", {"encoder.weight": torch.zeros(2, 2)})
        SpeechCodec.load(other)
    with pytest.raises(CodecError, match="dtype"):
        SpeechCodec.load(tmp_path, dtype="float8")


def test_upsampler_without_factors_in_config_is_refused(tmp_path: Path) -> None:
    generator, fc_post_a = package_decoder(hidden=128, depth=1, hop=98)
    upsampler = upsampler_modules(128, [3, 3], [9, 9])
    state = decoder_state(generator, fc_post_a) | upsampler_state(upsampler)
    with pytest.raises(CodecError, match="upsample_factors"):
        SpeechCodec.load(write_checkpoint(tmp_path, state, {"sample_rate": 44100}))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_is_a_codec_error(tmp_path: Path) -> None:
    with pytest.raises(CodecError, match="CUDA"):
        SpeechCodec.load(tmp_path, device="cuda")


# --------------------------------------------------------------------------- streaming


def stream_in(stream: CodecStream, codes: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """Push codes in chunks of the given sizes (cycled), then finish; every output in order."""
    outputs, start, i = [], 0, 0
    while start < len(codes):
        size = sizes[i % len(sizes)]
        outputs.append(stream.push(codes[start : start + size]))
        start, i = start + size, i + 1
    outputs.append(stream.finish())
    return outputs


def test_stream_of_uneven_pushes_matches_one_shot_decode(tiny) -> None:
    codec, _, _ = tiny
    codes = random_codes(400, seed=5)

    outputs = stream_in(codec.stream(), codes, [1, 7, 100, 1, 7, 25])

    streamed, one_shot = np.concatenate(outputs), codec.decode(codes)
    assert len(streamed) == 400 * 320
    # Random weights attend evenly over the whole window, the worst case for any windowing:
    # here 13-15 dB (a prefix decode of 300 of these 400 codes reaches only 21 dB).
    assert snr_db(streamed, one_shot) > 10


def test_stream_gives_audio_from_the_first_half_second_of_codes(tiny) -> None:
    codec, _, _ = tiny
    stream, codes = codec.stream(), random_codes(50)

    first = stream.push(codes[:25])  # the synthesizer hands over 25 codes at a time

    assert len(first) > 0 and len(first) % codec.samples_per_code == 0
    assert STREAM_LOOKAHEAD + STREAM_FADE + STREAM_MIN_STEP <= 25


def test_stream_joins_are_no_louder_than_the_signal(tiny) -> None:
    codec, _, _ = tiny
    codes = random_codes(300, seed=9)
    outputs = stream_in(codec.stream(), codes, [25])
    streamed = np.concatenate(outputs)
    joins = np.cumsum([len(o) for o in outputs if len(o)])[:-1]

    jumps = np.abs(streamed[joins] - streamed[joins - 1])

    assert jumps.max() <= np.abs(np.diff(codec.decode(codes))).max()


def test_cross_fade_removes_the_click_between_disagreeing_windows() -> None:
    """Each window decodes a sine with its own gain and phase error; the joins stay smooth."""
    spc, rate, freq = 320, 16000, 200.0
    rng, gains = np.random.default_rng(0), []

    def disagreeing_window(codes: np.ndarray) -> np.ndarray:
        t = (codes[0] * spc + np.arange(len(codes) * spc)) / rate  # codes are their own index
        gains.append(1 + 0.3 * rng.standard_normal())
        phase = 0.3 * rng.standard_normal()
        return (gains[-1] * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)

    outputs = stream_in(CodecStream(disagreeing_window, spc), np.arange(300), [25])
    streamed = np.concatenate(outputs)

    assert len(streamed) == 300 * spc
    largest_natural_step = max(gains) * 2 * np.pi * freq / rate
    assert np.abs(np.diff(streamed)).max() < 1.1 * largest_natural_step


def test_stream_edges(tiny) -> None:
    codec, _, _ = tiny
    empty = codec.stream()
    assert len(empty.push([])) == 0 and len(empty.finish()) == 0

    short = codec.stream()
    assert len(short.push([1, 2, 3])) == 0
    assert len(short.finish()) == 3 * 320
    assert len(short.finish()) == 0
    with pytest.raises(RuntimeError):
        short.push([4])
    with pytest.raises(CodecError):
        codec.stream().push([70000])


# --------------------------------------------------------------------------- encoding


@pytest.fixture(scope="module")
def offline_encoder() -> object:
    """XCodec2Model's hub downloads replaced by small local models for this module's tests."""
    patcher = pytest.MonkeyPatch()
    offline_w2v_bert(patcher)
    yield
    patcher.undo()


def voice_like(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    tremolo = 1 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.3 * np.sin(2 * np.pi * 220 * t) * tremolo).astype(np.float32)


def test_encode_gives_fifty_codes_a_second(tiny, offline_encoder: object) -> None:
    codec, _, _ = tiny
    stereo_22k = np.stack([voice_like(2.0, 22050)] * 2, axis=1)

    codes = codec.encode(stereo_22k, 22050)

    assert codes.dtype == np.int64 and codes.shape == (32000 // 320 + 1,)
    assert codes.min() >= 0 and codes.max() < 65536
    assert len(np.unique(codes)) > 1  # the checkpoint's encoder weights were loaded
    assert len(codec.encode(voice_like(3.0, 16000), 16000, max_seconds=1.0)) == 16000 // 320 + 1


def test_encode_needs_a_checkpoint_with_an_encoder(tmp_path: Path) -> None:
    generator, fc_post_a = package_decoder()
    folder = write_checkpoint(tmp_path, decoder_state(generator, fc_post_a), {"heads": TINY_HEADS})
    with pytest.raises(CodecError, match="no encoder"):
        SpeechCodec.load(folder).encode(voice_like(1.0, 16000), 16000)


@pytest.mark.parametrize(
    ("clip", "message"),
    [
        (np.full(16000, np.nan, dtype=np.float32), "damaged"),
        (np.zeros(16000, dtype=np.float32), "silent"),
        (voice_like(0.1, 16000), "too short"),
        (np.zeros(0, dtype=np.float32), "empty"),
    ],
    ids=["nan", "silence", "0.1s", "empty"],
)
def test_encode_rejects_unusable_clips(tiny, clip: np.ndarray, message: str) -> None:
    codec, _, _ = tiny
    with pytest.raises(CodecError, match=message):
        codec.encode(clip, 16000)
