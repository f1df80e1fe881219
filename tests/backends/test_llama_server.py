"""The llama-server backend and the endpoint pool against real llama-server processes (tiny GGUF)."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from dataclasses import replace

import pytest

from bot.speech.backends.base import BackendError, GenerationBackend
from bot.speech.backends.llama_server import LlamaServerBackend
from bot.speech.backends.pool import EndpointPool, ServerUnavailable
from bot.speech.llm import FinishReason, GgufTokenizer, Sampling
from bot.speech.prompt import build_prompt
from tests.backends.llama_server_process import LlamaServer, free_port
from tests.tiny_llasa import write_tiny_llasa

SAMPLING = Sampling(max_tokens=40, seed=11)
READMIT_LIMIT_S = 60  # a bound on waiting for the health thread, not a speed requirement


def _prompt(backend, text: str = "the voice") -> list[int]:
    return build_prompt(backend.vocab, backend.tokenize_text, text, caption=None, reference=None,
                        with_system_block=True)


def _backend(server, tokenizer) -> LlamaServerBackend:
    backend = LlamaServerBackend(server.url, tokenizer)
    backend.probe()
    return backend


def _pool(servers, tokenizer, **kwargs) -> EndpointPool:
    pool = EndpointPool([LlamaServerBackend(s.url, tokenizer) for s in servers], first_retry_s=0.2, **kwargs)
    pool.start()
    return pool


def _busy_slots(server) -> int:
    with urllib.request.urlopen(server.url + "/slots", timeout=10) as response:
        return sum(1 for slot in json.loads(response.read()) if slot.get("is_processing"))


def test_the_backend_reads_slots_from_the_server(llama_server, tiny_tokenizer) -> None:
    backend = _backend(llama_server, tiny_tokenizer)
    assert isinstance(backend, GenerationBackend)
    assert backend.capacity == 4
    assert LlamaServerBackend(llama_server.url, tiny_tokenizer, slots=2).capacity == 2


def test_two_guilds_generate_at_once(llama_server, tiny_tokenizer) -> None:
    pool = _pool([llama_server], tiny_tokenizer)
    long = replace(SAMPLING, max_tokens=1000)  # still running on the server while we look
    stop = False
    try:
        prompt = _prompt(pool)
        first = pool.generate(prompt, long, should_stop=lambda: stop, affinity=("guild", 1))
        second = pool.generate(prompt, replace(long, seed=12), should_stop=lambda: stop, affinity=("guild", 2))
        codes: dict[int, list[int]] = {1: [], 2: []}
        # Interleaved in one thread: both streams are open on the server at the same time.
        for _ in range(10):
            codes[1].append(next(first))
            codes[2].append(next(second))
            if len(codes[1]) == 5:
                assert _busy_slots(llama_server) == 2
        stop = True
        assert list(first) == [] and list(second) == []
    finally:
        pool.close()
    assert len(codes[1]) == len(codes[2]) == 10
    assert codes[1] != codes[2]
    assert first.finish_reason == second.finish_reason == FinishReason.CANCELLED


def test_cancel_stops_at_the_next_code_and_frees_the_slot(llama_server, tiny_tokenizer) -> None:
    backend = _backend(llama_server, tiny_tokenizer)
    stop = False
    generation = backend.generate(_prompt(backend), replace(SAMPLING, max_tokens=1000), should_stop=lambda: stop)
    codes = []
    for code in generation:
        codes.append(code)
        if len(codes) == 5:
            stop = True
    assert len(codes) == 5  # not one code after the stop
    assert generation.finish_reason == FinishReason.CANCELLED
    after = backend.generate(_prompt(backend), SAMPLING)
    assert len(list(after)) == SAMPLING.max_tokens


def test_closing_the_backend_ends_a_running_take(llama_server, tiny_tokenizer) -> None:
    backend = _backend(llama_server, tiny_tokenizer)
    generation = backend.generate(_prompt(backend), replace(SAMPLING, max_tokens=1000))
    next(generation)
    backend.close()
    with pytest.raises(BackendError, match="shutting down") as ended:
        list(generation)
    assert not isinstance(ended.value, ServerUnavailable)  # not the server's fault: no failover
    with pytest.raises(BackendError):
        list(backend.generate(_prompt(backend), SAMPLING))


def test_only_speech_codes_come_out_and_the_prompt_arrives_unchanged(llama_server, tiny_tokenizer, tiny_llm) -> None:
    backend = _backend(llama_server, tiny_tokenizer)
    # Greedy and no repeat penalty: the same ids in the same GGUF must give the embedded model's
    # codes. Only the first ones: the random model has near-ties that float rounding (other
    # kernels, batch shapes) breaks differently after a while (here after 22 codes).
    greedy = Sampling(temperature=0.0, repeat_penalty=1.0, max_tokens=10)
    prompt = _prompt(backend, "prompt ids")
    assert prompt == _prompt(tiny_llm, "prompt ids")
    served = list(backend.generate(prompt, greedy))
    embedded = list(tiny_llm.generate(prompt, greedy))
    assert served == embedded and len(served) == 10
    # The random tiny model says ~60 % non-speech ids when unmasked; none may come through (each would end the take).
    generation = backend.generate(prompt, Sampling(max_tokens=300, seed=3))
    codes = list(generation)
    assert generation.finish_reason == FinishReason.LENGTH and len(codes) == 300
    assert all(0 <= c < 65536 for c in codes)
    assert generation.prompt_evaluated + generation.prompt_reused == len(prompt)


def test_a_seed_reproduces_a_take(llama_server, tiny_tokenizer) -> None:
    backend = _backend(llama_server, tiny_tokenizer)
    prompt = _prompt(backend, "same seed")
    takes = [backend.generate(prompt, replace(SAMPLING, seed=s)) for s in (7, 7, 8)]
    codes = [list(t) for t in takes]
    assert codes[0] == codes[1] != codes[2]
    assert [t.seed for t in takes] == [7, 7, 8]


def test_the_end_token_ends_a_take(tiny_gguf_that_ends, tmp_path) -> None:
    server = LlamaServer(tiny_gguf_that_ends, tmp_path).start()
    try:
        backend = _backend(server, GgufTokenizer.load(tiny_gguf_that_ends))
        generations = [backend.generate(_prompt(backend), Sampling(temperature=1.0, max_tokens=400, seed=s))
                       for s in range(3)]
        lengths = [len(list(g)) for g in generations]
    finally:
        server.stop()
    assert [g.finish_reason for g in generations] == [FinishReason.END] * 3
    assert all(n < 400 for n in lengths)


def test_a_server_killed_mid_take_fails_it_clearly_and_the_next_take_works(make_llama_server, tiny_tokenizer) -> None:
    server = make_llama_server()
    pool = _pool([server], tiny_tokenizer)
    try:
        generation = pool.generate(_prompt(pool), replace(SAMPLING, max_tokens=1000), affinity=("guild", 1))
        codes = [next(generation) for _ in range(5)]
        server.kill()
        with pytest.raises(BackendError, match="stopped in the middle of this message"):
            codes.extend(generation)
        assert pool.capacity == 0
        with pytest.raises(BackendError, match="no speech server is available"):
            list(pool.generate(_prompt(pool), SAMPLING, affinity=("guild", 1)))
        server.start()  # restarted on the same port
        after = pool.generate(_prompt(pool), SAMPLING, affinity=("guild", 1))
        assert len(list(after)) == SAMPLING.max_tokens
        assert pool.capacity == 4
    finally:
        pool.close()


def test_a_take_moves_to_the_other_endpoint_and_the_dead_one_comes_back(make_llama_server, tiny_tokenizer) -> None:
    a, b = make_llama_server(), make_llama_server(slots=2)
    pool = _pool([a, b], tiny_tokenizer)
    try:
        assert pool.capacity == 6
        # Guild 1 goes to a (more free slots) and sticks there.
        held = pool.generate(_prompt(pool), replace(SAMPLING, max_tokens=1000), affinity=("guild", 1))
        next(held)
        assert (_busy_slots(a), _busy_slots(b)) == (1, 0)
        a.kill()
        moved = pool.generate(_prompt(pool), SAMPLING, affinity=("guild", 1))
        assert len(list(moved)) == SAMPLING.max_tokens  # failed on a before any code, done on b
        assert pool.live() == [b.url] and pool.capacity == 2
        a.start()
        deadline = time.monotonic() + READMIT_LIMIT_S
        while a.url not in pool.live() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pool.live() == [a.url, b.url] and pool.capacity == 6
    finally:
        pool.close()


def test_affinity_sticks_while_new_keys_go_where_slots_are_free(make_llama_server, tiny_tokenizer) -> None:
    a, b = make_llama_server(slots=2), make_llama_server(slots=2)
    pool = _pool([a, b], tiny_tokenizer)
    long = replace(SAMPLING, max_tokens=1000)
    try:
        g1 = pool.generate(_prompt(pool), long, affinity=("guild", 1))
        next(g1)  # on a (equal free slots: the first)
        g2 = pool.generate(_prompt(pool), long, affinity=("guild", 2))
        next(g2)  # on b: a has one slot in use
        g1_again = pool.generate(_prompt(pool), long, affinity=("guild", 1))
        next(g1_again)  # sticks to a although b has as many free slots
        assert (_busy_slots(a), _busy_slots(b)) == (2, 1)
    finally:
        pool.close()


def test_unreachable_endpoints_at_start(make_llama_server, tiny_tokenizer) -> None:
    server = make_llama_server(slots=2)
    dead = f"http://127.0.0.1:{free_port()}"
    pool = EndpointPool([LlamaServerBackend(dead, tiny_tokenizer), LlamaServerBackend(server.url, tiny_tokenizer)])
    pool.start()  # one is enough; the other is logged and retried
    try:
        assert pool.live() == [server.url] and pool.capacity == 2
    finally:
        pool.close()
    with pytest.raises(BackendError, match="no speech server answered"):
        EndpointPool([LlamaServerBackend(dead, tiny_tokenizer)]).start()
    with pytest.raises(ServerUnavailable):
        LlamaServerBackend(dead, tiny_tokenizer).probe()


def test_a_server_with_another_model_is_refused(tiny_tokenizer, tmp_path) -> None:
    other = write_tiny_llasa(tmp_path / "other.gguf", n_codes=1000)  # another vocabulary size
    server = LlamaServer(other, tmp_path, slots=1).start()
    try:
        with pytest.raises(BackendError, match="same Llasa GGUF") as refused:
            LlamaServerBackend(server.url, tiny_tokenizer).probe()
    finally:
        server.stop()
    assert not isinstance(refused.value, ServerUnavailable)  # a setup mistake, not an outage


async def test_the_engine_speaks_two_guilds_at_once_through_llama_server(llama_server, tiny_tokenizer,
                                                                         tiny_codec_dir) -> None:
    from bot.speech.capacity import Admission
    from bot.speech.codec import SpeechCodec
    from bot.speech.engine import Owner, SpeechEngine
    from bot.speech.synthesizer import SpeechRequest, Synthesizer

    pool = _pool([llama_server], tiny_tokenizer)
    # Admission starts at two streams: this slow CPU must not make the engine measure its way down first.
    engine = SpeechEngine(Synthesizer(pool, SpeechCodec.load(str(tiny_codec_dir)), captions=True),
                          admission=Admission(start=2))
    try:
        sampling = Sampling(max_tokens=400, seed=5)
        jobs = [engine.submit(SpeechRequest("こんにちは。", sampling=sampling), Owner(guild, 1)) for guild in (1, 2)]
        await asyncio.gather(*(job.started() for job in jobs))
        assert [engine.position(job) for job in jobs] == [0, 0]  # both running, on two slots
        clips = await asyncio.gather(*(job.result() for job in jobs))
    finally:
        engine.close()
        pool.close()
    assert [clip.report.codes for clip in clips] == [400, 400]
    assert all(clip.seconds > 7 for clip in clips)  # 400 codes = 8 s of speech
