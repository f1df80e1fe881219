"""bench/first_audio.py runs to the end and reports every figure (no timing is asserted)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_first_audio_benchmark_reports_each_hold_and_the_detectors_cost(tmp_path: Path) -> None:
    out = tmp_path / "first_audio.json"
    done = subprocess.run([sys.executable, "-m", "bench.first_audio", "--shape", "tiny", "--rounds", "1", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(out.read_text())
    assert set(r["first_audio_ms_by_hold"]) == {"10", "25", "50", "100"}
    assert all(ms["wall"] > 0 and ms["cpu"] > 0 for ms in r["first_audio_ms_by_hold"].values())
    # Holding no more than the codec's first window (25 codes) costs nothing in pacing terms.
    assert r["extra_ms_by_hold_and_speed"]["25"]["1x"] == 0 and r["extra_ms_by_hold_and_speed"]["50"]["2x"] == 250
    assert set(r["detectors"]) == {"loop_us_per_code", "silence_ms_per_10s_take", "duration_bounds_ms_per_sentence"}
