"""Discord markup rules: what a listener hears for each shape of message Discord sends."""
from __future__ import annotations

from dataclasses import replace

import pytest

from bot.text import ReadingSettings, speakable_text
from tests.text.fakes import ALICE_ID, AS_WRITTEN, BOB_ID, CHANNEL_ID, EMOJI_ID, ROLE_ID, chat


def said(content: str, settings: ReadingSettings = AS_WRITTEN, **fields) -> str:
    return speakable_text(chat(content, **fields), settings)


@pytest.mark.parametrize(("content", "code_blocks", "expected"), [
    ("見て\n```py\nprint('hi')\n```", "omit", "見て、コード省略"),
    ("```\nx = 1\n```これ", "omit", "コード省略 これ"),
    ("前```js\nalert(1)```後", "drop", "前 後"),
    ("```py\nprint\n```", "read", "print"),
    ("`npm` を入れて", "omit", "npm を入れて"),
    ("``a `b` c``だよ", "omit", "a b c だよ"),
    ("```unclosed code", "omit", "unclosed code"),
])
def test_code_blocks_and_inline_code(content, code_blocks, expected):
    assert said(content, replace(AS_WRITTEN, code_blocks=code_blocks)) == expected


@pytest.mark.parametrize(("content", "spoilers", "expected"), [
    ("犯人は||執事||だった", "announce", "犯人はネタバレだった"),
    ("犯人は||執事||だった", "drop", "犯人は だった"),
    ("犯人は||執事||だった", "read", "犯人は執事だった"),
    ("||`内緒`||です", "drop", "です"),                      # code inside a spoiler goes with it
    ("||```\nsecret\n```||です", "announce", "ネタバレです"),
    ("`||見える||` のまま", "announce", "見える のまま"),          # not a spoiler inside code
    ("```\n||x||\n```", "read", "コード省略"),                 # a spoiler inside code is code
    ("||a ||b|| c||", "announce", "ネタバレbネタバレ"),       # Discord pairs them left to right
    ("||閉じてない", "announce", "閉じてない"),
])
def test_spoilers(content, spoilers, expected):
    assert said(content, replace(AS_WRITTEN, spoilers=spoilers)) == expected


@pytest.mark.parametrize(("content", "urls", "expected"), [
    ("見て https://www.youtube.com/watch?v=dQw4w9WgXcQ", "omit", "見て URL省略"),
    ("見て https://www.youtube.com/watch?v=dQw4w9WgXcQ", "domain", "見て youtubeのURL"),
    ("見て https://www.youtube.com/watch?v=dQw4w9WgXcQ", "drop", "見て"),
    ("https://news.bbc.co.uk/a。どう？", "domain", "bbcのURL。どう?"),
    ("<https://example.com/no-embed>だよ", "omit", "URL省略 だよ"),
    ("これ(https://example.com/a)見て", "omit", "これ(URL省略) 見て"),
    ("[公式サイト](https://example.com)を見て", "omit", "公式サイト を見て"),
    ("[ここ](<https://example.com>)", "omit", "ここ"),
    ("www.example.com/page を見て", "omit", "URL省略 を見て"),
    ("ここhttps://x.com/a見て", "omit", "ここ URL省略 見て"),
    ("http://192.168.0.1/", "domain", "URL省略"),
])
def test_links(content, urls, expected):
    assert said(content, replace(AS_WRITTEN, urls=urls)) == expected


@pytest.mark.parametrize(("content", "mode", "expected"), [
    (f"草<:kusa:{EMOJI_ID}>", "name", "草 kusa"),
    (f"<a:party_parrot:{EMOJI_ID}>いえい", "name", "party parrot いえい"),
    (f"<:kusa:{EMOJI_ID}><:kusa:{EMOJI_ID}> <:kusa:{EMOJI_ID}>", "name", "kusa"),
    (f"<:a:{EMOJI_ID}><:b:{EMOJI_ID}><:c:{EMOJI_ID}><:d:{EMOJI_ID}><:e:{EMOJI_ID}>", "name", "a b c"),
    (f"<:kusa~1:{EMOJI_ID}>", "name", "kusa"),
    (f"草<:kusa:{EMOJI_ID}>", "drop", "草"),
])
def test_custom_emoji(content, mode, expected):
    assert said(content, replace(AS_WRITTEN, custom_emoji=mode)) == expected


@pytest.mark.parametrize(("content", "expected"), [
    (f"<@{ALICE_ID}> おはよう", "ありす おはよう"),
    (f"<@!{BOB_ID}>さん", "Bob さん"),
    (f"<@&{ROLE_ID}> の皆さん", "運営 の皆さん"),
    (f"<#{CHANNEL_ID}>に来て", "雑談 に来て"),
    ("<@999>誰？", "不明なユーザー 誰?"),
    ("</join:1234567890> で呼んで", "join で呼んで"),
    ("@everyone 集合", "エブリワン 集合"),
    ("@here 集合", "ヒア 集合"),
    ("<id:customize> を見て", "を見て"),
])
def test_mentions(content, expected):
    assert said(content) == expected


def test_display_names_cannot_smuggle_tokens_or_markup():
    message = chat(f"<@{ALICE_ID}>", user_names={ALICE_ID: "<|s_1|>ありす\ue000\u200b"})
    assert speakable_text(message, AS_WRITTEN) == "ありす"


@pytest.mark.parametrize(("content", "expected"), [
    ("<t:1700000000:t>に", "7時13分 に"),            # 2023-11-15 07:13:20 JST
    ("<t:1700000000:T>", "7時13分20秒"),
    ("<t:1700000000:d>", "2023年11月15日"),
    ("<t:1700000000:D>", "2023年11月15日"),
    ("<t:1700000000>", "2023年11月15日7時13分"),
    ("<t:1700000000:F>", "2023年11月15日水曜日7時13分"),
    ("<t:1700007200:R>", "2時間後"),
    ("<t:1699913600:R>", "1日前"),
    ("<t:99999999999999999999:f>", ""),
])
def test_timestamps(content, expected):
    assert said(content, created_at=1700000000.0) == expected


def test_relative_timestamp_without_a_clock_reads_the_date():
    assert said("<t:1700000000:R>", created_at=None) == "2023年11月15日7時13分"


def test_timestamps_follow_the_servers_time_zone():
    assert said("<t:1700000000:t>", replace(AS_WRITTEN, utc_offset_minutes=0)) == "22時13分"


@pytest.mark.parametrize(("content", "expected"), [
    ("# 大見出し", "大見出し"),
    ("### 小見出し\n本文", "小見出し、本文"),
    ("-# 小さい文字", "小さい文字"),
    ("> 引用\n返事", "引用、返事"),
    (">>> 全部\n引用", "全部、引用"),
    ("- りんご\n- みかん\n1. いち", "りんご、みかん、いち"),
    ("**太字**と*斜体*と__下線__と~~取消~~", "太字と斜体と下線と取消"),
    ("***全部***", "全部"),
    ("_italic_ と snake_case_name", "italic と snake case name"),
    ("\\*エスケープ\\*", "エスケープ"),
    ("#タグ", "#タグ"),
    ("2*3*4", "234"),
])
def test_markdown_markers(content, expected):
    assert said(content) == expected
