"""Errors users can cause with reading settings and dictionaries; messages are fit to show them."""
from __future__ import annotations

from ..i18n import UserFacing


class TextInputError(UserFacing, ValueError):
    """A reading setting or dictionary entry from a user is invalid; the message says what to fix."""


class SettingsError(TextInputError):
    """A reading setting has a bad value or an unknown name."""


class DictionaryError(TextInputError):
    """A dictionary entry or an imported dictionary file is invalid."""
