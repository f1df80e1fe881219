"""The bot end to end on real serving engines: fake Discord ↔ bot ↔ engine lanes ↔ llama-server or vLLM ↔ XCodec2.

The speech stack is what the product loads from `[backend] kind = "llama-server"` or `"vllm"`
(bot.speech.loader), with tiny models served by real llama-server and `vllm serve` processes and the
tiny codec on its batch worker.
Its backend is wrapped in a `Tap` that counts the codes each guild's generations yield and can hold a
guild's generation after a given code, so "both at once" and "mid-stream" are facts, not timings.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path

import pytest

from bot.config import load_config
from bot.i18n import text
from bot.speech.backends.base import BackendError
from bot.speech.capacity import Admission
from bot.speech.engine import JobCancelled
from bot.speech.llm import CodeGeneration, Sampling
from bot.speech.loader import load_synthesizer
from bot.speech.synthesizer import Synthesizer
from tests.backends.conftest import llama_server, make_llama_server  # noqa: F401  (fixtures)
from tests.backends.llama_server_process import LlamaServer
from tests.backends.vllm_server import (  # noqa: F401  (fixtures)
    MAX_NUM_SEQS, VllmServer, tiny_hf_llasa, tiny_hf_llasa_that_ends, vllm_servers,
)
from tests.e2e.harness import running_bot
from tests.fakediscord import FakeDiscord, FakeGuild

# Starting vLLM on two busy cores takes minutes: the first vLLM test waits for the servers.
pytestmark = pytest.mark.timeout(1500)

HOLD_LIMIT_S = 120  # bounds on a hung test, not speed requirements
WAIT_LIMIT_S = 120
HELD_AT = 20  # codes a held generation has yielded when it stops to wait
# Codes per message: short, as the tiny GGUF makes ~15 codes/s on a busy 2-core machine.
SHORT = Sampling(max_tokens=60)
# Every stream the backend can run is admitted at once, whatever this machine's measured speed.
ALL_LANES = Admission(start=64, floor=0.0)


class Tap:
    """The loaded generation backend, observed: codes yielded per affinity key (guild lane), how many
    generations were open at once; `hold(lane)` parks that lane's next generation after HELD_AT codes."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.vocab = backend.vocab
        self.codes: Counter[Hashable] = Counter()
        self.open = 0
        self.most_open = 0
        self._holds: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return self.backend.capacity

    def tokenize_text(self, text: str) -> list[int]:
        return self.backend.tokenize_text(text)

    def close(self) -> None:
        self.backend.close()

    def hold(self, lane: Hashable) -> threading.Event:
        """Park lane's next generation after HELD_AT codes until the returned event is set."""
        release = threading.Event()
        with self._lock:
            self._holds[lane] = release
        return release

    def generate(self, prompt: Sequence[int], sampling: Sampling, *, should_stop: Callable[[], bool] = lambda: False,
                 affinity: Hashable | None = None) -> CodeGeneration:
        generation = self.backend.generate(prompt, sampling, should_stop=should_stop, affinity=affinity)
        generation._codes = self._observed(generation._codes, affinity)  # as EndpointPool does
        return generation

    def _observed(self, codes: Iterator[int], lane: Hashable) -> Iterator[int]:
        with self._lock:
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        try:
            count = 0
            for code in codes:
                count += 1
                with self._lock:
                    self.codes[lane] += 1
                yield code
                if count == HELD_AT:
                    with self._lock:
                        release = self._holds.pop(lane, None)
                    if release is not None and not release.wait(HOLD_LIMIT_S):
                        raise AssertionError(f"lane {lane} was held for {HOLD_LIMIT_S} s and never released")
        finally:
            with self._lock:
                self.open -= 1


def served_synthesizer(tmp_path: Path, gguf: Path, codec_dir: Path, backend: str) -> tuple[Synthesizer, Tap]:
    """The speech stack as the product loads it from a config with this [backend] table."""
    config = tmp_path / "config.toml"
    # The take checks are off: the tiny random models do not speak (a "too short" take would be made
    # again), and what is tested here is serving, with code counts exact.
    config.write_text(f'[llm]\nmodel_path = "{gguf}"\ncaptions = "yes"\n[quality]\nenabled = false\n'
                      f'[codec]\nsource = "{codec_dir}"\ndevice = "cpu"\n[backend]\n{backend}', encoding="utf-8")
    synthesizer = load_synthesizer(load_config(config))
    tap = Tap(synthesizer.llm)
    synthesizer.llm = tap
    return synthesizer, tap


def llama_server_table(*servers: LlamaServer) -> str:
    return 'kind = "llama-server"\nendpoints = [' + ", ".join(f'"{s.url}"' for s in servers) + "]\n"


def vllm_table(model: Path, *servers: VllmServer) -> str:
    return (f'kind = "vllm"\nslots = {MAX_NUM_SEQS}\ntokenizer = "{model}"\n'
            'endpoints = [' + ", ".join(f'"{s.url}"' for s in servers) + "]\n")


def close_synthesizer(synthesizer: Synthesizer) -> None:
    synthesizer.llm.close()
    synthesizer.codec.close()


@pytest.fixture(scope="module", params=["llama-server", "vllm"])
def served(request, tiny_gguf, tiny_codec_dir, tmp_path_factory) -> Iterator[tuple[Synthesizer, Tap]]:
    """The bot's speech stack on one real server of each kind (vLLM: the model that never ends by itself)."""
    if request.param == "llama-server":
        backend = llama_server_table(request.getfixturevalue("llama_server"))
    else:
        backend = vllm_table(request.getfixturevalue("tiny_hf_llasa"), request.getfixturevalue("vllm_servers")[0])
    synthesizer, tap = served_synthesizer(tmp_path_factory.mktemp("served"), tiny_gguf, tiny_codec_dir, backend)
    yield synthesizer, tap
    close_synthesizer(synthesizer)


def lane(guild: FakeGuild) -> tuple[str, int]:
    return ("guild", guild.id)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for a condition that worker threads make true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_S
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"waited {WAIT_LIMIT_S} s for {what}")
        await asyncio.sleep(0.01)


async def join_voice(fake: FakeDiscord, guild: FakeGuild) -> None:
    await (await fake.send_interaction("join", user="alice", guild=guild)).wait_reply()
    await fake.voice[guild].wait_connected()


async def speak(fake: FakeDiscord, bot, guild: FakeGuild, text: str):
    """Post text in the guild's read-aloud channel; the bot's speech job for it."""
    message = await fake.send_message(text, author="bob", channel=guild.text)
    reader = bot.get_cog("ReadAloudCog")
    await until(lambda: message.id in reader.spoken, f"the bot to queue message {message.id}")
    return reader.spoken[message.id][1]


async def test_two_guilds_are_spoken_at_once_through_the_server(served, tmp_path):
    synthesizer, tap = served
    async with FakeDiscord(guilds=2) as fake:
        first, second = fake.guilds
        async with running_bot(fake, synthesizer, tmp_path / "bot.db", admission=ALL_LANES, sampling=SHORT) as bot:
            await join_voice(fake, first)
            await join_voice(fake, second)
            releases = [tap.hold(lane(first)), tap.hold(lane(second))]
            jobs = [await speak(fake, bot, first, "こんにちは"), await speak(fake, bot, second, "こんばんは")]
            # Each generation is parked after HELD_AT codes until both got there: with one lane the
            # second would never start while the first waits.
            await until(lambda: tap.codes[lane(first)] == tap.codes[lane(second)] == HELD_AT, "both generations")
            running = bot.engine.capacity_report().running
            decoding = synthesizer.codec._batcher.open_lanes  # the batch worker's streams (no public view)
            for release in releases:
                release.set()
            clips = [await job.result() for job in jobs]
            for guild in (first, second):
                await fake.voice[guild].wait_until_silent(timeout=WAIT_LIMIT_S)
            played = [bot.players[g.id].last_played for g in (first, second)]
    # llama-server: its -np 4, read from the server; vLLM: backend.slots.
    assert bot.engine.capacity_report().lanes == synthesizer.llm.capacity in (4, MAX_NUM_SEQS)
    assert running == 2 and tap.most_open >= 2 and decoding == 2
    assert [c.report.codes for c in clips] == [SHORT.max_tokens] * 2
    assert [tap.codes[lane(g)] for g in (first, second)] == [SHORT.max_tokens] * 2
    for clip, heard, guild in zip(clips, played, (first, second)):
        assert heard.frames == round(clip.seconds / 0.02)
        assert len(fake.voice[guild].audio_packets) == heard.frames + heard.underruns


async def test_skip_stops_one_guilds_generation_while_the_other_keeps_speaking(served, tmp_path):
    synthesizer, tap = served
    async with FakeDiscord(guilds=2) as fake:
        skipped, speaking = fake.guilds
        async with running_bot(fake, synthesizer, tmp_path / "bot.db", admission=ALL_LANES, sampling=SHORT) as bot:
            await join_voice(fake, skipped)
            await join_voice(fake, speaking)
            before = {g: tap.codes[lane(g)] for g in (skipped, speaking)}
            releases = [tap.hold(lane(skipped)), tap.hold(lane(speaking))]
            doomed = await speak(fake, bot, skipped, "こんにちは")
            kept = await speak(fake, bot, speaking, "こんばんは")
            await until(lambda: all(tap.codes[lane(g)] - before[g] == HELD_AT for g in (skipped, speaking)),
                        "both generations to be mid-stream")
            reply = await (await fake.send_interaction("skip", user="alice", guild=skipped)).wait_reply()
            at_skip = {g: tap.codes[lane(g)] for g in (skipped, speaking)}
            for release in releases:
                release.set()
            with pytest.raises(JobCancelled):
                await doomed.result()
            clip = await kept.result()
            await fake.voice[speaking].wait_until_silent(timeout=WAIT_LIMIT_S)
            heard = bot.players[speaking.id].last_played
    # The backend checks for a stop after every code: at most the one in flight comes after it.
    assert tap.codes[lane(skipped)] - at_skip[skipped] <= 1
    assert tap.codes[lane(speaking)] - at_skip[speaking] == SHORT.max_tokens - HELD_AT  # the rest, after the skip
    assert reply.text == text("en", "skip.skipped")
    assert clip.report.codes == SHORT.max_tokens and heard.frames == round(clip.seconds / 0.02)


async def test_a_llama_server_killed_mid_say_answers_it_clearly_and_the_next_message_after_a_restart_is_spoken(
        make_llama_server, tiny_gguf, tiny_codec_dir, tmp_path, caplog):  # noqa: F811
    server: LlamaServer = make_llama_server()
    synthesizer, tap = served_synthesizer(tmp_path, tiny_gguf, tiny_codec_dir, llama_server_table(server))
    # A long take, so that the server is still generating when it is killed.
    sampling = Sampling(max_tokens=1500)
    try:
        async with FakeDiscord(guilds=1) as fake:
            guild = fake.guild
            async with running_bot(fake, synthesizer, tmp_path / "bot.db", admission=ALL_LANES,
                                   sampling=sampling) as bot:
                await join_voice(fake, guild)
                release = tap.hold(lane(guild))
                said = await fake.send_interaction("say", {"text": "こんにちは"}, user="alice", guild=guild)
                await until(lambda: tap.codes[lane(guild)] == HELD_AT, "the generation to be mid-stream")
                server.kill()
                release.set()
                answer = await said.wait_followup(timeout=WAIT_LIMIT_S)
                cut_off = tap.codes[lane(guild)]
                server.start()  # restarted on the same port: the pool probes it when nothing is in service
                bot.default_sampling = SHORT
                after = await speak(fake, bot, guild, "こんばんは")
                clip = await after.result()
                await fake.voice[guild].wait_for_audio(seconds=0.5, timeout=WAIT_LIMIT_S)
    finally:
        close_synthesizer(synthesizer)
    failures = [r for r in caplog.records if r.name == "bot.speech.engine" and r.levelno >= logging.ERROR]
    assert [f"guild {guild.id}" in r.getMessage() for r in failures] == [True]
    assert "stopped in the middle of this message" in str(failures[0].exc_info[1])
    assert answer.text == "The speech server stopped in the middle of this message; try it again"
    assert HELD_AT <= cut_off < sampling.max_tokens  # the message was cut off where the server died
    assert clip.report.codes > 0 and tap.codes[lane(guild)] - cut_off == clip.report.codes


# -- last: kills the module's first vLLM server -------------------------------------------------

async def test_a_vllm_server_killed_mid_message_fails_it_clearly_and_the_next_message_moves_on(
        vllm_servers, tiny_hf_llasa, tiny_gguf, tiny_codec_dir, tmp_path, caplog):  # noqa: F811
    doomed, other = vllm_servers  # the random model, and one that ends by itself after ~40 codes
    synthesizer, tap = served_synthesizer(tmp_path, tiny_gguf, tiny_codec_dir, vllm_table(tiny_hf_llasa, doomed, other))
    sampling = Sampling(max_tokens=1500)  # a long take, so that the server is still generating when it is killed
    try:
        async with FakeDiscord(guilds=1) as fake:
            guild = fake.guild
            async with running_bot(fake, synthesizer, tmp_path / "bot.db", admission=ALL_LANES,
                                   sampling=sampling) as bot:
                await join_voice(fake, guild)
                release = tap.hold(lane(guild))
                broken = await speak(fake, bot, guild, "こんにちは")  # equal free slots: the first server
                await until(lambda: tap.codes[lane(guild)] == HELD_AT, "the generation to be mid-stream")
                doomed.kill()
                release.set()
                with pytest.raises(BackendError, match="stopped in the middle of this message"):
                    await broken.result()
                cut_off = tap.codes[lane(guild)]
                bot.default_sampling = SHORT
                after = await speak(fake, bot, guild, "こんばんは")
                clip = await after.result()
                await fake.voice[guild].wait_for_audio(seconds=clip.seconds / 2, timeout=WAIT_LIMIT_S)
                live = synthesizer.llm.backend.live()
    finally:
        close_synthesizer(synthesizer)
    failures = [r for r in caplog.records if r.name == "bot.speech.engine" and r.levelno >= logging.ERROR]
    assert [f"guild {guild.id}" in r.getMessage() for r in failures] == [True]
    assert "stopped in the middle of this message" in str(failures[0].exc_info[1])
    assert HELD_AT <= cut_off < sampling.max_tokens and live == [other.url]
    assert clip.report.codes > 0 and tap.codes[lane(guild)] - cut_off == clip.report.codes
