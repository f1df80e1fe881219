"""Per-guild playback: speech jobs played in order on the guild's voice connection."""
from __future__ import annotations

import asyncio
import logging
from collections import deque

import discord

from .audio.source import PlaybackStats, StreamingSpeechSource
from .speech.engine import SpeechJob

log = logging.getLogger(__name__)


class GuildPlayer:
    """Owns one voice connection and the queue of what it will say next."""

    def __init__(self, voice: discord.VoiceClient, sample_rate: int) -> None:
        self.voice = voice
        self.sample_rate = sample_rate
        self._queue: deque[SpeechJob] = deque()
        self._wakeup = asyncio.Event()
        # The item being said, from the moment it leaves the queue (while it buffers too), and its
        # audio source once it plays: skip and the queue bounds must see it all along.
        self._current: SpeechJob | None = None
        self._source: StreamingSpeechSource | None = None
        self.last_played: PlaybackStats | None = None  # of the last item, for logs and tests
        self._task = asyncio.create_task(self._play_forever(), name=f"player-{voice.guild.id}")

    @property
    def guild_id(self) -> int:
        return self.voice.guild.id

    @property
    def channel(self) -> discord.abc.Connectable:
        return self.voice.channel

    def enqueue(self, job: SpeechJob) -> None:
        self._queue.append(job)
        self._wakeup.set()

    def pending(self) -> int:
        return sum(not j.cancelled for j in self._queue) + (self._current is not None)

    def skip(self) -> bool:
        """Stop what is being said now (its generation too); the next item plays."""
        job, source = self._current, self._source
        if job is None:
            return False
        job.cancel()  # a job still buffering ends here; its _play returns at once
        if source is not None:
            source.stop()
        return True

    def clear(self) -> int:
        """Drop everything queued and stop the current item."""
        dropped = sum(not j.cancelled for j in self._queue)
        for job in self._queue:
            job.cancel()
        self._queue.clear()
        return dropped + self.skip()

    async def close(self) -> None:
        """Stop playing, cancel all work, and leave the voice channel."""
        self.clear()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        if self.voice.is_connected():
            await self.voice.disconnect(force=True)

    async def _play_forever(self) -> None:
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            job = self._queue.popleft()
            if job.cancelled:
                continue
            self._current = job
            try:
                await self._play(job)
            except discord.ClientException as exc:  # lost the connection mid-queue
                log.warning("guild %s: cannot play job %d: %s", self.guild_id, job.id, exc)
                job.cancel()
            except Exception:  # one broken item must not end the guild's playback for good
                log.exception("guild %s: playing job %d failed", self.guild_id, job.id)
                job.cancel()
            finally:
                self._current = None

    async def _play(self, job: SpeechJob) -> None:
        # Start when the audio made so far, plus what generation adds meanwhile, lasts to the end
        # (see speech.pacing): slow generation then plays late but whole, never choppy.
        await job.playable()
        if job.cancelled or not self.voice.is_connected():
            return
        source = StreamingSpeechSource(job.audio.reader(), self.sample_rate, name=f"guild {self.guild_id} job {job.id}")
        finished = asyncio.Event()
        loop = asyncio.get_running_loop()

        def after(error: Exception | None) -> None:  # runs on the player thread
            if error:
                log.error("guild %s: playback of job %d failed: %s", self.guild_id, job.id, error)
            if not loop.is_closed():  # at shutdown the player thread may outlive the loop
                loop.call_soon_threadsafe(finished.set)

        self._source = source
        try:
            self.voice.play(source, after=after, signal_type="voice", bitrate=96)
            await finished.wait()
        finally:
            self._source = None
            if self.voice.is_playing():
                self.voice.stop()
            self.last_played = source.stats()
            log.info("guild %s: played job %d: %s; started with %.2f s of audio after %d chunk(s)",
                     self.guild_id, job.id, self.last_played, job.start.opened_at_s or 0.0, job.start.opened_after_chunks)
