"""Split long text into pieces the model can say in one go (Llasa trained on ≤ 2048 tokens)."""
from __future__ import annotations

import re

# Japanese runs about 7–9 characters a second: 80 characters ≈ 10 s ≈ 500 speech tokens,
# well inside the training length even with a reference clip in the prompt.
DEFAULT_MAX_CHARS = 80

_SENTENCE_END = re.compile(r"(?<=[。！？!?．\n])|(?<=\.)(?=\s)")
_SOFT_BREAK = re.compile(r"(?<=[、，,；;：:）)」』】])")


def split_sentences(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Cut text at sentence ends, join short sentences, and break over-long ones at commas."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        if sentence:
            pieces += _break_long(sentence, max_chars)
    return _join_short(pieces, max_chars)


def _break_long(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    parts = _join_short([p for p in _SOFT_BREAK.split(sentence) if p], max_chars)
    out: list[str] = []
    for part in parts:
        # No comma to cut at: cut hard, the model copes better than with an overlong prompt.
        out += [part[i:i + max_chars] for i in range(0, len(part), max_chars)]
    return out


def _join_short(pieces: list[str], max_chars: int) -> list[str]:
    joined: list[str] = []
    for piece in pieces:
        if joined and len(joined[-1]) + len(piece) <= max_chars:
            joined[-1] += piece
        else:
            joined.append(piece)
    return joined
