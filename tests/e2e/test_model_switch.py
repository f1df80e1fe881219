"""/model: the owner switches the loaded GGUF through the real loader, between jobs, without a restart.

Two tiny GGUFs: one named as the Captions model (its prompt has a system block: two <|eot_id|>)
and one base (no system block: one). Which model generated a job is read from the prompt that
reached llama.cpp and from which loaded model object it reached.
"""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from bot.config import BackendConfig, Config, LlmConfig
from bot.speech.codec import SpeechCodec
from bot.speech.engine import SpeechEngine
from bot.speech.llm import LlasaModel
from bot.speech.synthesizer import Synthesizer
from tests.e2e.harness import running_bot
from tests.tiny_llasa import write_tiny_llasa

CAPTIONS, BASE = "Tiny-Llasa-Captions.Q8_0.gguf", "Tiny-Llasa.Q8_0.gguf"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    write_tiny_llasa(folder / CAPTIONS)
    write_tiny_llasa(folder / BASE, seed=1)
    write_tiny_llasa(folder / "not-llasa.gguf", n_codes=100)
    write_tiny_llasa(folder / "no-weights.gguf", without_weights=True)
    return folder


def config_for(models: Path) -> Config:
    return Config(llm=LlmConfig(model_path=models / CAPTIONS, n_gpu_layers=0, n_threads=2))


class Generations:
    """Every LlasaModel.generate call: which model object, and the prompt's format; optionally held at a gate."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[LlasaModel, int]] = []  # (model, <|eot_id|> count: 2 Captions, 1 base)
        self.closed: list[LlasaModel] = []
        self.gate = threading.Event()
        self.gate.set()
        generate, close = LlasaModel.generate, LlasaModel.close

        def spy_generate(model: LlasaModel, prompt, sampling, **kwargs):
            self.calls.append((model, list(prompt).count(model.vocab.eot)))
            self.gate.wait(timeout=60)
            return generate(model, prompt, sampling, **kwargs)

        def spy_close(model: LlasaModel) -> None:
            self.closed.append(model)
            close(model)

        monkeypatch.setattr(LlasaModel, "generate", spy_generate)
        monkeypatch.setattr(LlasaModel, "close", spy_close)


@pytest.fixture
def generations(monkeypatch) -> Generations:
    return Generations(monkeypatch)


@pytest.fixture
def barrier_called(monkeypatch) -> asyncio.Event:
    """Set once /model has asked the engine for its barrier (so later jobs are 'after the switch')."""
    called = asyncio.Event()
    original = SpeechEngine.run_exclusive

    async def run_exclusive(engine, fn):
        called.set()
        return await original(engine, fn)

    monkeypatch.setattr(SpeechEngine, "run_exclusive", run_exclusive)
    return called


@pytest.fixture
def synthesizer(models, tiny_codec_dir) -> Synthesizer:
    from bot.speech.loader import llm_options

    config = config_for(models)
    llm = LlasaModel.load(config.llm.model_path, llm_options(config))
    return Synthesizer(llm, SpeechCodec.load(str(tiny_codec_dir)), captions=config.llm.uses_captions)


async def until(check, what: str, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def finished(handle) -> str:
    """The last state of a /say answer: the posted clip's line."""
    for index in range(10):
        edit = await handle.wait_edit(index, timeout=120)
        if edit.attachments:
            return edit.content
    raise AssertionError("no clip was posted")


async def use(fake, file: str, user: str = "alice"):
    handle = await fake.send_interaction("model", {"file": file}, subcommand="use", user=user)
    return await handle.wait_followup(timeout=120)


async def test_jobs_queued_before_the_switch_finish_on_the_old_model_and_later_ones_on_the_new(
        fake_discord, tmp_path, models, synthesizer, generations, barrier_called):
    old = synthesizer.llm
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db", config_for(models)) as bot:
        generations.gate.clear()  # the first job holds the worker, so the next ones queue
        first = await fake_discord.send_interaction("say", {"text": "いち"}, user="bob")
        await until(lambda: len(generations.calls) == 1, "the first job to start")
        second = await fake_discord.send_interaction("say", {"text": "に"}, user="carol")
        await second.wait_edit(0)  # ⏳ queued behind the first
        switch = asyncio.create_task(use(fake_discord, BASE))
        await asyncio.wait_for(barrier_called.wait(), 60)
        third = await fake_discord.send_interaction("say", {"text": "さん"}, user="bob")
        await third.wait_edit(0)
        generations.gate.set()
        for job in (first, second, third):
            await finished(job)
        reply = await switch
        new = bot.engine.synthesizer.llm
    assert [(model is old, eots) for model, eots in generations.calls] == [(True, 2), (True, 2), (False, 1)]
    assert generations.calls[2][0] is new and generations.closed[0] is old  # the old model's memory was freed
    assert reply.ephemeral and f"Switched from {CAPTIONS} to **{BASE}** (base prompt format)" in reply.content
    assert "speak without it" in reply.content  # caption presets are dropped on the base model


async def test_switching_back_to_the_captions_model_brings_its_prompt_format_back(
        fake_discord, tmp_path, models, synthesizer, generations):
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db", config_for(models)):
        assert "base prompt format" in (await use(fake_discord, BASE)).content
        back = await use(fake_discord, CAPTIONS)
        await finished(await fake_discord.send_interaction("say", {"text": "もどった"}, user="bob"))
    assert "(Captions prompt format)" in back.content and "speak without it" not in back.content
    assert generations.calls[-1][1] == 2


@pytest.mark.parametrize("file, why, reloaded", [
    ("not-llasa.gguf", "not a Llasa text-to-speech model", False),  # refused from its vocabulary alone
    ("no-weights.gguf", "could not load", True),  # fails only once the old model is out: loaded again
])
async def test_a_broken_gguf_keeps_the_old_model_and_the_reply_says_why(
        fake_discord, tmp_path, models, synthesizer, generations, file, why, reloaded):
    old = synthesizer.llm
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db", config_for(models)) as bot:
        reply = await use(fake_discord, file)
        await finished(await fake_discord.send_interaction("say", {"text": "まだ"}, user="bob"))
        listing = await (await fake_discord.send_interaction("model", subcommand="list", user="alice")).wait_reply()
        now = bot.engine.synthesizer.llm
    assert reply.ephemeral and f"Still speaking with {CAPTIONS}" in reply.content and why in reply.content
    assert (now is not old) is reloaded and generations.closed == ([old] if reloaded else [])
    [(model, eots)] = generations.calls
    assert model is now and eots == 2  # the Captions model, in its own format
    assert f"▶ **{CAPTIONS}**" in listing.content and f"・ **{BASE}**" in listing.content


async def test_model_list_shows_the_files_and_their_prompt_format(fake_discord, tmp_path, models, synthesizer):
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db", config_for(models)):
        reply = await (await fake_discord.send_interaction("model", subcommand="list", user="alice")).wait_reply()
        choices = await fake_discord.autocomplete("model", "file", "tiny", subcommand="use", user="alice")
    assert reply.ephemeral
    lines = reply.content.splitlines()
    assert [line.split("**")[1] for line in lines] == sorted(["no-weights.gguf", "not-llasa.gguf", BASE, CAPTIONS])
    assert f"▶ **{CAPTIONS}** (0.0 GiB, Captions format)" in lines
    assert f"・ **{BASE}** (0.0 GiB, base format, no captions)" in lines
    assert sorted(c.value for c in choices) == sorted([BASE, CAPTIONS])


async def test_a_non_owner_is_refused_and_sees_no_files(fake_discord, tmp_path, models, synthesizer, generations):
    fake_discord.user("carol").locale = "ja"
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db", config_for(models)) as bot:
        listing = await (await fake_discord.send_interaction("model", subcommand="list", user="bob")).wait_reply()
        in_japanese = await (await fake_discord.send_interaction("model", subcommand="list", user="carol")).wait_reply()
        switch = await (await fake_discord.send_interaction("model", {"file": BASE}, subcommand="use",
                                                            user="bob")).wait_reply()
        choices = await fake_discord.autocomplete("model", "file", "", subcommand="use", user="bob")
        now = bot.engine.synthesizer.llm
        [command] = [c for c in fake_discord.registered_commands() if c["name"] == "model"]
    for reply in (listing, switch):
        assert reply.ephemeral and "Only the bot's owner" in reply.content and CAPTIONS not in reply.content
    assert in_japanese.ephemeral and "ボットのオーナーだけ" in in_japanese.content
    assert choices == [] and now is synthesizer.llm and generations.closed == []
    # Hidden from members without Administrator, and offered in servers and the bot's DMs only.
    assert int(command["default_member_permissions"]) == 8 and sorted(command["contexts"]) == [0, 1]


async def test_with_a_generation_server_model_says_the_server_manages_it(fake_discord, tmp_path, models, synthesizer):
    config = Config(llm=LlmConfig(model_path=models / CAPTIONS),
                    backend=BackendConfig(kind="llama-server", endpoints=("http://127.0.0.1:9",)))
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db", config):
        reply = await (await fake_discord.send_interaction("model", subcommand="list", user="alice")).wait_reply()
    assert reply.ephemeral and "managed by the generation server" in reply.content


async def test_when_the_old_model_cannot_be_loaded_again_jobs_fail_cleanly_until_another_is_picked(
        fake_discord, tmp_path, models, tiny_codec_dir, generations):
    folder = tmp_path / "models"
    folder.mkdir()
    for name in (CAPTIONS, BASE, "no-weights.gguf"):
        (folder / name).write_bytes((models / name).read_bytes())
    config = config_for(folder)
    from bot.speech.loader import llm_options

    synthesizer = Synthesizer(LlasaModel.load(config.llm.model_path, llm_options(config)),
                              SpeechCodec.load(str(tiny_codec_dir)), captions=True)
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db", config) as bot:
        (folder / CAPTIONS).write_bytes(b"GGUF gone bad")  # the loaded file is damaged on disk meanwhile
        failed = await use(fake_discord, "no-weights.gguf")
        handle = await fake_discord.send_interaction("say", {"text": "だめ"}, user="bob")
        await handle.wait_deferred()
        refused = await handle.wait_followup(timeout=60)
        recovered = await use(fake_discord, BASE)
        await finished(await fake_discord.send_interaction("say", {"text": "なおった"}, user="bob"))
        now = bot.engine.synthesizer.llm
    assert "No model is loaded now" in failed.content and "no-weights.gguf" in failed.content
    # A failed job that says why, not a crashed process.
    assert "No model is loaded" in refused.content and "/model use" in refused.content and not refused.attachments
    assert f"to **{BASE}** (base prompt format)" in recovered.content
    assert generations.calls[-1] == (now, 1)
