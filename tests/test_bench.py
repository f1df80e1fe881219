"""bench/realtime.py --short runs to the end and reports every section as numbers.

No timing is asserted: the figures depend on the machine; only their presence and types do not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def numbers(section: dict, keys: list[str]) -> None:
    for key in keys:
        value = section[key]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)


def test_short_realtime_benchmark_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "realtime.json"

    done = subprocess.run(
        [sys.executable, "-m", "bench.realtime", "--short", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["mode"] == "short"
    for model in ("flat", "peaked"):
        numbers(r["host_ms_per_token"][model], ["forward_ms", "before_ms", "after_ms"])
        numbers(r["tokens_per_s"][model], ["ours", "forward_only", "before"])
    numbers(r["first_audio"], ["first_audio_ms", "first_second_of_codes_ms", "first_audio_codes"])
    numbers(r["underruns"], ["message_s"])
    for start in ("first_chunk", "pacing_gate"):
        for schedule in ("old_schedule", "new_schedule"):
            numbers(r["underruns"][start][schedule], ["0.6x", "1.5x"])
    numbers(r["codec"], [
        "audio_s", "one_shot_ms_per_audio_s", "old_streamed_ms_per_audio_s", "new_streamed_ms_per_audio_s",
        "old_ser_db", "new_ser_db", "old_decoded_per_code", "new_decoded_per_code",
    ])
    numbers(r["memory"], ["peak_rss_mib"])
    if torch.cuda.is_available():
        numbers(r["cuda"]["codec"], ["one_shot_ms_per_audio_s", "new_streamed_ms_per_audio_s", "new_ser_db"])
        numbers(r["cuda"], ["codec_peak_vram_mib"])
    else:
        assert "no CUDA" in r["cuda"]["skipped"]
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "codec" in done.stdout and "underrun" in done.stdout
