"""The Llasa prompt, built as token ids: caption, reference transcript, text, reference codes."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .captions import VoiceCaption
from .normalize import normalize_for_llasa

N_SPEECH_CODES = 65536


@dataclass(frozen=True)
class LlasaVocab:
    """Ids of the special tokens, looked up in the loaded model's own vocabulary."""

    begin_of_text: int
    start_header: int
    end_header: int
    eot: int
    text_start: int
    text_end: int
    speech_start: int
    speech_end: int
    speech_0: int

    def code_to_token(self, code: int) -> int:
        return self.speech_0 + code

    def token_to_code(self, token: int) -> int | None:
        """The speech code of a token id, or None for any other token."""
        code = token - self.speech_0
        return code if 0 <= code < N_SPEECH_CODES else None


# Token strings of LlasaVocab's fields, in field order.
SPECIAL_TOKENS = {
    "begin_of_text": "<|begin_of_text|>",
    "start_header": "<|start_header_id|>",
    "end_header": "<|end_header_id|>",
    "eot": "<|eot_id|>",
    "text_start": "<|TEXT_UNDERSTANDING_START|>",
    "text_end": "<|TEXT_UNDERSTANDING_END|>",
    "speech_start": "<|SPEECH_GENERATION_START|>",
    "speech_end": "<|SPEECH_GENERATION_END|>",
    "speech_0": "<|s_0|>",
}


@dataclass(frozen=True)
class ReferenceVoice:
    """A reference clip as speech codes plus what is said in it: the voice the model continues."""

    codes: tuple[int, ...]
    transcript: str

    def __post_init__(self) -> None:
        if not self.codes:
            raise ValueError("a reference voice needs at least one code")
        if any(not 0 <= c < N_SPEECH_CODES for c in self.codes):
            raise ValueError("reference codes must lie in 0..65535")


# tokenize(text) must tokenize plain text with special tokens *not* parsed and no BOS, so that a
# user typing "<|s_5|>" or "<|SPEECH_GENERATION_END|>" gets text tokens, never control ids.
Tokenize = Callable[[str], list[int]]


def build_prompt(
    vocab: LlasaVocab,
    tokenize: Tokenize,
    text: str,
    *,
    caption: VoiceCaption | None,
    reference: ReferenceVoice | None,
    with_system_block: bool,
    instruction: str = "Convert the text to speech:",
) -> list[int]:
    """Token ids of the whole prompt; generation continues right after the last id.

    with_system_block is True for the Captions model (its system block is present even when
    empty) and False for base Llasa, which was trained without one.
    """
    ids = [vocab.begin_of_text]
    if with_system_block:
        system = caption.system_text(normalize_for_llasa) if caption else ""
        ids += _header(vocab, tokenize, "system") + tokenize(system) + [vocab.eot]
    spoken = (reference.transcript if reference else "") + text
    ids += _header(vocab, tokenize, "user") + tokenize(instruction)
    ids += [vocab.text_start] + tokenize(normalize_for_llasa(spoken)) + [vocab.text_end, vocab.eot]
    ids += _header(vocab, tokenize, "assistant") + [vocab.speech_start]
    if reference:
        # Arithmetic, not tokenizing "<|s_N|>" strings: exact and ~1000x faster.
        ids += [vocab.speech_0 + c for c in reference.codes]
    return ids


def _header(vocab: LlasaVocab, tokenize: Tokenize, role: str) -> list[int]:
    return [vocab.start_header] + tokenize(role) + [vocab.end_header] + tokenize("\n\n")


def speech_tokens_only(vocab: LlasaVocab, ids: Sequence[int]) -> list[int]:
    """The speech codes among ids (used by tests and by reference clean-up)."""
    return [c for c in (vocab.token_to_code(i) for i in ids) if c is not None]
