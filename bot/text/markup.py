"""Rules for Discord's own markup (code, spoilers, links, mentions, timestamps, markdown) on raw content."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from .message import CodeBlockMode, CustomEmojiMode, SpoilerMode, UrlMode
from .timestamps import spoken_timestamp

CODE_OMITTED = "コード省略"
SPOILER = "ネタバレ"
URL_OMITTED = "URL省略"
UNKNOWN_USER = "不明なユーザー"
UNKNOWN_ROLE = "不明なロール"
UNKNOWN_CHANNEL = "不明なチャンネル"
EVERYONE = "エブリワン"
HERE = "ヒア"
# More emoji than this in one run is spam; the first few names say enough.
MAX_EMOJI_NAMES_IN_A_ROW = 3

# Code spans are parked as private-use characters while the spoiler rule runs, so `||` inside
# code is not a spoiler and code inside a spoiler goes with it. Input private-use characters are
# removed first (unspeakable anyway), so a placeholder can never be forged.
_PLACEHOLDER_BASE = 0xE000
_PLACEHOLDER_LIMIT = 0x1900
_PLACEHOLDER = re.compile("[\ue000-\uf8ff]")
_SPECIAL_TOKEN = re.compile(r"<\|[^<>|]{0,100}\|>")
_CODE_BLOCK = re.compile(r"```(?:[A-Za-z0-9_+#.\-]{1,30}\n)?(.*?)```", re.S)
_INLINE_CODE = re.compile(r"``(.+?)``|`([^`]+)`", re.S)
_SPOILER = re.compile(r"\|\|(.+?)\|\|", re.S)
_MASKED_LINK = re.compile(r"\[([^\[\]\n]{1,200})\]\(\s*<?([a-z][a-z0-9+.\-]*://[^\s()<>]+)>?\s*\)", re.I)
# Printable ASCII except < and >: a link ends at a space, at Japanese text, or at its <…> wrapper.
_URL = re.compile(r"<?(?<![a-z0-9+.\-])(?:[a-z][a-z0-9+.\-]{1,15}://|www\.)[!-;=?-~]+>?", re.I)
_URL_TRAILER = ".,!?;:'\"])}>*_~"
_CUSTOM_EMOJI_RUN = re.compile(r"(?:<a?:[A-Za-z0-9_~]{1,32}:\d{1,21}>\s*)+")
_CUSTOM_EMOJI = re.compile(r"<a?:([A-Za-z0-9_~]{1,32}):\d{1,21}>")
_USER = re.compile(r"<@!?(\d{1,21})>")
_ROLE = re.compile(r"<@&(\d{1,21})>")
_CHANNEL = re.compile(r"<#(\d{1,21})>")
_COMMAND = re.compile(r"</([^\s:<>][^:<>]{0,60}):\d{1,21}>")
_GUILD_NAVIGATION = re.compile(r"<id:[a-z_]{1,30}>")
_MASS_MENTION = re.compile(r"@(everyone|here)(?![A-Za-z0-9])")
_TIMESTAMP = re.compile(r"<t:(-?\d{1,20})(?::([A-Za-z]))?>")
_HEADING = re.compile(r"^[ \t]*(?:#{1,3}|-#)[ \t]+", re.M)
_QUOTE = re.compile(r"^[ \t]*>(?:>>)?(?:[ \t]|$)", re.M)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+", re.M)
_PAIRED = re.compile(r"(?<!\\)(?:\*\*|__|~~|\|\|)")
# Like Discord: *x* anywhere, _x_ only between non-word ASCII, so snake_case_names survive. Spans
# are bounded (tidy removes any marker left over) so a paste of "_a _a _a…" stays linear.
_ITALIC = re.compile(
    r"(?<!\\)\*(?![\s*])([^\n]{1,200}?)(?<![\s*\\])\*(?!\*)"
    r"|(?<![A-Za-z0-9_\\])_(?![\s_])([^\n]{1,200}?)(?<![\s_\\])_(?![A-Za-z0-9_])"
)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~>:<@])")


def remove_unsafe_characters(text: str) -> str:
    """Drop lone surrogates and private-use characters (they break encoders and are never spoken)."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("Cs", "Co"))


def remove_special_tokens(text: str) -> str:
    """Remove anything shaped like a model special token (`<|s_1|>`), and break up leftover halves."""
    text = _SPECIAL_TOKEN.sub("", text)
    # A stray "<|" next to a later "|>" from other rules could still form a token: split both.
    return text.replace("<|", "<").replace("|>", ">")


def hide_code(text: str) -> tuple[str, list[tuple[bool, str]]]:
    """Replace code blocks and inline code with placeholders; returns the spans as (is_block, text)."""
    spans: list[tuple[bool, str]] = []

    def park(is_block: bool, body: str) -> str:
        if len(spans) >= _PLACEHOLDER_LIMIT:
            return "" if is_block else body
        spans.append((is_block, body))
        return chr(_PLACEHOLDER_BASE + len(spans) - 1)

    text = _CODE_BLOCK.sub(lambda m: park(True, m.group(1)), text)
    text = _INLINE_CODE.sub(lambda m: park(False, m.group(1) or m.group(2)), text)
    return text, spans


def restore_code(text: str, spans: list[tuple[bool, str]], mode: CodeBlockMode) -> str:
    """Put code back: blocks as コード省略 (or nothing, or their text), inline code as its text."""
    def unpark(match: re.Match[str]) -> str:
        index = ord(match.group()) - _PLACEHOLDER_BASE
        if index >= len(spans):
            return ""
        is_block, body = spans[index]
        if not is_block or mode == "read":
            return f" {body} "
        return f" {CODE_OMITTED} " if mode == "omit" else " "

    return _PLACEHOLDER.sub(unpark, text)


def spoilers(text: str, mode: SpoilerMode) -> str:
    """||hidden|| → ネタバレ, nothing, or its text."""
    if mode == "read":
        return _SPOILER.sub(lambda m: m.group(1), text)
    return _SPOILER.sub(SPOILER if mode == "announce" else " ", text)


def links(text: str, mode: UrlMode) -> str:
    """Masked links keep their text; bare URLs become URL省略, the site's name, or nothing."""
    text = _MASKED_LINK.sub(lambda m: f" {m.group(1)} ", text)
    return _URL.sub(lambda m: _spoken_url(m.group(), mode), text)


def _spoken_url(raw: str, mode: UrlMode) -> str:
    url = raw.lstrip("<")
    trailer = ""
    if url.endswith(">"):
        url = url[:-1]
    else:
        # Punctuation right after a link ("…見て: https://x.com/a).") belongs to the sentence.
        body = url.rstrip(_URL_TRAILER)
        if "(" not in url:
            trailer, url = url[len(body):], body
    if mode == "drop":
        return f" {trailer}"
    site = _site_name(url) if mode == "domain" else None
    return f" {site}のURL{trailer} " if site else f" {URL_OMITTED}{trailer} "


_SECOND_LEVEL = frozenset({"co", "ac", "ne", "or", "go", "ed", "com", "net", "org", "gov", "edu"})


def _site_name(url: str) -> str | None:
    """The memorable label of a URL's host: https://www.youtube.com/… → youtube, bbc.co.uk → bbc."""
    try:
        host = urlsplit(url if "://" in url else f"http://{url}").hostname or ""
    except ValueError:
        return None
    labels = [label for label in host.split(".") if label and label != "www"]
    if len(labels) < 2 or all(label.isdigit() for label in labels):
        return None
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return labels[-3]
    return labels[-2]


def custom_emoji(text: str, mode: CustomEmojiMode) -> str:
    """<:name:id> → its name (a run of repeats said once) or nothing."""
    def run(match: re.Match[str]) -> str:
        if mode == "drop":
            return " "
        names = _dedupe([_emoji_name(name) for name in _CUSTOM_EMOJI.findall(match.group())])
        return f" {' '.join(names[:MAX_EMOJI_NAMES_IN_A_ROW])} "

    return _CUSTOM_EMOJI_RUN.sub(run, text)


def _emoji_name(name: str) -> str:
    # Discord suffixes duplicate names with ~1, ~2; words are split by underscores.
    return " ".join(name.split("~")[0].replace("_", " ").split())


def _dedupe(names: list[str]) -> list[str]:
    return [name for i, name in enumerate(names) if name and (i == 0 or names[i - 1] != name)]


def mentions(
    text: str,
    user_names: Mapping[int, str],
    role_names: Mapping[int, str],
    channel_names: Mapping[int, str],
) -> str:
    """<@id>, <@&id>, <#id>, </command:id>, @everyone and @here → names that can be said."""
    def named(names: Mapping[int, str], unknown: str) -> Callable[[re.Match[str]], str]:
        return lambda m: f" {_safe_name(names.get(int(m.group(1)), ''), unknown)} "

    text = _USER.sub(named(user_names, UNKNOWN_USER), text)
    text = _ROLE.sub(named(role_names, UNKNOWN_ROLE), text)
    text = _CHANNEL.sub(named(channel_names, UNKNOWN_CHANNEL), text)
    text = _COMMAND.sub(lambda m: f" {m.group(1)} ", text)
    text = _GUILD_NAVIGATION.sub(" ", text)
    return _MASS_MENTION.sub(lambda m: f" {EVERYONE if m.group(1) == 'everyone' else HERE} ", text)


def _safe_name(name: str, unknown: str) -> str:
    """A display name as text: unsafe characters and token look-alikes removed, never empty."""
    name = remove_special_tokens(remove_unsafe_characters(name)).strip()
    return " ".join(name.split()) or unknown


def timestamps(text: str, utc_offset_minutes: int, now: float | None) -> str:
    """<t:1700000000:f> → a spoken date and time in the server's time zone."""
    return _TIMESTAMP.sub(
        lambda m: f" {spoken_timestamp(int(m.group(1)), m.group(2) or 'f', utc_offset_minutes, now)} ", text
    )


def markdown(text: str) -> str:
    """Strip heading, subtext, quote and list markers, and bold/italic/underline/strike marks."""
    text = _HEADING.sub("", text)
    text = _QUOTE.sub("", text)
    text = _LIST_ITEM.sub("", text)
    text = _PAIRED.sub("", text)
    text = _ITALIC.sub(lambda m: m.group(1) or m.group(2), text)
    return _ESCAPE.sub(r"\1", text)
