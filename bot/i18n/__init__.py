"""Messages to users in their language: one TOML catalogue per language (ja, en), looked up by key.

`text(language, key, **params)` formats a message. Which language a user gets is decided once,
in `language()`: the user's Discord language when it is one we speak (ja, en-US, en-GB), else
the server's, else English. Catalogues are loaded and checked once (`check_catalogues`, at
start-up); this module imports nothing of Discord, so every layer may use it.
"""
from __future__ import annotations

import logging
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

log = logging.getLogger(__name__)

LANGUAGES = ("ja", "en")
FALLBACK = "en"
# The catalogue tables that are not messages: command names and descriptions for Discord (ja only,
# the English is the commands' own default text), see bot/i18n/commands.py.
COMMANDS_TABLE = "commands"
CHOICES_TABLE = "choices"


class CatalogueError(Exception):
    """A catalogue is missing, unreadable, or disagrees with the other language."""


@dataclass(frozen=True)
class Catalogue:
    """One language's messages by dotted key (`say.too_long`), and its command texts."""

    language: str
    messages: Mapping[str, str]
    commands: Mapping[str, str]


def language(user_locale: object = None, guild_locale: object = None) -> str:
    """"ja" or "en": the user's Discord language when we speak it, else the server's, else English."""
    for locale in (user_locale, guild_locale):
        spoken = _spoken(locale)
        if spoken is not None:
            return spoken
    return FALLBACK


def _spoken(locale: object) -> str | None:
    # discord.Locale's str() is its value ("ja", "en-US"); plain strings work the same.
    value = str(locale or "")
    if value == "ja" or value.startswith("ja-"):
        return "ja"
    if value == "en" or value.startswith("en-"):
        return "en"
    return None


def text(lang: str, key: str, /, **params: Any) -> str:
    """The message `key` in `lang` (English for any language we don't have), with `params` filled in.

    A key missing from the catalogue is logged and shown as is, so a slip never costs a reply
    (tests/test_i18n.py finds such keys in the code before they ship).
    """
    catalogue = catalogues().get(lang) or catalogues()[FALLBACK]
    template = catalogue.messages.get(key)
    if template is None:
        log.error("no message %r in the %s catalogue", key, catalogue.language)
        return key
    params = {name: value.message(lang) if isinstance(value, UserFacing) else value for name, value in params.items()}
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        log.exception("message %r (%s) does not fit params %s", key, catalogue.language, sorted(params))
        return template


def command_text(lang: str, key: str) -> str | None:
    """A command text, e.g. `commands.say.name`, `commands.voice set.options.seed.description`, `choices.me`."""
    return catalogues()[lang].commands.get(key)


class UserFacing(Exception):
    """An error a user caused: a message key and params, shown in the user's language.

    str() is the English message, for logs and for code that knows nothing of languages.
    A param that is itself UserFacing is shown in the same language.
    """

    def __init__(self, key: str, /, **params: Any) -> None:
        self.key = key
        self.params = params
        super().__init__(self.message(FALLBACK))

    def message(self, lang: str) -> str:
        """The message in `lang`."""
        return text(lang, self.key, **self.params)


def params_of(template: str) -> frozenset[str]:
    """The named fields a message template expects."""
    return frozenset(field.split(".")[0].split("[")[0]
                     for _, field, _, _ in string.Formatter().parse(template) if field)


@cache
def catalogues() -> dict[str, Catalogue]:
    """Every language's catalogue, read from the package once."""
    return {lang: _load(lang) for lang in LANGUAGES}


def check_catalogues() -> None:
    """Fail at start-up (CatalogueError) when the catalogues disagree: keys or params in one language only."""
    loaded = catalogues()
    problems: list[str] = []
    english = loaded[FALLBACK].messages
    for lang, catalogue in loaded.items():
        if lang == FALLBACK:
            continue
        for key in sorted(english.keys() ^ catalogue.messages.keys()):
            problems.append(f"{key!r} is only in {'en' if key in english else lang}")
        for key in sorted(english.keys() & catalogue.messages.keys()):
            if params_of(english[key]) != params_of(catalogue.messages[key]):
                problems.append(f"{key!r} takes {sorted(params_of(english[key]))} in en "
                                f"but {sorted(params_of(catalogue.messages[key]))} in {lang}")
    if problems:
        raise CatalogueError("message catalogues disagree: " + "; ".join(problems))


def _load(lang: str) -> Catalogue:
    try:
        raw = tomllib.loads(resources.files(__package__).joinpath(f"{lang}.toml").read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CatalogueError(f"the {lang} message catalogue is unreadable: {error}") from error
    commands = _flat({COMMANDS_TABLE: raw.pop(COMMANDS_TABLE, {}), CHOICES_TABLE: raw.pop(CHOICES_TABLE, {})})
    return Catalogue(lang, _flat(raw), commands)


def _flat(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(_flat(value, key + "."))
        elif isinstance(value, str):
            flat[key] = value
        else:
            raise CatalogueError(f"catalogue entry {key!r} must be text, not {type(value).__name__}")
    return flat
