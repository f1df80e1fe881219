"""Per-message cost of the text pipeline on realistic chat, and reading accuracy on known sentences.

Run from the repository root:  .venv/bin/python -m bench.text_pipeline [--messages 3000] [--seed 1]
"""
from __future__ import annotations

import argparse
import random
import statistics
import time

from bot.text import Attachment, ChatMessage, ReadingDictionary, ReadingSettings, speakable_text, warm_up
from bot.text.kana import to_kana
from tests.text.kana_cases import KANA_CASES

USERS = {100 + i: name for i, name in enumerate(["ありす", "Bob", "みかん🍊", "たろう", "Mika_", "ねこ"])}
CHANNELS = {900: "雑談", 901: "general", 902: "ゲーム募集"}
ROLES = {800: "運営", 801: "Apex部"}

JAPANESE = [
    "今日は良い天気ですね", "昨日の配信見た？", "それな", "明日の10時30分から集合で", "了解です",
    "めっちゃ面白かった", "お疲れさまでした", "今から風呂入ってくる", "2024年のベスト映画どれ？",
    "なんで負けたんだろう", "生ビール飲みたい", "ちょっと待ってて", "置換ミスってた", "成功した！",
    "まじかよ", "おはようございます", "新しいキーボード買った", "3時間寝た", "米津玄師の新曲よかった",
    "ランクマ行こう", "眠すぎる", "1,000円で買えた", "100%無理", "今度の土曜日空いてる？",
]
ENGLISH = ["gg", "lol", "ok", "nice", "Discord", "minecraft", "hello", "thanks", "valorant", "update",
           "stream", "apex", "GG", "brb", "idk", "meeting", "tomorrow", "keyboard", "headset", "lag"]
LAUGHTER = ["w", "ww", "www", "ｗｗｗｗ", "草", "8888", "（笑）"]
EMOJI = ["😂", "👍", "🙏", "🔥", "😭", "🎉", "👍🏽", "❤️"]
URLS = ["https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://x.com/someone/status/1234567890",
        "https://discord.gg/abcdef", "<https://example.com/no-embed>", "[記事](https://news.example.jp/a/b)"]
CODE = ["`npm install`", "```py\nprint('hello')\nfor i in range(3):\n    pass\n```", "`||not spoiler||`"]
TAGS = ["（囁き）", "（笑いながら）", "（優しく）"]


def chat_message(rng: random.Random) -> ChatMessage:
    """One message shaped like real server chat: mostly short Japanese, sometimes everything at once."""
    parts: list[str] = []
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 5])):
        roll = rng.random()
        if roll < 0.45:
            parts.append(rng.choice(JAPANESE))
        elif roll < 0.55:
            parts.append(rng.choice(ENGLISH))
        elif roll < 0.65:
            parts.append(rng.choice(LAUGHTER))
        elif roll < 0.72:
            parts.append(rng.choice(EMOJI) * rng.choice([1, 1, 3]))
        elif roll < 0.78:
            parts.append(rng.choice(URLS))
        elif roll < 0.84:
            parts.append(f"<@{rng.choice(list(USERS))}>" if rng.random() < 0.7 else f"<#{rng.choice(list(CHANNELS))}>")
        elif roll < 0.88:
            parts.append(f"<:kusa:{rng.randrange(10**17, 10**18)}>")
        elif roll < 0.91:
            parts.append(rng.choice(CODE))
        elif roll < 0.94:
            parts.append(f"||{rng.choice(JAPANESE)}||")
        elif roll < 0.96:
            parts.append(rng.choice(TAGS) + rng.choice(JAPANESE))
        elif roll < 0.98:
            parts.append("**" + rng.choice(JAPANESE) + "**")
        else:
            parts.append("ああああああああ" + "！" * 6)
    if rng.random() < 0.01:  # the occasional accidental paste
        parts.append("長文コピペ" * 400)
    separator = rng.choice(["", " ", "\n"])
    attachments = (Attachment("image.png", "image/png"),) if rng.random() < 0.05 else ()
    return ChatMessage(separator.join(parts), author_name="ありす", user_names=USERS, role_names=ROLES,
                       channel_names=CHANNELS, attachments=attachments, created_at=1700000000.0)


def measure(messages: list[ChatMessage], settings: ReadingSettings, dictionary: ReadingDictionary) -> list[float]:
    """Seconds per message for the whole pipeline."""
    costs = []
    for message in messages:
        started = time.perf_counter()
        speakable_text(message, settings, dictionary)
        costs.append(time.perf_counter() - started)
    return costs


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    warm_up()
    print(f"reader warm-up: {(time.perf_counter() - started) * 1000:.0f} ms")
    rng = random.Random(args.seed)
    messages = [chat_message(rng) for _ in range(args.messages)]
    # A server-sized dictionary: two real entries and 500 fillers.
    entries = {"米津玄師": "よねづけんし", "ランクマ": "らんくま", **{f"語{i}": "ご" for i in range(500)}}
    dictionary = ReadingDictionary(entries)

    for label, settings in [("kana=kanji (default)", ReadingSettings()),
                            ("kana=all", ReadingSettings(kana_mode="all")),
                            ("kana=off, English off", ReadingSettings(kana_mode="off", english_to_katakana=False))]:
        first = measure(messages, settings, dictionary)   # includes kanalizer's first look at each word
        again = measure(messages, settings, dictionary)   # steady state: chat words are cached
        print(f"{label:24s} first pass: median {statistics.median(first) * 1000:.2f} ms, "
              f"p95 {percentile(first, 0.95) * 1000:.2f} ms, max {max(first) * 1000:.1f} ms | "
              f"steady: median {statistics.median(again) * 1000:.2f} ms, p95 {percentile(again, 0.95) * 1000:.2f} ms")

    right = [(text, to_kana(text, "kanji"), expected) for text, expected in KANA_CASES]
    correct = sum(got == expected for _, got, expected in right)
    print(f"reading accuracy (kanji mode): {correct}/{len(right)} sentences = {correct / len(right):.0%}")
    for text, got, expected in right:
        if got != expected:
            print(f"  wrong: {text} → {got} (expected {expected})")
    print("\nexamples:")
    for message in messages[:8]:
        print(f"  {message.content[:60]!r}\n    → {speakable_text(message, ReadingSettings(), dictionary)!r}")


if __name__ == "__main__":
    main()
