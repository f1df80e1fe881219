"""The XCodec2 codec: our decoder equals the xcodec2 package's, streams without clicks, encodes.

Everything runs on tiny random checkpoints built offline (tests/tiny_codec.py).
"""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.speech.codec import (
    DEFAULT_SCHEDULE,
    CodecError,
    CodecStream,
    SpeechCodec,
    StreamSchedule,
    import_xcodec2,
)
from bot.speech.xcodec2_decoder import DecoderShape, XCodec2Decoder, infer_shape, prepare_state
from tests.tiny_codec import (
    TINY_HEADS,
    cached_w2v_bert,
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
    # here 9.7 dB (the schedule before exact steps: 9.9 dB with the synthesizer's 5-code pushes;
    # a prefix decode of 300 of these 400 codes reaches only 21 dB).
    assert snr_db(streamed, one_shot) > 9
    # Windows release exact steps, so how the codes were pushed changes nothing.
    assert np.array_equal(streamed, np.concatenate(stream_in(codec.stream(), codes, [5])))


def test_stream_gives_audio_from_the_first_half_second_of_codes(tiny) -> None:
    codec, _, _ = tiny
    stream, codes = codec.stream(), random_codes(50)

    first = stream.push(codes[:25])  # the synthesizer hands over 25 codes at a time

    assert len(first) > 0 and len(first) % codec.samples_per_code == 0
    assert DEFAULT_SCHEDULE.first_audio_codes <= 25


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


def local_decode(spc: int):
    """A decoder whose audio for a code never depends on its neighbours (sample = code / 2^16),
    so any windowing of it must give back exactly the one-shot audio."""

    def decode_window(codes: np.ndarray) -> np.ndarray:
        return np.repeat(codes.astype(np.float32) / 65536, spc)

    return decode_window


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(0, 400),
    pushes=st.lists(st.integers(1, 120), min_size=1, max_size=8),
    context=st.integers(0, 60),
    lookahead=st.integers(0, 30),
    fade=st.integers(1, 8),
    first_extra=st.integers(0, 20),
    growth=st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0]),
    max_extra=st.integers(0, 150),
)
def test_every_sample_comes_out_once_in_order_for_any_schedule_and_pushes(
    n, pushes, context, lookahead, fade, first_extra, growth, max_extra
) -> None:
    spc = 4
    schedule = StreamSchedule(
        context, lookahead, fade, fade + first_extra, growth, fade + first_extra + max_extra
    )
    codes = np.arange(n) * 163 % 65536

    outputs = stream_in(CodecStream(local_decode(spc), spc, schedule), codes, pushes)

    streamed = np.concatenate(outputs)
    assert len(streamed) == n * spc
    np.testing.assert_allclose(streamed, np.repeat(codes / 65536, spc), rtol=0, atol=1e-6)


@pytest.mark.parametrize("n", [25, 50, 75, 100, 150, 250, 500, 1000, 1500])
def test_streaming_decodes_under_twice_the_codes_of_a_one_shot_decode(n: int) -> None:
    stream = CodecStream(local_decode(1), 1)

    stream_in(stream, np.arange(n), [25])

    # Decoder time is close to linear in window length, so this bounds the cost of streaming:
    # under 2x from 10 s of speech on (the old schedule: 5.2x), under 2.75x for short messages,
    # whose first small windows must be decoded again with what follows them. Windows release
    # exact steps, so this holds for any pushes (before, the synthesizer's 5-code pushes cost the
    # same; only 25-code pushes cost less, by releasing more than a step per window).
    assert stream.decoded_codes <= (2.0 if n >= 500 else 2.75) * n


def test_windows_start_small_grow_with_the_audio_out_then_keep_one_length() -> None:
    sizes: list[int] = []
    decode = local_decode(1)

    def recording(codes: np.ndarray) -> np.ndarray:
        sizes.append(len(codes))
        return decode(codes)

    schedule = StreamSchedule(context=50, lookahead=12, fade=4, first_step=9, growth=0.5, max_step=100)
    outputs = stream_in(CodecStream(recording, 1, schedule), np.arange(1000), [25])

    assert len(outputs[0]) == 25 - 12 - 4  # the first push already gives audio
    # Every window but the last (finish) releases exactly step_after(released), so every stream
    # walks this one ladder of window lengths, whatever its pushes: concurrent streams on the same
    # rung can share a batched decode, and from max_step on all windows have one length.
    ladder, released = [], 0
    while released + schedule.step_after(released) + 16 <= 1000:
        step = schedule.step_after(released)
        assert step >= min(100, released // 2)  # at least half the audio already out
        ladder.append(min(50, released) + step + 16)
        released += step
    assert sizes[:-1] == ladder
    assert ladder[-3:] == [50 + 100 + 16] * 3


def test_a_schedule_with_impossible_sizes_is_refused() -> None:
    with pytest.raises(ValueError):
        StreamSchedule(fade=0)
    with pytest.raises(ValueError):
        StreamSchedule(first_step=5, fade=6)
    with pytest.raises(ValueError):
        StreamSchedule(first_step=20, max_step=10)


# --------------------------------------------------------------------------- encoding


@pytest.fixture(scope="module")
def offline_encoder(tmp_path_factory: pytest.TempPathFactory) -> object:
    """w2v-BERT in a local Hugging Face cache (as `download` leaves it), read as a small model."""
    patcher = pytest.MonkeyPatch()
    offline_w2v_bert(patcher, cached_w2v_bert(tmp_path_factory.mktemp("hf-cache")))
    yield
    patcher.undo()


def voice_like(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    tremolo = 1 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.3 * np.sin(2 * np.pi * 220 * t) * tremolo).astype(np.float32)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every attempt to open a connection, refused and recorded."""
    attempts: list[object] = []

    def refuse(_socket: socket.socket, address: object, *_args: object) -> None:
        attempts.append(address)
        raise OSError("no network in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def test_encode_gives_fifty_codes_a_second(
    tiny, offline_encoder: object, no_network: list[object]
) -> None:
    codec, _, _ = tiny
    stereo_22k = np.stack([voice_like(2.0, 22050)] * 2, axis=1)

    codes = codec.encode(stereo_22k, 22050)

    assert codes.dtype == np.int64 and codes.shape == (32000 // 320 + 1,)
    assert codes.min() >= 0 and codes.max() < 65536
    assert len(np.unique(codes)) > 1  # the checkpoint's encoder weights were loaded
    assert len(codec.encode(voice_like(3.0, 16000), 16000, max_seconds=1.0)) == 16000 // 320 + 1
    assert no_network == []


@pytest.mark.parametrize("local_files_only", [True, False])
def test_cloning_without_the_downloaded_speech_model_fails_once_fast_and_offline(
    tiny,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_network: list[object],
    local_files_only: bool,
) -> None:
    import huggingface_hub

    _, generator, fc_post_a = tiny
    state = decoder_state(generator, fc_post_a) | encoder_state()
    folder = write_checkpoint(tmp_path / "codec", state, {"heads": TINY_HEADS})
    codec = SpeechCodec.load(folder, local_files_only=local_files_only)
    empty_cache = tmp_path / "hf-cache"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(empty_cache))
    lookups: list[str] = []
    real_snapshot_download = huggingface_hub.snapshot_download

    def counted(repo_id: str, **kwargs: object) -> str:
        lookups.append(repo_id)
        return real_snapshot_download(repo_id, **kwargs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", counted)

    with pytest.raises(CodecError, match="scripts/run-bot download") as first:
        codec.encode(voice_like(1.0, 16000), 16000)
    # Even once the files are there, the codec does not search again per clip: restart it.
    offline_w2v_bert(monkeypatch, cached_w2v_bert(empty_cache))
    with pytest.raises(CodecError) as second:
        codec.encode(voice_like(1.0, 16000), 16000)

    assert "w2v-bert-2.0 is not downloaded" in str(first.value)
    assert str(second.value) == str(first.value)
    assert lookups == ["facebook/w2v-bert-2.0"]
    assert no_network == []


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
