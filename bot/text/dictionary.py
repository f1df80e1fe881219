"""Pronunciation dictionaries (word → reading), matched leftmost-longest with Aho-Corasick."""
from __future__ import annotations

import functools
import hashlib
import json
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import ahocorasick

from .errors import DictionaryError
from .rules import to_nfkc

FORMAT_NAME = "anime-llasa-bot/reading-dictionary"
FORMAT_VERSION = 1

# ASCII letters fold to lower case for matching: "Discord" finds the entry "discord". Only ASCII,
# so the folded text keeps every index of the original.
_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class DictionaryMatch:
    """One replacement: text[start:end] is read as `reading`."""

    start: int
    end: int
    reading: str


class ReadingDictionary:
    """An immutable word → reading table; changes return a new dictionary (one automaton per version)."""

    MAX_ENTRIES = 2000
    MAX_WORD_CHARS = 50
    MAX_READING_CHARS = 100
    MAX_JSON_CHARS = 1_000_000

    def __init__(self, entries: Mapping[str, str] | Iterable[tuple[str, str]] = (), *, _limit: int | None = None):
        """Validate and keep the entries (later duplicates win); raises DictionaryError on any bad one."""
        pairs = entries.items() if isinstance(entries, Mapping) else entries
        table: dict[str, tuple[str, str]] = {}
        for word, reading in pairs:
            word, reading = normalize_word(word), _checked_reading(word, reading)
            table.pop(_fold(word), None)  # re-inserting keeps the newest spelling and its position
            table[_fold(word)] = (word, reading)
        limit = self.MAX_ENTRIES if _limit is None else _limit
        if len(table) > limit:
            raise DictionaryError(f"a dictionary holds at most {limit} words; this one has {len(table)}")
        self._table = table
        self._hash = hash(frozenset(table.items()))
        self._automaton: ahocorasick.Automaton | None = None
        self._lock = threading.Lock()

    # --- reading the table -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._table)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._table.values())

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and _fold(_soft_normalize(word)) in self._table

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReadingDictionary) and self._table == other._table

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"ReadingDictionary({len(self)} words)"

    def get(self, word: str) -> str | None:
        """The reading of `word` (matched as the dictionary matches text), or None."""
        entry = self._table.get(_fold(_soft_normalize(word)))
        return entry[1] if entry else None

    def items(self) -> list[tuple[str, str]]:
        """(word, reading) pairs in the order they were added."""
        return list(self._table.values())

    @property
    def fingerprint(self) -> str:
        """A short content hash: equal dictionaries share it, so callers can key caches on it."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    # --- new versions --------------------------------------------------------------------------
    def with_entry(self, word: str, reading: str) -> ReadingDictionary:
        """A copy with `word` read as `reading` (replacing any earlier reading)."""
        return ReadingDictionary([*self.items(), (word, reading)])

    def without(self, word: str) -> ReadingDictionary:
        """A copy without `word`; raises DictionaryError if it is not there."""
        key = _fold(_soft_normalize(word))
        if key not in self._table:
            raise DictionaryError(f"{word!r} is not in the dictionary")
        return ReadingDictionary(pair for k, pair in self._table.items() if k != key)

    def merged(self, other: ReadingDictionary) -> ReadingDictionary:
        """This dictionary updated with every entry of `other` (other's readings win), within the limit."""
        return ReadingDictionary([*self.items(), *other.items()])

    @classmethod
    def layered(cls, *layers: ReadingDictionary | None) -> ReadingDictionary:
        """One dictionary from several, earlier layers winning: layered(user, server)."""
        return _layered(tuple(layer for layer in layers if layer is not None and len(layer)))

    # --- matching ------------------------------------------------------------------------------
    def find(self, text: str) -> list[DictionaryMatch]:
        """Leftmost-longest, non-overlapping matches; ASCII words only match as whole words."""
        if not self._table or not text:
            return []
        folded = _fold(text)
        longest: dict[int, tuple[int, str]] = {}
        for end, (length, reading, word_start, word_end) in self._matcher().iter(folded):
            start = end - length + 1
            if word_start and start > 0 and _is_ascii_alnum(folded[start - 1]):
                continue
            if word_end and end + 1 < len(folded) and _is_ascii_alnum(folded[end + 1]):
                continue
            if length > longest.get(start, (0, ""))[0]:
                longest[start] = (length, reading)
        matches: list[DictionaryMatch] = []
        position = 0
        for start in sorted(longest):
            if start >= position:
                length, reading = longest[start]
                matches.append(DictionaryMatch(start, start + length, reading))
                position = start + length
        return matches

    def apply(self, text: str) -> str:
        """Text with every match replaced by its reading."""
        out: list[str] = []
        position = 0
        for match in self.find(text):
            out += [text[position:match.start], match.reading]
            position = match.end
        out.append(text[position:])
        return "".join(out)

    def _matcher(self) -> ahocorasick.Automaton:
        # Built on first use and kept: a dictionary is immutable, so one automaton serves every call.
        if self._automaton is None:
            with self._lock:
                if self._automaton is None:
                    automaton = ahocorasick.Automaton()
                    for key, (_, reading) in self._table.items():
                        value = (len(key), reading, _is_ascii_alnum(key[0]), _is_ascii_alnum(key[-1]))
                        automaton.add_word(key, value)
                    automaton.make_automaton()
                    self._automaton = automaton
        return self._automaton

    # --- files -----------------------------------------------------------------------------------
    def to_json(self) -> str:
        """The dictionary as a JSON document that from_json reads back."""
        entries = [{"word": word, "reading": reading} for word, reading in self.items()]
        document = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "entries": entries}
        return json.dumps(document, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> ReadingDictionary:
        """Read an exported dictionary (or a plain {"word": "reading"} object); all or nothing."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise DictionaryError("the dictionary file is not UTF-8 text") from None
        if len(text) > cls.MAX_JSON_CHARS:
            raise DictionaryError(f"the dictionary file is too large (over {cls.MAX_JSON_CHARS:,} characters)")
        try:
            document = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as error:
            raise DictionaryError(f"the dictionary file is not valid JSON ({_json_error(error)})") from None
        return cls(_entries_of(document))


def normalize_word(word: Any) -> str:
    """A dictionary word as it is matched: NFKC (like the chat text it meets), trimmed, checked."""
    if not isinstance(word, str):
        raise DictionaryError(f"a word must be text, not {type(word).__name__}")
    if not _printable(word.replace("\t", " ")):
        raise DictionaryError(f"the word {word!r} contains line breaks or control characters")
    normalized = _soft_normalize(word)
    if not normalized:
        raise DictionaryError("a word cannot be empty")
    if len(normalized) > ReadingDictionary.MAX_WORD_CHARS:
        raise DictionaryError(
            f"the word {normalized[:20]!r}… is {len(normalized)} characters; the limit is "
            f"{ReadingDictionary.MAX_WORD_CHARS}"
        )
    return normalized


def _checked_reading(word: Any, reading: Any) -> str:
    if not isinstance(reading, str):
        raise DictionaryError(f"the reading of {word!r} must be text, not {type(reading).__name__}")
    if not _printable(reading.replace("\t", " ")):
        raise DictionaryError(f"the reading of {word!r} contains line breaks or control characters")
    reading = " ".join(reading.split())
    if not reading:
        raise DictionaryError(f"the reading of {word!r} is empty")
    if len(reading) > ReadingDictionary.MAX_READING_CHARS:
        raise DictionaryError(
            f"the reading of {word!r} is {len(reading)} characters; the limit is {ReadingDictionary.MAX_READING_CHARS}"
        )
    if "<|" in reading or "|>" in reading:
        raise DictionaryError(f"the reading of {word!r} contains <|…|> markers, which the speech model reserves")
    return reading


def _soft_normalize(word: str) -> str:
    return " ".join(to_nfkc(word).split())


def _printable(text: str) -> bool:
    return all(unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") for ch in text)


def _fold(text: str) -> str:
    return text.translate(_ASCII_FOLD)


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _entries_of(document: Any) -> list[tuple[Any, Any]]:
    """(word, reading) pairs from any accepted layout; DictionaryError names the first bad entry."""
    if isinstance(document, dict) and "entries" in document:
        if document.get("format", FORMAT_NAME) != FORMAT_NAME:
            raise DictionaryError(f"this is not a reading dictionary (format {document.get('format')!r})")
        version = document.get("version", FORMAT_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
            raise DictionaryError(f"dictionary format version {version!r} is newer than this bot understands")
        document = document["entries"]
    if isinstance(document, dict):
        return list(document.items())
    if not isinstance(document, list):
        raise DictionaryError('expected {"entries": [{"word": …, "reading": …}, …]} or {"word": "reading", …}')
    pairs: list[tuple[Any, Any]] = []
    for index, entry in enumerate(document, start=1):
        if not isinstance(entry, dict) or "word" not in entry or "reading" not in entry:
            raise DictionaryError(f'entry {index} must look like {{"word": "…", "reading": "…"}}')
        pairs.append((entry["word"], entry["reading"]))
    return pairs


def _json_error(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"line {error.lineno}, column {error.colno}: {error.msg}"
    return "nested too deeply"


@functools.lru_cache(maxsize=64)
def _layered(layers: tuple[ReadingDictionary, ...]) -> ReadingDictionary:
    # Cached on content, so the per-message layered(user, server) reuses one automaton.
    if len(layers) == 1:
        return layers[0]
    pairs = [pair for layer in reversed(layers) for pair in layer.items()]
    return ReadingDictionary(pairs, _limit=sum(len(layer) for layer in layers))
