"""`play.py --bytetrack "key=value;..."`: option parsing and a YOLOX + ByteTrack run."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def test_parse_options_types_and_unknown_key():
    from vistream.plugin_options import parse_options
    assert parse_options("ckpt_file=auto;fp16=True") == {"ckpt_file": "auto", "fp16": True}
    assert parse_options("conf=0.3, track_buffer=60,classes=0+2") == {"conf": 0.3, "track_buffer": 60,
                                                                       "classes": [0, 2]}
    with pytest.raises(ValueError, match="valid keys: ckpt_file, model"):
        parse_options("ckpt=auto")
    with pytest.raises(ValueError, match="key=value"):
        parse_options("fp16")


def test_unknown_key_on_the_command_line_lists_valid_keys(test_mp4):
    result = subprocess.run([sys.executable, str(REPO / "python" / "play.py"), str(test_mp4), "--headless",
                             "--bytetrack", "weights=auto"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "valid keys" in result.stderr


def test_yolox_bytetrack_run_with_local_checkpoint(test_mp4, tmp_path):
    from vistream.detect.yolox import build_model
    torch.manual_seed(0)
    ckpt = tmp_path / "nano.pth"
    torch.save({"model": build_model("yolox_nano").state_dict()}, ckpt)
    results = tmp_path / "r.jsonl"
    cmd = [sys.executable, str(REPO / "python" / "play.py"), str(test_mp4), "--headless", "--end", "0.5",
           "--bytetrack", f"model=yolox_nano;ckpt_file={ckpt};fp16=True;conf=0.01", "--results", str(results)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(15))
