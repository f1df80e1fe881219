"""The message catalogues: both languages complete and alike, every key the code uses present, formatting."""
from __future__ import annotations

import ast
import importlib
import logging
import pkgutil
import tomllib
from pathlib import Path

import discord
import pytest

import bot
from bot.config import Config
from bot.i18n import FALLBACK, LANGUAGES, UserFacing, catalogues, check_catalogues, language, params_of, text
from bot.i18n.commands import command_keys
from tests.fakediscord.commands import InvalidCommand, check_command

ROOT = Path(__file__).resolve().parents[1]
# Calls whose argument number N (0-based) is a message key.
KEYED_CALLS = {"text": 1, "text_for": 1, "guild_text": 1}


def _import_all_bot_modules() -> None:
    """So that every UserFacing subclass exists (the scan finds `raise Error("key", ...)` by class name)."""
    for module in pkgutil.walk_packages(bot.__path__, "bot."):
        if module.name != "bot.__main__":
            importlib.import_module(module.name)


def _user_facing_names() -> set[str]:
    _import_all_bot_modules()
    names, pending = set(), [UserFacing]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return names


def _keyed_calls() -> list[tuple[str, ast.Call, ast.expr]]:
    """(where, call, key argument) for every call in bot/ that names a message key."""
    key_arg = dict(KEYED_CALLS) | {name: 0 for name in _user_facing_names()}
    found = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        if path.parent.name == "i18n":
            continue  # the lookup itself passes keys along
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            index = key_arg.get(name)  # type: ignore[arg-type]
            if index is not None and len(node.args) > index:
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node, node.args[index]))
    return found


def test_every_message_is_in_both_languages_with_the_same_params():
    check_catalogues()
    loaded = catalogues()
    assert set(loaded) == set(LANGUAGES)
    english = loaded["en"].messages
    assert english.keys() == loaded["ja"].messages.keys()
    for key, template in english.items():
        assert params_of(template) == params_of(loaded["ja"].messages[key]), key
        assert template.strip() and loaded["ja"].messages[key].strip(), key


def test_every_key_the_code_uses_is_in_the_catalogue_with_the_params_it_passes():
    messages = catalogues()[FALLBACK].messages
    calls = _keyed_calls()
    assert len(calls) > 20  # the scan does find the code's messages
    problems = []
    for where, call, key in calls:
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            problems.append(f"{where}: the message key must be a string literal")
            continue
        if key.value not in messages:
            problems.append(f"{where}: no message {key.value!r} in the catalogues")
            continue
        if any(k.arg is None for k in call.keywords):
            continue  # **params: checked at run time
        passed = {k.arg for k in call.keywords}
        if passed != params_of(messages[key.value]):
            problems.append(f"{where}: {key.value!r} takes {sorted(params_of(messages[key.value]))}, given {sorted(passed)}")
    assert problems == []


def test_no_message_in_the_catalogues_is_unused():
    used = {key.value for _, _, key in _keyed_calls() if isinstance(key, ast.Constant)}
    assert sorted(catalogues()[FALLBACK].messages.keys() - used) == []


def test_messages_are_formatted_with_named_params_in_each_language():
    assert text("en", "errors.rate_limited", seconds=4) == "You're sending commands too fast; try again in 4 s."
    assert text("ja", "errors.rate_limited", seconds=4) == "コマンドの送信が速すぎます。4 秒後にもう一度どうぞ。"
    assert text("fr", "clear.cleared", count=2) == text("en", "clear.cleared", count=2)  # English for the rest


def test_a_slip_costs_no_reply_but_is_logged(caplog):
    with caplog.at_level(logging.ERROR, logger="bot.i18n"):
        assert text("ja", "no.such.key") == "no.such.key"
        assert text("ja", "clear.cleared") == catalogues()["ja"].messages["clear.cleared"]  # a missing param
    assert len(caplog.records) == 2


@pytest.mark.parametrize(("user", "guild", "expected"), [
    ("ja", "en-US", "ja"),        # the user's own language first
    ("en-GB", "ja", "en"),
    ("en-US", None, "en"),
    ("fr", "ja", "ja"),           # a language we don't speak: the server's
    ("ko", "de", "en"),           # neither: English
    (None, None, "en"),           # DMs carry no server locale
    (discord.Locale.japanese, discord.Locale.american_english, "ja"),
])
def test_replies_follow_the_user_then_the_server(user, guild, expected):
    assert language(user, guild) == expected


def test_a_user_facing_error_logs_in_english_and_answers_in_the_users_language():
    class Refused(UserFacing):
        pass

    inner = Refused("skip.nothing")
    error = Refused("errors.missing_permissions", permissions=inner)
    assert str(error) == "This command needs these permissions: Nothing is being said right now."
    assert error.message("ja") == "このコマンドには次の権限が必要です：いまは何も話していません。"


async def _tree():
    from bot.app import LlasaBot
    from bot.cogs import ALL_COGS

    client = LlasaBot(config=Config(), engine=None, database=None, presets={}, default_sampling=None)  # type: ignore[arg-type]
    for cog in ALL_COGS:
        await client.add_cog(cog(client))
    return client.tree


async def test_every_command_option_and_choice_has_a_japanese_name_and_description():
    tree = await _tree()
    wanted = set(command_keys(tree))
    have = catalogues()["ja"].commands
    assert sorted(wanted - have.keys()) == []
    assert sorted(have.keys() - wanted) == []  # no texts left for commands that are gone


async def test_the_japanese_command_payloads_pass_discords_rules():
    from bot.i18n.commands import CatalogueTranslator

    tree = await _tree()
    translator = CatalogueTranslator()
    for command in tree.get_commands(type=discord.AppCommandType.chat_input):
        payload = await command.get_translated_payload(tree, translator)
        try:
            check_command(payload)
        except InvalidCommand as error:
            pytest.fail(str(error))
        assert payload["name_localizations"]["ja"] and "en-US" not in payload["name_localizations"]


def test_the_catalogues_ship_with_the_package():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    assert "*.toml" in setuptools["package-data"]["bot.i18n"]


def test_messages_posted_to_a_channel_follow_the_servers_language():
    from types import SimpleNamespace

    from bot.i18n.replies import guild_text

    japanese_server = SimpleNamespace(preferred_locale=discord.Locale.japanese)
    assert guild_text(japanese_server, "leave.left") == "👋 ボイスチャンネルから出ました。"  # type: ignore[arg-type]
    assert guild_text(SimpleNamespace(preferred_locale=discord.Locale.french), "leave.left") == "👋 Left the voice channel."  # type: ignore[arg-type]
    assert guild_text(None, "leave.left") == "👋 Left the voice channel."


REPLY_CALLS = {"send_message", "send", "edit_original_response", "edit_message", "reply"}


def _literal_words(node: ast.expr | None) -> bool:
    """A string literal or f-string with words in it (a message written in the code)."""
    import re

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(re.search(r"[A-Za-z]{3}|[ぁ-んァ-ン一-龯]", node.value))
    if isinstance(node, ast.JoinedStr):
        return any(_literal_words(part) for part in node.values if isinstance(part, ast.Constant))
    return False


def test_no_reply_text_is_written_in_the_cogs():
    """Replies come from the catalogues: a literal message in a cog would reach everyone in one language."""
    found = []
    for path in sorted((ROOT / "bot" / "cogs").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in REPLY_CALLS:
                content = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "content")]
                if any(_literal_words(arg) for arg in content):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_a_set_up_problem_is_introduced_in_the_users_language_with_the_operators_detail():
    from bot.speech.backends.base import BackendError
    from bot.user_errors import user_message

    down = BackendError("every generation server is down (http://127.0.0.1:8080)")
    assert user_message(down, "en") == "Every generation server is down (http://127.0.0.1:8080)"
    assert user_message(down, "ja").startswith("ボットの設定か音声サーバーに問題があり")
    assert "every generation server is down" in user_message(down, "ja")
