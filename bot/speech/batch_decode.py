"""One decode worker per device: the windows of concurrent codec streams, decoded in batched calls.

XCodec2's decoder has unmasked attention and GroupNorm over time, so padding a window would change
its audio: only windows of equal length share a call (CodecStream's exact steps make that common).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

log = logging.getLogger(__name__)

# Codes (B, T) int64 → audio (B, T · samples_per_code) float32, one call.
DecodeBatch = Callable[[np.ndarray], np.ndarray]

# How long a ready window waits for other open streams' windows (as yap-orpheus waits 5-10 ms):
# far below one window's decode time, so it costs little, and it never applies to a lone stream.
GATHER_S = 0.005
# Bounds the batch's activation memory (attention is B × heads × T² per layer).
MAX_BATCH = 16
CLOSED = "the codec was closed"


class BatchDecoder:
    """A thread that owns a decoder's calls: callers hand it a window and wait for its audio."""

    def __init__(
        self,
        decode_batch: DecodeBatch,
        *,
        gather_s: float = GATHER_S,
        max_batch: int = MAX_BATCH,
        name: str = "codec-decode",
    ) -> None:
        if max_batch < 1 or gather_s < 0:
            raise ValueError("max_batch must be at least 1 and gather_s not negative")
        self._decode_batch = decode_batch
        self._gather_s = gather_s
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._pending: list[tuple[np.ndarray, Future[np.ndarray]]] = []
        self._open_lanes = 0  # streams that may hand in a window: worth waiting for
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """The audio of one window (codes already validated), decoded with any equal-length others."""
        future: Future[np.ndarray] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError(CLOSED)
            self._pending.append((np.asarray(codes, dtype=np.int64), future))
            self._cond.notify_all()
        return future.result()

    @property
    def open_lanes(self) -> int:
        """Streams whose windows the worker may wait for."""
        with self._cond:
            return self._open_lanes

    def lane(self) -> DecodeLane:
        """A decode function for one stream; the worker waits for open lanes' windows, briefly."""
        with self._cond:
            self._open_lanes += 1
        return DecodeLane(self)

    def _close_lane(self) -> None:
        with self._cond:
            self._open_lanes -= 1
            self._cond.notify_all()

    def close(self) -> None:
        """Stop the worker once its current call is done; windows still waiting get an error."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    # ----------------------------------------------------------------- the worker thread

    def _run(self) -> None:
        while (taken := self._take()) is not None:
            for group in _equal_length_groups(taken, self._max_batch):
                self._decode_group(group)

    def _take(self) -> list[tuple[np.ndarray, Future[np.ndarray]]] | None:
        """Every window handed in, once one is and the open lanes had gather_s to join it."""
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            deadline = time.monotonic() + self._gather_s
            while not self._closed and len(self._pending) < self._open_lanes:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            taken, self._pending = self._pending, []
            if self._closed:
                for _, future in taken:
                    future.set_exception(RuntimeError(CLOSED))
                return None
            return taken

    def _decode_group(self, group: list[tuple[np.ndarray, Future[np.ndarray]]]) -> None:
        try:
            audio = self._decode_batch(np.stack([codes for codes, _ in group]))
        except Exception as error:  # noqa: BLE001 - it belongs to the callers, not to the worker
            if len(group) == 1:
                group[0][1].set_exception(error)
                return
            # A batch can fail where its windows alone would not (GPU memory): try them one by
            # one, so an error reaches only the stream whose window causes it.
            log.warning("batched decode of %d windows failed (%s); decoding them one by one", len(group), error)
            for item in group:
                self._decode_group([item])
            return
        for (_, future), row in zip(group, audio):
            future.set_result(row)


class DecodeLane:
    """One stream's way into the worker: call it with a window; close it when the stream is done."""

    def __init__(self, worker: BatchDecoder) -> None:
        self._worker = worker
        self._lock = threading.Lock()
        self._open = True

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        return self._worker.decode(codes)

    def close(self) -> None:
        """Idempotent: called by the stream's finish and again when it is collected."""
        with self._lock:
            if not self._open:
                return
            self._open = False
        self._worker._close_lane()


def _equal_length_groups(
    windows: list[tuple[np.ndarray, Future[np.ndarray]]], max_batch: int
) -> list[list[tuple[np.ndarray, Future[np.ndarray]]]]:
    """Windows grouped by length, oldest group first, each cut to at most max_batch windows."""
    by_length: dict[int, list[tuple[np.ndarray, Future[np.ndarray]]]] = {}
    for item in windows:
        by_length.setdefault(len(item[0]), []).append(item)
    return [
        group[i : i + max_batch] for group in by_length.values() for i in range(0, len(group), max_batch)
    ]
