"""Which exceptions users can cause, and the message they get for each."""
from __future__ import annotations

from .audio.upload import UploadRejected
from .speech.captions import CaptionError
from .speech.codec import CodecError
from .speech.engine import EngineBusy, EngineClosed
from .speech.synthesizer import SynthesisError
from .store.clips import ClipNameTaken, ClipNotFound
from .store.errors import StoreLimitError, UnknownFieldError
from .text.errors import TextInputError


class UserError(Exception):
    """Something the user asked for can't be done; the message says why and what to do."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError, EngineBusy, EngineClosed, CaptionError, CodecError, SynthesisError, TextInputError,
    StoreLimitError, UnknownFieldError, UploadRejected, ClipNotFound, ClipNameTaken,
)


def user_message(error: BaseException) -> str:
    text = str(error) or error.__class__.__name__
    return text[0].upper() + text[1:] if text else text
