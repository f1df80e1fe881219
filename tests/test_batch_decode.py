"""The batch decode worker: equal-length windows of concurrent streams decoded in one call.

A batched decode is not bit-identical to single decodes on CPU (matrix kernels block differently
for other row counts): the tiny random codec differs by ~1e-7, checked here to 1e-5.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import numpy as np
import pytest

from bot.speech.batch_decode import BatchDecoder
from bot.speech.codec import CodecStream, SpeechCodec
from tests.tiny_codec import TINY_HEADS, decoder_state, package_decoder, random_codes, write_checkpoint

SPC = 320
PUSH = 5  # the synthesizer's pushes
PATIENT = 3600.0  # a gather wait no test may ever sit out: the worker must stop waiting for cause


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    generator, fc_post_a = package_decoder(depth=2, seed=3)
    state = decoder_state(generator, fc_post_a)
    return write_checkpoint(tmp_path_factory.mktemp("xcodec2"), state, {"heads": TINY_HEADS})


@pytest.fixture(scope="module")
def codec(folder: Path) -> SpeechCodec:
    return SpeechCodec.load(folder)


def stream_all(stream: CodecStream, codes: np.ndarray) -> np.ndarray:
    outputs = [stream.push(codes[i : i + PUSH]) for i in range(0, len(codes), PUSH)]
    return np.concatenate(outputs + [stream.finish()])


def in_threads(*jobs) -> list[object]:
    """Run each job in its own thread; their results (or exceptions) in order."""
    results: list[object] = [None] * len(jobs)

    def run(i: int) -> None:
        try:
            results[i] = jobs[i]()
        except Exception as error:  # noqa: BLE001 - handed to the test to assert on
            # Without its traceback, so the failed job's frames (and its stream) are let go.
            results[i] = error.with_traceback(None)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    return results


def local_batch(calls: list[tuple[int, int]]):
    """A decoder whose sample for a code is code / 2^16; records each call's (batch, length);
    a window holding code 13 fails, as a window the decoder cannot take would."""

    def decode_batch(codes: np.ndarray) -> np.ndarray:
        calls.append(codes.shape)
        if (codes == 13).any():
            raise ValueError("window with code 13")
        return np.repeat(codes.astype(np.float32) / 65536, SPC, axis=1)

    return decode_batch


# --------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("batch", [2, 5])
def test_a_batched_decode_of_equal_windows_equals_each_window_alone(codec: SpeechCodec, batch: int) -> None:
    windows = [random_codes(185, seed=i) for i in range(batch)]  # the default steady-state window

    batched = codec.decode_batch(windows)

    for window, audio in zip(windows, batched):
        assert audio.shape == (185 * SPC,)
        assert np.abs(audio - codec.decode(window)).max() <= 1e-5


def test_a_batch_of_unequal_windows_is_refused(codec: SpeechCodec) -> None:
    with pytest.raises(ValueError, match="one length"):
        codec.decode_batch([random_codes(40), random_codes(41)])


def test_streams_decoded_concurrently_give_the_audio_each_gives_alone(codec: SpeechCodec) -> None:
    calls: list[tuple[int, int]] = []

    def recording(codes: np.ndarray) -> np.ndarray:
        calls.append(codes.shape)
        return np.stack(codec.decode_batch(list(codes)))

    lengths = [300, 300, 250, 120]
    codes = [random_codes(n, seed=10 + i) for i, n in enumerate(lengths)]
    alone_windows: list[int] = []

    def alone_decode(window: np.ndarray) -> np.ndarray:
        alone_windows.append(len(window))
        return codec.decode(window)

    alone = [stream_all(CodecStream(alone_decode, SPC), c) for c in codes]
    # The worker waits (without limit, in effect) until every open stream has handed in a window:
    # all streams then move in step, and each take batches one window of each.
    worker = BatchDecoder(recording, gather_s=PATIENT)
    streams = [CodecStream.through(worker, SPC) for _ in codes]

    together = in_threads(*(lambda s=s, c=c: stream_all(s, c) for s, c in zip(streams, codes)))

    worker.close()
    for mine, reference in zip(together, alone):
        assert isinstance(mine, np.ndarray) and mine.shape == reference.shape
        assert np.abs(mine - reference).max() <= 1e-5
    assert sum(b for b, _ in calls) == len(alone_windows)  # every window decoded once
    assert max(b for b, _ in calls) == 4 and len(calls) < len(alone_windows)
    assert worker.open_lanes == 0


def test_a_loaded_codec_with_batched_streams_decodes_as_the_direct_one(
    codec: SpeechCodec, folder: Path
) -> None:
    batched = SpeechCodec.load(folder, batch_streams=True)
    codes = [random_codes(160, seed=20 + i) for i in range(3)]

    together = in_threads(*(lambda c=c: stream_all(batched.stream(), c) for c in codes))
    one_shot = batched.decode(codes[0])
    batched.close()

    for mine, c in zip(together, codes):
        assert isinstance(mine, np.ndarray)
        assert np.abs(mine - stream_all(codec.stream(), c)).max() <= 1e-5
    assert np.abs(one_shot - codec.decode(codes[0])).max() <= 1e-5
    with pytest.raises(RuntimeError, match="closed"):
        batched.stream().push(codes[0])


# --------------------------------------------------------------------------- waiting, errors, close


def test_a_lone_stream_never_waits_for_the_gather_time() -> None:
    calls: list[tuple[int, int]] = []
    worker = BatchDecoder(local_batch(calls), gather_s=PATIENT)
    codes = np.arange(200) * 7 + 20

    # Were the worker to wait for company, this would sit out an hour per window.
    [audio] = in_threads(lambda: stream_all(CodecStream.through(worker, SPC), codes))
    [one_shot] = in_threads(lambda: worker.decode(codes[:30]))

    worker.close()
    np.testing.assert_allclose(audio, np.repeat(codes / 65536, SPC), rtol=0, atol=1e-6)
    assert len(one_shot) == 30 * SPC
    assert all(batch == 1 for batch, _ in calls)


def test_a_decode_error_reaches_only_the_stream_whose_window_caused_it() -> None:
    calls: list[tuple[int, int]] = []
    worker = BatchDecoder(local_batch(calls), gather_s=PATIENT)
    good, bad = np.arange(100) + 100, np.arange(100) + 10  # bad's first window holds code 13

    # Both open before either pushes, so their first windows share a take. Each is held only by
    # its thread: the bad one is dropped unfinished when its push fails, as the synthesizer drops
    # a failed take's stream, and its lane must close so the worker stops waiting for it.
    streams = {"good": CodecStream.through(worker, SPC), "bad": CodecStream.through(worker, SPC)}

    good_audio, bad_error = in_threads(
        lambda: stream_all(streams.pop("good"), good), lambda: stream_all(streams.pop("bad"), bad)
    )
    gc.collect()

    assert isinstance(bad_error, ValueError) and str(bad_error) == "window with code 13"
    assert isinstance(good_audio, np.ndarray)
    np.testing.assert_allclose(good_audio, np.repeat(good / 65536, SPC), rtol=0, atol=1e-6)
    assert calls[:3] == [(2, 25), (1, 25), (1, 25)]  # the pair failed; then each alone
    assert worker.open_lanes == 0
    assert len(worker.decode(np.arange(40) + 100)) == 40 * SPC  # the worker lives on
    worker.close()


def test_close_finishes_the_call_in_flight_fails_the_waiting_windows_and_stops_the_worker() -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[tuple[int, int]] = []
    decode = local_batch(calls)

    def slow_first(codes: np.ndarray) -> np.ndarray:
        if not started.is_set():
            started.set()
            release.wait(timeout=300)
        return decode(codes)

    worker = BatchDecoder(slow_first, gather_s=PATIENT, name="codec-decode-close-test")
    in_flight: list[object] = []
    busy = threading.Thread(target=lambda: in_flight.append(worker.decode(np.arange(8))))
    busy.start()
    assert started.wait(timeout=300)
    lanes = [worker.lane(), worker.lane()]  # one hands in a window; the worker waits for the other

    def close_then_release() -> None:
        closer = threading.Thread(target=worker.close)
        closer.start()
        release.set()
        closer.join(timeout=300)

    waiting, _ = in_threads(lambda: lanes[0](np.arange(12)), close_then_release)
    busy.join(timeout=300)

    assert len(in_flight) == 1 and len(in_flight[0]) == 8 * SPC
    assert isinstance(waiting, RuntimeError) and str(waiting) == "the codec was closed"
    assert calls == [(1, 8)]
    with pytest.raises(RuntimeError, match="closed"):
        worker.decode(np.arange(8))
    assert "codec-decode-close-test" not in [t.name for t in threading.enumerate()]
