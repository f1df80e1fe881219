"""Replies in each user's Discord language and Japanese slash commands, through the real bot and the fake Discord."""
from __future__ import annotations

from bot.i18n import text
from tests.e2e.harness import running_bot
from tests.fakes import ScriptedSynthesizer


async def _reply(fake, name: str, options=None, *, user: str, subcommand: str | None = None) -> str:
    handle = await fake.send_interaction(name, options, subcommand=subcommand, user=user)
    return (await handle.wait_reply()).content


async def test_the_same_command_answers_a_japanese_and_an_english_user_each_in_their_language(fake_discord, tmp_path):
    fake_discord.user("bob").locale = "ja"
    fake_discord.user("carol").locale = "en-US"
    async with running_bot(fake_discord, ScriptedSynthesizer(), tmp_path / "bot.db"):
        assert await _reply(fake_discord, "skip", user="bob") == "いまは何も話していません。"
        assert await _reply(fake_discord, "skip", user="carol") == "Nothing is being said right now."
        # A reply that is not an error, with params filled in.
        ja = await _reply(fake_discord, "dict", {"word": "米津", "reading": "よねづ", "scope": "me"}, subcommand="add", user="bob")
        assert ja == "📖 「米津」 → 「よねづ」"
        assert await _reply(fake_discord, "dict", {"word": "米津", "scope": "me"}, subcommand="remove", user="bob") == "🗑️ 「米津」を消しました。"
        en = await _reply(fake_discord, "dict", {"word": "米津", "scope": "me"}, subcommand="remove", user="carol")
        assert en == "「米津」 is not in the dictionary."


async def test_a_user_whose_language_the_bot_does_not_speak_gets_the_servers(fake_discord, tmp_path):
    fake_discord.guild.locale = "ja"
    fake_discord.user("bob").locale = "fr"
    fake_discord.user("carol").locale = "en-GB"
    async with running_bot(fake_discord, ScriptedSynthesizer(), tmp_path / "bot.db"):
        assert await _reply(fake_discord, "voice", subcommand="clips", user="bob") == text("ja", "voice.no_clips")
        assert await _reply(fake_discord, "voice", subcommand="clips", user="carol") == "You have no cloned clips."
        settings = await _reply(fake_discord, "server", subcommand="show", user="alice")  # en-US, the server's is ja
        assert settings.startswith("Auto-join: off\nAnnounce names: on")
        fake_discord.user("alice").locale = "ja"
        settings = await _reply(fake_discord, "server", subcommand="show", user="alice")
        assert settings.startswith("自動参加：オフ\n名前の読み上げ：オン")


async def test_errors_raised_below_the_cogs_reach_users_in_their_language(fake_discord, tmp_path):
    fake_discord.user("bob").locale = "ja"
    async with running_bot(fake_discord, ScriptedSynthesizer(), tmp_path / "bot.db"):
        too_long = "あ" * 2000
        reply = await _reply(fake_discord, "say", {"text": too_long}, user="bob")
        assert reply.startswith("テキストが 2000 文字あります。")
        denied = await _reply(fake_discord, "server", subcommand="show", user="bob")  # bob lacks Manage Server
        assert denied == text("ja", "server.needs_manage")
        # Refused in the text layer, which knows nothing of Discord or languages.
        emoji = await _reply(fake_discord, "dict", {"word": "🍣", "reading": "すし", "scope": "me"}, subcommand="add", user="bob")
        assert emoji == "単語 '🍣' には絵文字が入っています。チャットの絵文字は辞書を使う前に消える（か名前で読まれる）ので、この単語は当たりません。"


async def test_synced_commands_carry_japanese_names_and_descriptions(fake_discord, tmp_path):
    async with running_bot(fake_discord, ScriptedSynthesizer(), tmp_path / "bot.db"):
        await fake_discord.wait_for_commands("say", "voice")
        commands = {c["name"]: c for c in fake_discord.registered_commands()}
    say = commands["say"]
    assert say["name_localizations"] == {"ja": "しゃべる"}
    assert say["description_localizations"]["ja"].startswith("ボイスチャンネルでテキストを話す")
    text_option = next(o for o in say["options"] if o["name"] == "text")
    assert text_option["name_localizations"] == {"ja": "テキスト"}
    voice_set = next(o for o in commands["voice"]["options"] if o["name"] == "set")
    assert voice_set["name_localizations"] == {"ja": "設定"}
    scope = next(o for o in next(o for o in commands["dict"]["options"] if o["name"] == "add")["options"]
                 if o["name"] == "scope")
    assert {c["value"]: c["name_localizations"]["ja"] for c in scope["choices"]} == {"server": "サーバー", "me": "自分"}
    assert fake_discord.commands.localised(None, "ja")["optout"] == "読み上げ除外"
