"""bench/lanes.py runs the real engine on a tiny 2-slot backend to the end and reports its figures.

No timing is asserted: the speeds depend on the machine; only their presence and bounds do not.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_lanes_benchmark_reports_admission_and_speeds(tmp_path: Path) -> None:
    out = tmp_path / "lanes.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.lanes", "--slots", "2", "--guilds", "2", "--rounds", "1",
         "--max-tokens", "100", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [round_] = json.loads(out.read_text())
    assert round_["slots"] == 2 and 1 <= round_["admitted"] <= 2 and 1 <= round_["peak_running"] <= 2
    assert 0 < round_["codes"] <= 2 * 2 * 100  # two messages of at most two sentences of 100 codes
    # Every message is measured (2 s of audio makes at least one 1 s window) at some level.
    assert set(round_["speed_per_stream"]) <= {"1", "2"} and round_["speed_per_stream"]
    assert round_["aggregate_codes_per_s"] > 0
