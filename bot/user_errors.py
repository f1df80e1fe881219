"""Which exceptions users can cause, and the message they get for each, in their language."""
from __future__ import annotations

from discord import app_commands

from .audio.upload import UploadRejected
from .i18n import UserFacing, text
from .speech.captions import CaptionError
from .speech.codec import CodecError
from .speech.engine import EngineBusy, EngineClosed
from .speech.synthesizer import SynthesisError
from .store.clips import ClipNameTaken, ClipNotFound
from .store.errors import StoreLimitError, UnknownFieldError
from .text.errors import TextInputError


class UserError(UserFacing):
    """Something the user asked for can't be done; the message (a catalogue key) says why and what to do."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    UserFacing, EngineBusy, EngineClosed, CaptionError, CodecError, SynthesisError, TextInputError,
    StoreLimitError, UnknownFieldError, UploadRejected, ClipNotFound, ClipNameTaken,
)


def user_message(error: BaseException, lang: str) -> str:
    """What to tell the user about `error`, in `lang` where the error carries a message key."""
    if isinstance(error, UserFacing):
        return error.message(lang)
    if isinstance(error, app_commands.NoPrivateMessage):
        return text(lang, "errors.guild_only")
    if isinstance(error, app_commands.MissingPermissions):
        return text(lang, "errors.missing_permissions", permissions=", ".join(error.missing_permissions))
    # Not yet in the catalogues: the English text.
    message = str(error) or error.__class__.__name__
    return message[0].upper() + message[1:]
