"""Plain-text rules: width, emoji, invisible characters, laughter, repeats, pauses, length."""
from __future__ import annotations

from dataclasses import replace

import pytest

from bot.text import ReadingSettings, speakable_phrase
from bot.text.message import Attachment
from bot.text.rules import TRUNCATION_MARK, cut_at, describe_attachments, truncate
from tests.text.fakes import AS_WRITTEN


def said(text: str, settings: ReadingSettings = AS_WRITTEN) -> str:
    return speakable_phrase(text, settings)


@pytest.mark.parametrize(("text", "expected"), [
    ("ｶﾞﾝﾊﾞﾚ", "ガンバレ"),
    ("ＡＢＣ１２３", "ABC123"),
    ("そうだね～", "そうだね〜"),          # the wave dash stays one (NFKC would make it "~")
    ("えぇ…", "えぇ…"),                    # and so does the ellipsis (NFKC: "...")
    ("全角　スペース", "全角 スペース"),
    ("㍻", "平成"),
])
def test_nfkc(text, expected):
    assert said(text) == expected


@pytest.mark.parametrize(("text", "mode", "expected"), [
    ("今日😀は", "drop", "今日 は"),
    ("😂😂😂", "drop", ""),
    ("😂😂😂", "name", "嬉し泣き"),
    ("😂🤣👍🏽🙏🍣", "name", "嬉し泣き 笑い転げる サムズアップ"),
    ("🇯🇵", "name", "日本の旗"),
    ("いいね👍🏽", "name", "いいね サムズアップ"),
    ("家族👨‍👩‍👧", "drop", "家族"),
    ("ℹ️情報", "drop", "情報"),               # dropped before NFKC could make it an "i"
    ("大好き♥", "drop", "大好き♥"),           # the model's own symbol stays
    ("1️⃣番", "drop", "番"),
])
def test_unicode_emoji(text, mode, expected):
    assert said(text, replace(AS_WRITTEN, unicode_emoji=mode)) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("ゼ\u200bロ\u200c幅\u200d", "ゼロ幅"),
    ("\u202eright-to-left\u202c override", "right-to-left override"),
    ("\u2066isolate\u2069", "isolate"),
    ("soft\u00adhyphen", "softhyphen"),
    ("\ufeffBOM", "BOM"),
    ("tab\there", "tab here"),
    ("bell\x07", "bell"),
    ("行\u2028区切り", "行、区切り"),
])
def test_invisible_and_control_characters(text, expected):
    assert said(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("面白いw", "面白いわら"),
    ("面白いww", "面白いわら"),
    ("面白いwww", "面白いわらわら"),
    ("ｗｗｗｗｗｗ", "わらわら"),
    ("WWW", "わらわら"),
    ("wow new www", "wow new わらわら"),   # w inside English words is not laughter
    ("8888", "ぱちぱち"),
    ("888888888円", "888888888円"),        # a price, not applause
    ("18888", "18888"),
    ("88", "88"),
])
def test_laughter(text, expected):
    assert said(text) == expected


def test_laughter_can_be_turned_off():
    assert said("草www", replace(AS_WRITTEN, laughter=False)) == "草www"


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("あああああああ", 3, "あああ"),
    ("えー！！！！！！", 3, "えー!!!"),
    ("ーーーーーー", 2, "ーー"),
    ("1000000円", 3, "1000000円"),        # digits are numbers, not noise
    ("すごーーーーーい", 3, "すごーーーい"),
    ("あああああ", 0, "あああああ"),
])
def test_repeated_characters(text, limit, expected):
    assert said(text, replace(AS_WRITTEN, max_repeat=limit)) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("一行目\n二行目", "一行目、二行目"),
    ("一行目\n\n\n二行目\n", "一行目、二行目"),
    ("そう、\nだね", "そう、だね"),
    ("\n\n始まり", "始まり"),
    ("スペース    多め", "スペース 多め"),
])
def test_line_breaks_become_pauses(text, expected):
    assert said(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("12:30に集合", "12時30分に集合"),
    ("9:00開始", "9時開始"),
    ("比率は16:9", "比率は16:9"),
    ("2024/10/05に", "2024年10月5日に"),
    ("2024-01-31", "2024年1月31日"),
    ("1/2だけ", "1/2だけ"),
])
def test_dates_and_times(text, expected):
    assert said(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("（囁き）ねえ", "（囁き）ねえ"),
    ("（笑いながら）そうだね（吐息）", "（笑いながら）そうだね（吐息）"),
    ("ＡＢＣ（耳元で）ＡＢＣ", "ABC（耳元で）ABC"),
    ("（二十文字を超える長い補足説明で、タグではありません）",           # an aside, not a tag
     "(二十文字を超える長い補足説明で、タグではありません)"),
])
def test_control_tags_pass_every_rule(text, expected):
    assert said(text) == expected


def test_control_tags_are_not_read_in_kana_or_katakana():
    settings = ReadingSettings(kana_mode="all")
    assert said("（囁き）好きだよ（笑いながら）", settings) == "（囁き）すきだよ（笑いながら）"


def test_control_tags_can_be_treated_as_text():
    assert said("（囁き）ねえ", replace(AS_WRITTEN, keep_control_tags=False)) == "(囁き)ねえ"


def test_attachments_are_counted_by_kind():
    attachments = (Attachment("a.png", "image/png"), Attachment("b.JPG"), Attachment("c.mp4", "video/mp4"),
                   Attachment("d.zip", "application/zip"), Attachment("voice-message.ogg", "audio/ogg"))
    assert describe_attachments(attachments, ("Wave",)) == "画像2枚、動画、ファイル、音声、スタンプ"


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("あいうえお", 5, "あいうえお"),
    ("あいうえおかきくけこ", 5, "あいうえお" + TRUNCATION_MARK),
    ("今日はとても良い、天気ですね", 9, "今日はとても良い" + TRUNCATION_MARK),  # at a pause near the end
    ("あいう（囁き）えお", 5, "あいう" + TRUNCATION_MARK),              # never inside a tag
])
def test_truncation(text, limit, expected):
    assert truncate(text, limit) == expected


def test_cut_is_never_longer_than_asked():
    for limit in range(1, 40):
        assert len(cut_at("今日は（囁き）、とても良い天気ですね。" * 3, limit)) <= limit
