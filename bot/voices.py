"""A user's stored voice profile + the server defaults → the SpeechRequest the engine runs."""
from __future__ import annotations

from dataclasses import replace

from .speech.captions import CaptionError, VoiceCaption
from .speech.llm import Sampling
from .speech.prompt import ReferenceVoice
from .speech.synthesizer import SpeechRequest, Voice
from .store.voices import VoiceProfile, unpack_codes


def caption_for(profile: VoiceProfile, presets: dict[str, VoiceCaption]) -> VoiceCaption | None:
    """The preset's caption with the user's own fields laid over it (None: no caption)."""
    base = presets.get(profile.preset) if profile.preset else None
    overrides = {k: v for k, v in (profile.caption or {}).items() if v}
    if base is None and not overrides:
        return None
    fields = (base.to_dict() if base else VoiceCaption().to_dict()) | overrides
    if not fields.get("caption"):
        # The model ignores every field without the caption sentence: describe the voice briefly.
        fields["caption"] = "、".join(v for k, v in fields.items() if v and k != "emotion") or "落ち着いた声で話している。"
    return VoiceCaption.from_dict(fields)


def sampling_for(profile: VoiceProfile, defaults: Sampling) -> Sampling:
    """Server defaults with the user's own sampling settings where they chose any."""
    chosen = {
        name: getattr(profile, name)
        for name in ("temperature", "top_p", "top_k", "repeat_penalty", "seed")
        if getattr(profile, name) is not None
    }
    return replace(defaults, **chosen)


def speech_request(
    text: str,
    profile: VoiceProfile,
    presets: dict[str, VoiceCaption],
    defaults: Sampling,
    max_seconds: float,
    preset: str | None = None,
    shared: ReferenceVoice | None = None,
) -> SpeechRequest:
    """Build the request; `preset` overrides the user's voice for this one request.

    shared: the server's shared voice the user picked (or named for this request), already looked
    up; it replaces their own cloned clip.
    """
    if preset is not None:
        if preset not in presets:
            raise CaptionError("caption.no_preset", name=preset)
        profile = replace(profile, preset=preset, caption=None, reference=None)
    reference = shared
    if reference is None and profile.reference:
        reference = ReferenceVoice(unpack_codes(profile.reference), profile.reference_transcript or "")
    voice = Voice(caption=caption_for(profile, presets), reference=reference)
    return SpeechRequest(text, voice, sampling_for(profile, defaults), max_seconds)


def at_speed(request: SpeechRequest, speed: float) -> SpeechRequest:
    """Ask for speech at `speed` through the caption's speed field (the model's only speed control).

    A voice without a caption gets one holding just the speed; base Llasa (no captions) ignores it.
    """
    if abs(speed - 1.0) < 0.05:
        return request
    caption = request.voice.caption or VoiceCaption(caption="落ち着いた声で話している。")
    marked = replace(caption, speed=f"({speed:.1f}x)")
    return replace(request, voice=replace(request.voice, caption=marked))
