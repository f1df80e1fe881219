"""Long text is cut into pieces the model can say in one go."""
from __future__ import annotations

from hypothesis import given, strategies as st

from bot.speech.sentences import split_sentences


def test_short_sentences_are_joined_and_long_ones_cut_at_commas():
    assert split_sentences("こんにちは。元気？うん！") == ["こんにちは。元気？うん！"]
    long = "あ" * 50 + "、" + "い" * 50 + "。"
    assert split_sentences(long, max_chars=80) == ["あ" * 50 + "、", "い" * 50 + "。"]
    assert split_sentences("Hello there. How are you?", max_chars=15) == ["Hello there.", "How are you?"]


@given(st.text(max_size=2000), st.integers(min_value=5, max_value=200))
def test_pieces_respect_the_limit_and_keep_every_visible_character(text, max_chars):
    pieces = split_sentences(text, max_chars)
    assert all(0 < len(p) <= max_chars for p in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())
