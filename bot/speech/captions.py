"""Voice captions ("System Metadata" of the Captions model) and the presets that hold them."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..i18n import UserFacing

# The Captions model was trained on these 58 emotion words only.
EMOTIONS = frozenset(
    "angry sad disdainful excited surprised satisfied unhappy anxious hysterical delighted scared "
    "worried indifferent upset impatient nervous guilty scornful frustrated depressed panicked "
    "furious empathetic embarrassed reluctant disgusted keen moved proud relaxed grateful confident "
    "interested curious confused joyful disapproving negative denying astonished serious sarcastic "
    "conciliative comforting sincere sneering hesitating yielding painful awkward amused loving "
    "dating longing aroused seductive ecstatic shy".split()
)
MAX_FIELD_CHARS = 200


class CaptionError(UserFacing, ValueError):
    """A caption or preset is malformed; the message says which field and why."""


@dataclass(frozen=True)
class VoiceCaption:
    """The nine caption fields, in the order the model saw them in training."""

    emotion: str = ""
    profile: str = ""
    mood: str = ""
    speed: str = ""
    prosody: str = ""
    pitch_timbre: str = ""
    style: str = ""
    notes: str = ""
    caption: str = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, str):
                raise CaptionError("caption.not_text", field=f.name)
            if len(value) > MAX_FIELD_CHARS or "\n" in value:
                raise CaptionError("caption.too_long", field=f.name, limit=MAX_FIELD_CHARS)
        if self.emotion and self.emotion not in EMOTIONS:
            raise CaptionError("caption.unknown_emotion", emotion=self.emotion, known=", ".join(sorted(EMOTIONS)))

    def system_text(self, clean: Callable[[str], str] = lambda v: v) -> str:
        """The system block: empty without a caption, else nine `key: value` lines (values cleaned)."""
        if not self.caption:
            return ""
        return "\n".join(f"{f.name}: {clean(getattr(self, f.name))}" for f in fields(self))

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> "VoiceCaption":
        if not isinstance(data, dict):
            raise CaptionError("caption.not_an_object")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise CaptionError("caption.unknown_fields", fields=", ".join(sorted(unknown)))
        return cls(**data)


def load_presets(directory: Path) -> dict[str, VoiceCaption]:
    """Read every `*.json` preset in a folder; a broken file is an error naming the file."""
    presets: dict[str, VoiceCaption] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            presets[path.stem] = VoiceCaption.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, CaptionError) as exc:
            raise CaptionError("caption.preset_file", path=str(path), error=exc) from None
    return presets
