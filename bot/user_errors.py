"""Which exceptions users can cause, and the message they get for each, in their language."""
from __future__ import annotations

from discord import app_commands

from .i18n import UserFacing, text
from .speech.backends.base import BackendError
from .speech.codec import CodecError


class UserError(UserFacing):
    """Something the user asked for can't be done; the message (a catalogue key) says why and what to do."""


# Every error a user can cause carries a message key (UserFacing: engine queues, uploads, clips,
# store limits, dictionary and settings input, captions). A CodecError that is not one is the
# operator's set-up, shown as it is; so is a BackendError (a speech server down), worded for users.
USER_ERRORS: tuple[type[BaseException], ...] = (UserFacing, CodecError, BackendError)


def user_message(error: BaseException, lang: str) -> str:
    """What to tell the user about `error`, in `lang` where the error carries a message key."""
    if isinstance(error, UserFacing):
        message = error.message(lang)
    elif isinstance(error, app_commands.NoPrivateMessage):
        message = text(lang, "errors.guild_only")
    elif isinstance(error, app_commands.MissingPermissions):
        message = text(lang, "errors.missing_permissions", permissions=", ".join(error.missing_permissions))
    elif isinstance(error, (CodecError, BackendError)):  # the operator's set-up: its English detail, introduced
        message = text(lang, "errors.setup", detail=str(error) or error.__class__.__name__)
    else:  # not in the catalogues (discord.py's own checks): its English text
        message = str(error) or error.__class__.__name__
    # Messages from below the cogs start in lower case, to read well inside logs and other messages.
    return message[:1].upper() + message[1:]
