"""bench/seek.py runs and checks what it measures: every frame returned by random access is the
frame a sequential decode yields. Not a timing test: speeds are reported, never asserted."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "seek.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_seek", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("seekbench")
    json_path = out / "seek.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--tools", "vistream", "--no-plot",
         "--json", str(json_path), "--media-dir", str(out / "media")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(json_path.read_text()), proc.stdout, out


def test_quick_run_writes_json_with_every_pattern_measured(quick_run):
    result, stdout, _ = quick_run
    assert result["quick"] is True
    assert set(result["clips"]) == {"quick-kf", "quick-gop60-bf"}
    for name, clip in result["clips"].items():
        assert set(clip["tools"]) == {"vistream"}, name
        patterns = clip["tools"]["vistream"]["patterns"]
        expected = {"random", "sorted", "strided", "clustered"} | ({"sequential"} if name == "quick-kf" else set())
        assert set(patterns) == expected
        for p, cell in patterns.items():
            assert cell["best_fps"] > 0 and len(cell["fps"]) == clip["reps"], (name, p)
        assert clip["patterns"]["sorted"] == sorted(clip["patterns"]["random"])
    # the irregular keyframes the clip is generated with are really there
    assert result["clips"]["quick-kf"]["clip"]["keyframes"] == [0, 59, 94, 128, 164, 223, 282]
    assert "| random |" in stdout and "vistream" in stdout


def test_quick_run_verifies_every_frame_exactly(quick_run):
    result, _, _ = quick_run
    for name, clip in result["clips"].items():
        entry = clip["tools"]["vistream"]
        for p, indices in clip["patterns"].items():
            check = entry["verify"][p]
            assert check["checked"] == len(indices) and check["mismatches"] == 0, (name, p, check)
        for label, single in entry["single"].items():
            assert single["exact"], (name, label)
        assert entry["sequential_frames"] == clip["clip"]["frames"]
    assert result["all_exact"] is True


def test_verification_catches_a_tool_that_returns_the_wrong_frame(quick_run):
    """An off-by-one tool (real decoding, frame i+1 for i) is reported, not passed."""
    bench = _load_bench()
    _, _, out = quick_run
    path = str(out / "media" / bench.CLIPS["quick-kf"]["file"])
    indices = [3, 60, 95, 200]

    class OffByOne(bench.VistreamSession):
        def frames_at(self, wanted):
            return [self.reader.frame_at(i + 1).array for i in wanted]

    honest = {"open": lambda p: bench.VistreamSession(p, False)}
    shifted = {"open": lambda p: OffByOne(p, False)}
    session = honest["open"](path)
    reference = bench.reference_pass(session, set(range(300)), chw=False)
    session.close()
    assert bench.verify_pattern(honest, path, indices, reference)["mismatches"] == 0
    report = bench.verify_pattern(shifted, path, indices, reference)
    assert report["mismatches"] == len(indices)
    assert report["wrong_indices"] == indices
