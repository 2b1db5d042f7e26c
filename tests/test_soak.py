"""A short soak (bench/soak.py): repeated decode + pipeline + encode and a live UDP source keep
memory, file descriptors and threads flat after warm-up.

Tolerances (after warm-up): no file descriptor and no thread more than at the end of warm-up;
RSS trend (median of the last third of the samples minus that of the first third) below 12 MiB,
and no sample more than 36 MiB above the first third's median. The loads are chosen so that a leak shows far beyond that: one leaked
320x240 frame per frame would be +13 MiB per file iteration (60 frames) and +6.6 MiB per live
second (30 fps); a leaked Player or Reader (decoder, threads, file) per iteration adds fds and
threads at once. The long run's numbers are in BENCHMARKS.md ("Soak").
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RSS_TOLERANCE_MIB = 12.0
ITERATIONS = 24


def test_short_soak_keeps_resources_flat(tmp_path):
    report_path = tmp_path / "soak.json"
    # A warm-up of 10 iterations: after 4, glibc's arenas were still growing (+1.2 MiB per
    # iteration, a trend of 10-12.5 MiB over the rest), after 10 the trend is ~0.
    command = [sys.executable, str(REPO / "bench" / "soak.py"), "--iterations", str(ITERATIONS), "--warmup", "10",
               "--live-seconds", "24", "--live-warmup", "8", "--json", str(report_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(report_path.read_text())
    files, live = report["files"], report["live"]
    assert files["frames_encoded"] == ITERATIONS * 60  # every iteration encoded the whole clip
    assert live["frames_encoded"] > 24 * 30 * 0.5, live  # the live source really flowed
    for name, load in (("files", files), ("live", live)):
        summary = {k: v for k, v in load.items() if k != "series"}
        assert load["fds_growth"] == 0, (name, summary)
        assert load["threads_growth"] == 0, (name, summary)
        assert load["rss_trend_mib"] < RSS_TOLERANCE_MIB, (name, summary)
        # single samples swing by ~20 MiB when glibc hands arenas back; a peak far above that is not noise
        assert load["rss_max_mib"] - load["rss_median_first_third_mib"] < 3 * RSS_TOLERANCE_MIB, (name, summary)
