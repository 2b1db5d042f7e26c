"""`play.py --botsort "key=value;..."` and `--tracker botsort` end to end on the street clip."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
PLAY = str(REPO / "python" / "play.py")


def _play(*args, timeout=300):
    return subprocess.run([sys.executable, PLAY, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def test_botsort_options_are_checked_before_anything_runs(test_mp4):
    result = _play(test_mp4, "--headless", "--botsort", "gmc=orb")
    assert result.returncode != 0 and "valid: sparse_flow, ecc, none" in result.stderr
    result = _play(test_mp4, "--headless", "--botsort", "weights=auto")
    assert result.returncode != 0 and "valid keys:" in result.stderr and "gmc" in result.stderr
    result = _play(test_mp4, "--headless", "--botsort", "", "--bytetrack", "")
    assert result.returncode != 0 and "alternatives" in result.stderr


def test_motion_botsort_tracks_the_street_clip(test_mp4, tmp_path):
    results, output = tmp_path / "tracks.jsonl", tmp_path / "tracked.mp4"
    result = _play(test_mp4, "--headless", "--detector", "motion", "--tracker", "botsort", "--end", "3",
                   "--results", results, "--output", output)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(90))
    lifetimes = {}
    for line in lines:
        for det in line["detections"]:
            lifetimes.setdefault(det["tracker_id"], []).append(line["frame"])
    # people walking through a static camera view keep their ids for a second or more
    assert sum(1 for frames in lifetimes.values() if len(frames) >= 30) >= 3
    assert output.stat().st_size > 0


def test_yolox_botsort_with_local_checkpoint(test_mp4, tmp_path):
    from vistream.detect.yolox import build_model
    torch.manual_seed(0)
    ckpt = tmp_path / "nano.pth"
    torch.save({"model": build_model("yolox_nano").state_dict()}, ckpt)
    results = tmp_path / "r.jsonl"
    result = _play(test_mp4, "--headless", "--end", "0.5", "--results", results,
                   "--botsort", f"model=yolox_nano;ckpt_file={ckpt};conf=0.01;gmc=ecc;track_thresh=0.01")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(15))
