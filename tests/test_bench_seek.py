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


def test_a_tool_whose_own_sequential_decode_is_shifted_is_not_an_exact_peer(quick_run):
    """Each tool's random-access frames are checked against its own sequential decode; a tool
    whose sequential numbering is itself one frame off would pass that check, so it must fail
    the alignment with vistream's decode and then count as inexact on every pattern (never as
    the "best exact peer")."""
    bench = _load_bench()
    _, _, out = quick_run
    path = str(out / "media" / bench.CLIPS["quick-kf"]["file"])
    check = list(range(40, 80))
    needed = set(range(300))

    class ShiftedByOne(bench.VistreamSession):
        def sequential(self):
            frames = super().sequential()
            next(frames)  # its "frame 0" is frame 1, and so on
            yield from frames

    def reference(session):
        try:
            return bench.reference_pass(session, needed, chw=False)
        finally:
            session.close()

    vs_ref = reference(bench.VistreamSession(path, False))
    shifted_ref = reference(ShiftedByOne(path, False))
    honest = {"alignment_with_vistream": bench.alignment(vs_ref["sig"], vs_ref["sig"], check),
              "verify": {"random": {"mismatches": 0, "checked": 40}}}
    shifted = {"alignment_with_vistream": bench.alignment(shifted_ref["sig"], vs_ref["sig"], check),
               "verify": {"random": {"mismatches": 0, "checked": 40}}}
    assert bench.exact(honest, "random")
    assert shifted["alignment_with_vistream"]["aligned"] == 0
    assert not bench.exact(shifted, "random") and not bench.exact(shifted, "sequential")

    def entry(fps, alignment_source):
        return {"patterns": {"random": {"best_fps": fps}}, "peer": True, **alignment_source}

    result = {"tools": {"vistream": {"patterns": {"random": {"best_fps": 10.0}}, "verify": {}},
                        "opencv": entry(100.0, shifted), "pyav": entry(5.0, honest)}}
    row = bench.ratios(result, ["random"])["random"]
    assert row["best_exact_peer"] == "pyav" and row["vs_best_exact_peer"] == 2.0


def test_vistream_batches_decode_no_more_than_the_minimum(quick_run):
    """The diagnostic beside the table: frames decoded per pattern against the fewest an exact
    seek-to-keyframe decoder needs (targets + reference frames up to each GOP's last target).
    A batch that decoded a GOP twice, or a GOP too many, or the non-reference frames between
    targets, would exceed it; the decoder's reorder queue (frames decoded, then flushed by the
    next seek, never handed back) may put the count below by up to has_b_frames per seek."""
    result, stdout, _ = quick_run
    for name, clip in result["clips"].items():
        minimum = clip["minimum_decodes"]
        assert clip["clip"]["nonref_frames"] > 0, name  # B-frame clips: something to skip
        for p, indices in clip["patterns"].items():
            work = clip["tools"]["vistream"]["verify"][p]["work"]
            slack = work["seeks"] * max(1, clip["clip"]["has_b_frames"])
            assert minimum[p] - slack <= work["frames_decoded"] <= minimum[p], (name, p, work, minimum[p])
    assert "minimum" in stdout and "per frame" in stdout


def test_minimum_decodes_counts_each_gop_once():
    """minimum_decodes on a hand-made decode order: GOP = I0 P3 b1 b2 | I4 P7 b5 b6 (b = non-reference)."""
    bench = _load_bench()
    plan = [(0, True, True), (3, False, True), (1, False, False), (2, False, False),
            (4, True, True), (7, False, True), (5, False, False), (6, False, False)]
    assert bench.minimum_decodes(plan, [0]) == 1
    assert bench.minimum_decodes(plan, [3]) == 2       # I0 P3
    assert bench.minimum_decodes(plan, [2]) == 3       # I0 P3 b2 (b1 skipped)
    assert bench.minimum_decodes(plan, [1, 2, 3]) == 4  # the GOP once
    assert bench.minimum_decodes(plan, [2, 5]) == 3 + 3
