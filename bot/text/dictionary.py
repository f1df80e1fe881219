"""Pronunciation dictionaries (word → reading), matched leftmost-longest with Aho-Corasick."""
from __future__ import annotations

import codecs
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
from .rules import to_nfkc, unicode_emoji

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
    """An immutable word → reading table; changes return a new dictionary (one automaton per version).

    Building one (validation) and its automaton (built on the first match, then kept) cost
    milliseconds per thousand words: async code builds and matches in a thread, never on the loop.
    """

    MAX_ENTRIES = 2000
    MAX_WORD_CHARS = 50
    MAX_READING_CHARS = 100
    MAX_JSON_CHARS = 1_000_000

    def __init__(self, entries: Mapping[str, str] | Iterable[tuple[str, str]] = (), *, _limit: int | None = None):
        """Validate and keep the entries (later duplicates win); raises DictionaryError on any bad one."""
        pairs = entries.items() if isinstance(entries, Mapping) else entries
        self._keep(_validated_table(pairs), self.MAX_ENTRIES if _limit is None else _limit)

    @classmethod
    def _of_table(cls, table: dict[str, tuple[str, str]]) -> ReadingDictionary:
        # For tables made of already-validated dictionaries: checking every word again made layering
        # two full dictionaries ~15 times slower (39 ms against 2.6 ms on a 2-core test machine).
        dictionary = cls.__new__(cls)
        dictionary._keep(table, len(table))
        return dictionary

    def _keep(self, table: dict[str, tuple[str, str]], limit: int) -> None:
        if len(table) > limit:
            raise DictionaryError("dictionary.too_many", limit=limit, count=len(table))
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
            raise DictionaryError("dictionary.not_found", word=repr(word))
        return ReadingDictionary(pair for k, pair in self._table.items() if k != key)

    def merged(self, other: ReadingDictionary) -> ReadingDictionary:
        """This dictionary updated with every entry of `other` (other's readings win), within the limit."""
        return ReadingDictionary([*self.items(), *other.items()])

    @classmethod
    def layered(cls, *layers: ReadingDictionary | None) -> ReadingDictionary:
        """One dictionary from several, earlier layers winning: layered(user, server).

        The last MAX_LAYERED_CACHED results are kept, keyed on content, so the per-message call
        reuses one automaton until a layer changes. Merging needs no checks (~3 ms for 4,000 words).
        """
        kept = tuple(layer for layer in layers if layer is not None and len(layer))
        return kept[0] if len(kept) == 1 else _layered(kept)

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
                    self._automaton = _compile(self._table)
        return self._automaton

    # --- files -----------------------------------------------------------------------------------
    def to_json(self) -> str:
        """The dictionary as a JSON document that from_json reads back."""
        entries = [{"word": word, "reading": reading} for word, reading in self.items()]
        document = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "entries": entries}
        return json.dumps(document, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> ReadingDictionary:
        """Read an exported dictionary (or a plain {"word": "reading"} object); all or nothing.

        Every refusal is a DictionaryError that says where: the line and column of bad JSON, or the
        entry number of a bad word or reading. ~0.2 s of CPU for a full 1 MB file: call it in a thread.
        """
        if len(text) > cls.MAX_JSON_CHARS:  # bytes or characters: checked before any work
            raise DictionaryError("dictionary.file_too_large", limit=cls.MAX_JSON_CHARS)
        if isinstance(text, bytes):
            text = _decoded(text)
        try:
            document = json.loads(text, parse_int=_parse_int, object_pairs_hook=_object_once)
        except (json.JSONDecodeError, RecursionError) as error:
            raise DictionaryError("dictionary.bad_json", detail=_json_error(error)) from None
        pairs = _entries_of(document)
        if len(pairs) > cls.MAX_ENTRIES:
            raise DictionaryError("dictionary.file_too_many", limit=cls.MAX_ENTRIES, count=len(pairs))
        return cls._of_table(_validated_table(pairs, from_file=True))


def normalize_word(word: Any) -> str:
    """A dictionary word as it is matched: NFKC (like the chat text it meets), trimmed, checked."""
    if not isinstance(word, str):
        raise DictionaryError("dictionary.word_not_text", kind=_kind(word))
    if not _printable(word.replace("\t", " ")):
        raise DictionaryError("dictionary.word_bad_characters", word=_shown(word))
    normalized = _soft_normalize(word)
    if not normalized:
        raise DictionaryError("dictionary.word_empty")
    if len(normalized) > ReadingDictionary.MAX_WORD_CHARS:
        raise DictionaryError("dictionary.word_too_long", word=repr(normalized[:20]), length=len(normalized),
                              limit=ReadingDictionary.MAX_WORD_CHARS)
    return normalized


def checked_entry(word: Any, reading: Any) -> tuple[str, str]:
    """A new (word, reading) from a user, normalised; DictionaryError says what is wrong.

    Stricter than loading a stored dictionary (which must keep loading): a word that could never
    match is refused here, so that nobody adds one and wonders why it is not read.
    """
    word, reading = _entry(word, reading)
    if unicode_emoji(word, "drop") != word:
        raise DictionaryError("dictionary.word_emoji", word=_shown(word))
    return word, reading


def _entry(word: Any, reading: Any) -> tuple[str, str]:
    word = normalize_word(word)
    return word, _checked_reading(word, reading)


def _checked_reading(word: str, reading: Any) -> str:
    if not isinstance(reading, str):
        raise DictionaryError("dictionary.reading_not_text", word=_shown(word), kind=_kind(reading))
    if not _printable(reading.replace("\t", " ")):
        raise DictionaryError("dictionary.reading_bad_characters", word=_shown(word))
    reading = " ".join(reading.split())
    if not reading:
        raise DictionaryError("dictionary.reading_empty", word=_shown(word))
    if len(reading) > ReadingDictionary.MAX_READING_CHARS:
        raise DictionaryError("dictionary.reading_too_long", word=_shown(word), length=len(reading),
                              limit=ReadingDictionary.MAX_READING_CHARS)
    if "<|" in reading or "|>" in reading:
        raise DictionaryError("dictionary.reading_markers", word=_shown(word))
    return reading


def _validated_table(pairs: Iterable[tuple[Any, Any]], *, from_file: bool = False) -> dict[str, tuple[str, str]]:
    """folded word → (word, reading). Later duplicates win, unless `from_file`: then every entry is
    new input (checked_entry), two readings for one word are refused, and errors name the entry."""
    table: dict[str, tuple[str, str]] = {}
    first_seen: dict[str, int] = {}
    check = checked_entry if from_file else _entry
    for index, (word, reading) in enumerate(pairs, start=1):
        try:
            word, reading = check(word, reading)
        except DictionaryError as error:
            if not from_file:
                raise
            raise DictionaryError("dictionary.entry", index=index, error=error) from None
        key = _fold(word)
        if from_file and key in table and table[key][1] != reading:
            earlier = table[key][0]
            raise DictionaryError("dictionary.two_readings", first=first_seen[key], index=index, earlier=_shown(earlier),
                                  earlier_reading=_shown(table[key][1]), word=_shown(word), reading=_shown(reading))
        table.pop(key, None)  # re-inserting keeps the newest spelling and its position
        table[key] = (word, reading)
        first_seen.setdefault(key, index)
    return table


def _compile(table: Mapping[str, tuple[str, str]]) -> ahocorasick.Automaton:
    """The matcher for a table: milliseconds per thousand words, so never on the event loop."""
    automaton = ahocorasick.Automaton()
    for key, (_, reading) in table.items():
        automaton.add_word(key, (len(key), reading, _is_ascii_alnum(key[0]), _is_ascii_alnum(key[-1])))
    automaton.make_automaton()
    return automaton


def _soft_normalize(word: str) -> str:
    return " ".join(to_nfkc(word).split())


def _printable(text: str) -> bool:
    return all(unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") for ch in text)


def _fold(text: str) -> str:
    return text.translate(_ASCII_FOLD)


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _shown(text: str, limit: int = 30) -> str:
    """User text quoted in an error message, cut short: a reply over 2,000 characters would fail to send."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _kind(value: Any) -> str:
    """What a JSON value is, in the words of someone editing the file."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float, _LongNumber)):
        return "a number"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "text" if isinstance(value, str) else type(value).__name__


class _LongNumber:
    """A JSON integer too long to be anything a dictionary holds; Python refuses to read one over
    4,300 digits with a bare ValueError, so it is never converted."""


_MAX_NUMBER_DIGITS = 30


def _parse_int(digits: str) -> int | _LongNumber:
    return int(digits) if len(digits) <= _MAX_NUMBER_DIGITS else _LongNumber()


def _object_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key given twice (json would silently keep the last)."""
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise DictionaryError("dictionary.key_twice", key=_shown(key))
        document[key] = value
    return document


def _decoded(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DictionaryError("dictionary.utf16")
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as error:
        at = bom + error.start  # counted in the file as the user has it, BOM included
        line = data[:at].count(b"\n") + 1
        raise DictionaryError("dictionary.not_utf8", line=line, byte=at + 1) from None


def _entries_of(document: Any) -> list[tuple[Any, Any]]:
    """(word, reading) pairs from any accepted layout; DictionaryError names the first bad entry."""
    if isinstance(document, dict) and "entries" in document:
        kind = document.get("format", FORMAT_NAME)
        if kind != FORMAT_NAME:
            shown = _shown(kind) if isinstance(kind, str) else _kind(kind)
            raise DictionaryError("dictionary.wrong_format", format=shown)
        version = document.get("version", FORMAT_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            shown = version if isinstance(version, int) and not isinstance(version, bool) else _kind(version)
            raise DictionaryError("dictionary.bad_version", version=shown)
        if version > FORMAT_VERSION:
            raise DictionaryError("dictionary.newer_version", version=version)
        document = document["entries"]
    if isinstance(document, dict):
        return list(document.items())
    if not isinstance(document, list):
        raise DictionaryError("dictionary.bad_layout")
    pairs: list[tuple[Any, Any]] = []
    for index, entry in enumerate(document, start=1):
        if not isinstance(entry, dict) or "word" not in entry or "reading" not in entry:
            raise DictionaryError("dictionary.bad_entry", index=index)
        pairs.append((entry["word"], entry["reading"]))
    return pairs


def _json_error(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"line {error.lineno}, column {error.colno}: {error.msg}"
    return "nested too deeply"


# Layered dictionaries kept (with their automata), one per recent (user, server) pair that both have
# words. Small on purpose: a result holds up to 4,000 words (~10 MiB of automaton at 50-character
# words), and a miss costs only a merge and, on the first match, a compile (~3 ms for 4,000 words).
MAX_LAYERED_CACHED = 32


@functools.lru_cache(maxsize=MAX_LAYERED_CACHED)
def _layered(layers: tuple[ReadingDictionary, ...]) -> ReadingDictionary:
    # Cached on content, so the per-message layered(user, server) reuses one automaton until a
    # layer changes (a changed layer is a different key; the stale result ages out).
    table: dict[str, tuple[str, str]] = {}
    for layer in reversed(layers):
        for key, pair in layer._table.items():
            table.pop(key, None)
            table[key] = pair
    return ReadingDictionary._of_table(table)
