"""One job's audio while it is generated: kept once, read by any number of players."""
from __future__ import annotations

import numpy as np


class AudioFeed:
    """Append-only float32 chunks and an end mark; written by one thread, read from any.

    Safe without a lock: readers take a snapshot of the list and read `ended` before it, so a
    reader that sees the end has seen every chunk.
    """

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._ended = False

    @property
    def ended(self) -> bool:
        return self._ended

    def append(self, chunk: np.ndarray) -> None:
        self._chunks.append(chunk)

    def end(self) -> None:
        self._ended = True

    def reader(self) -> FeedReader:
        """A cursor that starts at the first chunk."""
        return FeedReader(self)

    def samples(self) -> np.ndarray:
        """All audio so far as one array; the chunks then become views of it, so it is held once."""
        chunks = self._chunks
        whole = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        views, start = [], 0
        for chunk in chunks:
            views.append(whole[start:start + len(chunk)])
            start += len(chunk)
        self._chunks = views  # same positions: readers' cursors stay valid
        return whole


class FeedReader:
    """Where one reader is in a feed."""

    def __init__(self, feed: AudioFeed) -> None:
        self._feed = feed
        self._position = 0

    def take(self) -> tuple[list[np.ndarray], bool]:
        """The chunks not read yet (never blocks), and whether the feed has ended after them."""
        ended = self._feed.ended
        chunks = self._feed._chunks
        new = chunks[self._position:]
        self._position += len(new)
        return new, ended
