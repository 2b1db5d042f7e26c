"""The --bytetrack keys added for the detector's own options reach it: trust_checkpoint (the message of
an untrusted checkpoint tells users to pass it) and bf16 (the fp16-on-CPU warning recommends it)."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
PLAY = [sys.executable, str(REPO / "python" / "play.py")]


def test_trust_checkpoint_and_bf16_keys_reach_yolox(test_mp4, tmp_path):
    from vistream.detect.yolox import build_model

    torch.manual_seed(0)
    ckpt = tmp_path / "nano_with_args.pth"
    # as ByteTrack's own training saves them: weights plus a pickled argparse.Namespace
    torch.save({"model": build_model("yolox_nano").state_dict(), "args": argparse.Namespace(fp16=True)}, ckpt)
    results = tmp_path / "r.jsonl"
    options = f"model=yolox_nano;ckpt_file={ckpt};conf=0.01;device=cpu"

    refused = subprocess.run([*PLAY, str(test_mp4), "--headless", "--end", "0.2", "--bytetrack", options,
                              "--results", str(results)], capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "trust_checkpoint=True" in refused.stderr and not results.exists()

    trusted = subprocess.run([*PLAY, str(test_mp4), "--headless", "--end", "0.2", "--bytetrack",
                              options + ";trust_checkpoint=yes;bf16=true;fp16=no", "--results", str(results)],
                             capture_output=True, text=True, timeout=300)
    assert trusted.returncode == 0, trusted.stderr
    assert "warning" not in trusted.stderr, trusted.stderr  # fp16=no is False: no "fp16 on CPU" warning
    assert [json.loads(line)["frame"] for line in results.read_text().splitlines()] == list(range(7))
