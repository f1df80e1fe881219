"""/dict import, read-aloud dictionaries and kana through the fake Discord: clear refusals, CPU work off the loop."""
from __future__ import annotations

import json
import threading

from tests.e2e.harness import running_bot
from tests.fakediscord import Upload
from tests.fakes import ScriptedSynthesizer
from tests.text.fakes import spy_on_dictionary




async def _import(fake, data: bytes, user: str = "alice"):
    handle = await fake.send_interaction("dict", {"file": Upload("dictionary.json", data, "application/json")},
                                         subcommand="import", user=user)
    return await handle.wait_reply()


async def _listed(fake) -> str:
    return (await (await fake.send_interaction("dict", subcommand="list", user="alice")).wait_reply()).content


async def test_a_5000_digit_number_in_an_import_is_refused_by_entry_and_changes_nothing(fake_discord, tmp_path):
    bad = ('{"entries": [{"word": "草", "reading": "くさ"}, {"word": "推し", "reading": ' + "9" * 5000 + "}]}").encode()
    async with running_bot(fake_discord, ScriptedSynthesizer(), tmp_path / "bot.db"):
        await (await fake_discord.send_interaction("dict", {"word": "米津玄師", "reading": "よねづけんし"},
                                                   subcommand="add", user="alice")).wait_reply()
        reply = await _import(fake_discord, bad)
        listed = await _listed(fake_discord)
    assert reply.ephemeral
    assert reply.content == "Entry 2: the reading of '推し' must be text (in quotes), not a number"
    assert "米津玄師 → よねづけんし" in listed and "草" not in listed


async def test_other_malformed_imports_are_answered_with_what_to_fix(fake_discord, tmp_path):
    files = [
        b"\xef\xbb\xbf[\n {\"word\": \"\xe8\xaa\", \"reading\": \"x\"}]",                # bad UTF-8 after a BOM
        '{"草": "くさ", "草": "わら"}'.encode(),                                           # a key given twice
        json.dumps([{"word": "VC", "reading": "ぶいしー"}, {"word": "vc", "reading": "ボイチャ"}]).encode(),
        json.dumps({"語": "よ" * 50_000}, ensure_ascii=False).encode(),                      # absurd length
    ]
    async with running_bot(fake_discord, ScriptedSynthesizer(), tmp_path / "bot.db"):
        replies = [await _import(fake_discord, data) for data in files]
        listed = await _listed(fake_discord)
    assert [reply.content for reply in replies] == [
        "The dictionary file is not UTF-8 text (line 2, byte 17); save it as UTF-8",
        "'草' appears twice in one {…} object of the file; keep one",
        "Entries 1 and 2 give one word two readings ('VC' → 'ぶいしー', 'vc' → 'ボイチャ'); ASCII case, "
        "full-width letters and spacing do not make a different word, so keep one",
        "Entry 1: the reading of '語' is 50000 characters; the limit is 100",
    ]
    assert all(reply.ephemeral for reply in replies) and listed == "The dictionary is empty."


async def test_an_import_is_parsed_and_checked_off_the_event_loop(fake_discord, tmp_path, monkeypatch):
    checks = spy_on_dictionary(monkeypatch, "_validated_table")
    document = {f"単語{i}": f"たんご{i}" for i in range(2000)}
    async with running_bot(fake_discord, ScriptedSynthesizer(), tmp_path / "bot.db"):
        loop_thread = threading.get_ident()
        reply = await _import(fake_discord, json.dumps(document, ensure_ascii=False).encode())
    assert reply.content == "📥 Imported 2000 word(s)."
    assert len(checks) == 1 and loop_thread not in checks


async def test_read_aloud_compiles_a_dictionary_off_the_loop_once_per_change(fake_discord, tmp_path, monkeypatch):
    compiles, builds = spy_on_dictionary(monkeypatch, "_compile"), spy_on_dictionary(monkeypatch, "_validated_table")
    synth = ScriptedSynthesizer(steps=1)
    voice = fake_discord.voice[fake_discord.guild]

    async def say(text: str) -> None:
        voice.clear()
        await fake_discord.send_message(text, author="bob")
        await voice.wait_for_audio(seconds=0.01, timeout=10)
        await voice.wait_until_silent()

    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        loop_thread = threading.get_ident()
        await (await fake_discord.send_interaction("dict", {"word": "草", "reading": "くさ"},
                                                   subcommand="add", user="alice")).wait_reply()
        await (await fake_discord.send_interaction("join", user="alice")).wait_reply()
        await voice.wait_connected()
        await say("草")
        await say("草だ")
        compiled_before_change = len(compiles)
        await (await fake_discord.send_interaction("dict", {"word": "草", "reading": "わら"},
                                                   subcommand="add", user="alice")).wait_reply()
        await say("草")
    assert synth.served == ["ボブ、くさ", "くさだ", "わら"]
    assert compiled_before_change == 1  # the second message reused the first one's automaton
    assert len(compiles) == 2 and loop_thread not in compiles
    assert builds and loop_thread not in builds  # the stored entries are checked in a thread too


async def test_read_aloud_runs_the_kana_reader_off_the_event_loop(fake_discord, tmp_path, monkeypatch):
    import bot.text.kana as kana

    threads: list[int] = []
    real = kana.to_kana

    def spy(*args, **kwargs):
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(kana, "to_kana", spy)
    synth = ScriptedSynthesizer(steps=1)
    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        loop_thread = threading.get_ident()
        await (await fake_discord.send_interaction("join", user="alice")).wait_reply()
        await fake_discord.voice[fake_discord.guild].wait_connected()
        await fake_discord.send_message("今日は雨", author="bob")
        await fake_discord.voice[fake_discord.guild].wait_for_audio(seconds=0.01, timeout=10)
    assert synth.served == ["ボブ、きょうはあめ"]
    assert threads and loop_thread not in threads
