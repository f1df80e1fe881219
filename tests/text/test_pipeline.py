"""The whole pipeline on real Discord message shapes, nasty ones included, plus properties for any input."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.text import Attachment, ReadingDictionary, ReadingSettings, speakable_text
from bot.text.rules import TRUNCATION_MARK
from tests.text.fakes import ALICE_ID, AS_WRITTEN, CHANNEL_ID, EMOJI_ID, ROLE_ID, chat

DEFAULT = ReadingSettings()


def said(content: str, settings: ReadingSettings = DEFAULT, **fields) -> str:
    return speakable_text(chat(content, **fields), settings)


@pytest.mark.parametrize(("content", "expected"), [
    ("今日は**良い**天気ですねwww", "きょうはよいてんきですねわらわら"),
    (f"<@{ALICE_ID}> 10:30に<#{CHANNEL_ID}>集合！", "ありす じゅうじさんじゅっぷんに ざつだん しゅうごう!"),
    ("hello world! GG", "ハロー ワールド! ジージー"),
    ("見て https://www.youtube.com/watch?v=abc", "みて ユーアールエルしょうりゃく"),
    ("```py\nprint('hi')\n```これ動かない", "コードしょうりゃく これうごかない"),
    ("あああああああ！！！！！", "あああ!!!"),
    ("（囁き）ねえ、聞こえる？（笑いながら）ふふ", "（囁き）ねえ、きこえる?（笑いながら）ふふ"),
    ("2024年に始まった", "にせんにじゅうよねんにはじまった"),
])
def test_everyday_messages(content, expected):
    assert said(content) == expected


@pytest.mark.parametrize("content", [
    "",
    "   \n\n  ",
    "😀😂👍🏽🇯🇵",                                     # only emoji
    "\u200b\u200c\u200d\ufeff",                      # only zero-width characters
    "<|s_1|><|s_2|><|SPEECH_GENERATION_END|>",      # model tokens typed in chat
    "||||",
    "**__~~~~__**",
    "!!!???",
    f"<a:blob:{EMOJI_ID}>",
])
def test_nothing_to_say_gives_an_empty_string(content):
    settings = replace(DEFAULT, custom_emoji="drop")
    assert said(content, settings) == ""


def test_only_a_url():
    assert said("https://example.com/some/long/path?q=1") == "ユーアールエルしょうりゃく"
    assert said("https://example.com/a", replace(DEFAULT, urls="drop")) == ""


@pytest.mark.parametrize("content", [
    "<|s_1|>こんにちは<|s_23|>",
    "＜｜s_1｜＞こんにちは",                        # full-width: NFKC would rebuild the token
    "<|SPEECH_GENERATION_END|>",
    "<|<|eot_id|>|>こんにちは",
    f"<@{ALICE_ID}>",                               # a display name holding a token
    "`<|s_1|>`こんにちは",
    "（<|s_1|>）こんにちは",
])
def test_model_tokens_never_survive(content):
    text = speakable_text(chat(content, user_names={ALICE_ID: "<|s_9|>"}), DEFAULT)
    assert "<|" not in text and "|>" not in text and "s_1" not in text


def test_nested_spoilers_inside_code_and_code_inside_spoilers():
    content = "```\n||内緒||\n```と||`秘密`と```\nコード\n```||と`||見える||`"
    assert said(content, AS_WRITTEN) == "コード省略 とネタバレと 見える"


def test_a_4000_character_paste_is_cut_fast():
    paste = ("長文のコピペです。これは荒らしではありませんhttps://example.com/x 😀 hello world\n" * 80)[:4000]
    started = time.perf_counter()
    text = said(paste)
    elapsed = time.perf_counter() - started
    assert text.endswith(TRUNCATION_MARK) and len(text) <= DEFAULT.max_chars + len(TRUNCATION_MARK)
    assert elapsed < 1.0


def test_a_4000_character_english_paste_is_cut_fast():
    words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dogs", "while", "zebras", "quietly", "vanish"]
    paste = " ".join(f"{w}{i % 97}x" for i, w in enumerate(words * 400))[:4000]
    started = time.perf_counter()
    text = said(paste)
    assert len(text) <= DEFAULT.max_chars + len(TRUNCATION_MARK)
    assert time.perf_counter() - started < 5.0  # kanalizer ~9 ms a new word; the pre-cut bounds the count


def test_right_to_left_and_bidi_tricks():
    assert said("\u202eこんにちは\u202c مرحبا", AS_WRITTEN) == "こんにちは مرحبا"


def test_replies_are_announced_when_asked():
    settings = replace(AS_WRITTEN, announce_replies=True)
    assert said("了解", settings, is_reply=True, reply_to_name="Bob") == "Bobへの返信、了解"
    assert said("了解", settings, is_reply=True, reply_to_name=None) == "返信、了解"
    assert said("了解", AS_WRITTEN, is_reply=True, reply_to_name="Bob") == "了解"


def test_attachments_and_stickers_are_described():
    attachments = (Attachment("cat.png", "image/png"), Attachment("dog.webp", None))
    assert said("見て", AS_WRITTEN, attachments=attachments) == "見て、画像2枚"
    assert said("", AS_WRITTEN, sticker_names=("Wave",)) == "スタンプ"
    assert said("", replace(AS_WRITTEN, describe_attachments=False), sticker_names=("Wave",)) == ""


def test_long_messages_end_with_the_mark_and_never_exceed_the_limit():
    for limit in (1, 5, 20, 100):
        text = said("今日はとても良い天気ですね。" * 50, replace(DEFAULT, max_chars=limit))
        assert text.endswith(TRUNCATION_MARK) and len(text) <= limit + len(TRUNCATION_MARK)


def test_the_dictionary_protects_proper_nouns_from_the_kana_pass():
    dictionary = ReadingDictionary({"米津玄師": "よねづけんし"})
    assert said("米津玄師の新曲", DEFAULT) == "よねつげんしのしんきょく"  # the reader alone gets it wrong
    assert speakable_text(chat("米津玄師の新曲"), DEFAULT, dictionary) == "よねづけんしのしんきょく"


# --- properties -------------------------------------------------------------------------------
FRAGMENTS = [
    "```", "`", "||", "**", "__", "~~", "*", "_", "> ", ">>> ", "# ", "-# ", "- ", "\n", "\\",
    f"<@{ALICE_ID}>", f"<@!{ALICE_ID}>", f"<@&{ROLE_ID}>", f"<#{CHANNEL_ID}>", "<@123>", "@everyone",
    f"<:kusa:{EMOJI_ID}>", f"<a:x:{EMOJI_ID}>", "<t:1700000000:R>", "<t:-99999999999999:F>", "<t:1:x>",
    "https://example.com/a_(b)", "[link](https://x.y)", "<https://a.b>", "www.", "https://",
    "（囁き）", "（", "）", "<|s_1|>", "<|", "|>", "＜｜", "www", "ｗｗ", "8888", "ああああ", "12:30",
    "2024/10/05", "OK", "hello", "今日は", "2024年", "😀", "👍🏽", "\u200b", "\u202e", "\ud800", "\ue000",
    "مرحبا", "ｶﾞ", "～", "♥", "ℹ️", "1,000", "3.14", "100%",
]
settings_strategy = st.builds(
    ReadingSettings,
    code_blocks=st.sampled_from(["omit", "drop", "read"]),
    spoilers=st.sampled_from(["announce", "drop", "read"]),
    urls=st.sampled_from(["omit", "domain", "drop"]),
    custom_emoji=st.sampled_from(["name", "drop"]),
    unicode_emoji=st.sampled_from(["drop", "name"]),
    laughter=st.booleans(),
    max_repeat=st.integers(0, 20),
    english_to_katakana=st.booleans(),
    kana_mode=st.sampled_from(["off", "kanji", "all"]),
    max_chars=st.integers(1, 300),
    announce_replies=st.booleans(),
    describe_attachments=st.booleans(),
    keep_control_tags=st.booleans(),
    utc_offset_minutes=st.integers(-720, 840),
)
discordish_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=30).map("".join)
names = st.dictionaries(st.integers(0, 2**64), st.text(max_size=20), max_size=3)


def check(text: str, settings: ReadingSettings) -> None:
    assert isinstance(text, str)
    assert len(text) <= settings.max_chars + len(TRUNCATION_MARK)
    assert "<|" not in text and "|>" not in text
    assert text == text.strip()


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=st.one_of(st.text(max_size=300), discordish_text), settings=settings_strategy,
       user_names=names, reply_to_name=st.one_of(st.none(), st.text(max_size=10)))
def test_any_message_is_read_within_the_limit(content, settings, user_names, reply_to_name):
    message = chat(content, user_names={ALICE_ID: "ありす", **user_names}, is_reply=reply_to_name is not None,
                   reply_to_name=reply_to_name, attachments=(Attachment("a.png", "image/png"),),
                   created_at=1700000000.0)
    check(speakable_text(message, settings), settings)


@hypothesis_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=discordish_text, settings=settings_strategy,
       entries=st.dictionaries(st.text(min_size=1, max_size=8).filter(str.strip),
                               st.text(min_size=1, max_size=12).filter(str.strip), max_size=5))
def test_any_dictionary_keeps_the_limit(content, settings, entries):
    try:
        dictionary = ReadingDictionary(entries)
    except ValueError:
        return  # a refused entry is the dictionary tests' business
    check(speakable_text(chat(content), settings, dictionary), settings)


def test_threads_get_the_same_results_as_one_thread():
    from concurrent.futures import ThreadPoolExecutor

    from bot.text.english import _kanalize

    contents = [f"今日は{word}をした{i}回目www <@{ALICE_ID}>" for i, word in enumerate(
        ["gaming", "streaming", "coding", "painting", "singing", "dancing", "running", "cooking"] * 6)]
    expected = [said(content) for content in contents]
    _kanalize.cache_clear()  # so the threads really run kanalizer side by side
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(said, contents)) == expected
