"""The text normalisation Anime-Llasa's training data went through, applied to every prompt text."""
from __future__ import annotations

import re
import unicodedata

# Removed outright: tabs, the "[n]" marker, ASCII and ideographic spaces, and symbols the
# training data never kept. Dash variants go too; the katakana long mark ー is not a dash.
_REMOVE = re.compile(r"\[n\]|[\t \u3000;▼♀♂《》≪≫①②③④⑤⑥\u2010\u2012\u2013\u2014\u2015\u2212\uff0d]")
_WAVE_DASH = re.compile(r"[～〜]")
_CIRCLES = re.compile(r"[●◯〇]")
_ELLIPSIS_RUN = re.compile(r"…{3,}")
_HALFWIDTH_KATAKANA = re.compile(r"[\uff61-\uff9f]+")
_FULLWIDTH_ALNUM = re.compile(r"[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")


def normalize_for_llasa(text: str) -> str:
    """Rewrite text the way the model's training data was written (see the seed web UI)."""
    text = _REMOVE.sub("", text)
    text = _WAVE_DASH.sub("ー", text)
    text = text.replace("？", "?").replace("！", "!")
    text = _CIRCLES.sub("○", text)
    text = text.replace("♥", "♡")
    text = _FULLWIDTH_ALNUM.sub(lambda m: chr(ord(m.group()) - 0xFEE0), text)
    # NFKC composes half-width kana with their voicing marks (ｶﾞ → ガ), which a table would not.
    text = _HALFWIDTH_KATAKANA.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    return _ELLIPSIS_RUN.sub("……", text)
