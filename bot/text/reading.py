"""Compare what was meant with what was heard by reading: both sides to katakana, then character error rate.

Readings, not written text: 今日は and きょうは are the same speech. Long vowels (ー) and small
vowel kana are spelled out as their vowel, so ネー, ねぇ and ねえ compare equal.
"""
from __future__ import annotations

from .kana import katakana_reading

# Katakana vowel rows: the vowel each kana ends in, for spelling out ー.
_ROWS = {
    "ア": "アカガサザタダナハバパマヤャラワァヮヵ",
    "イ": "イキギシジチヂニヒビピミリィ",
    "ウ": "ウクグスズツヅヌフブプムユュルゥヴ",
    "エ": "エケゲセゼテデネヘベペメレェヶ",
    "オ": "オコゴソゾトドノホボポモヨョロヲォ",
}
_VOWEL_OF = {kana: vowel for vowel, row in _ROWS.items() for kana in row}
# Spellings that sound alike: small vowels and ヮヵヶ as full kana, ヲ ヂ ヅ as オ ジ ズ.
_SAME_SOUND = str.maketrans("ァィゥェォヮヵヶヲヂヅ", "アイウエオワカケオジズ")


def normalized_reading(text: str) -> str:
    """Katakana only, long vowels and small vowels spelled out; punctuation, spaces and the rest dropped."""
    out: list[str] = []
    for ch in katakana_reading(text):
        if ch == "ー":
            if out and out[-1] in _VOWEL_OF:
                out.append(_VOWEL_OF[out[-1]])
        elif "\u30a1" <= ch <= "\u30fa":
            out.append(ch)
    return "".join(out).translate(_SAME_SOUND)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions, one each."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def reading_cer(expected: str, heard: str) -> float:
    """Character error rate of heard against expected, by reading: 0 is a perfect match; can exceed 1."""
    want, got = normalized_reading(expected), normalized_reading(heard)
    if not want:
        return 0.0 if not got else 1.0
    return edit_distance(want, got) / len(want)
