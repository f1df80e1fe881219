"""What the store raises on purpose; user-facing ones carry a message fit to show users."""
from __future__ import annotations

from ..i18n import UserFacing


class StoreError(Exception):
    """Base of every error the store raises deliberately."""


class StoreLimitError(UserFacing, StoreError, ValueError):
    """A value is over a limit or out of range (too many words, a name too long); the message says which."""


class UnknownFieldError(UserFacing, StoreError, ValueError):
    """An update named a field the record doesn't have (or one that can't be changed)."""


class SchemaTooNewError(StoreError):
    """The database file was written by a newer version of the bot than this one."""


class DatabaseUnusable(StoreError):
    """The database file can't be used (a folder, read-only, damaged); the message says what to do."""
