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


def test_onnx_file_is_exported_once_then_used(test_mp4, tmp_path):
    from vistream.detect.yolox import build_model
    torch.manual_seed(0)
    ckpt, onnx_file = tmp_path / "nano.pth", tmp_path / "nano.onnx"
    torch.save({"model": build_model("yolox_nano").state_dict()}, ckpt)
    results = tmp_path / "r.jsonl"
    options = f"model=yolox_nano;ckpt_file={ckpt};onnx_file={onnx_file};conf=0.01"
    for _ in range(2):  # first run exports, second run loads the .onnx
        result = subprocess.run([sys.executable, str(REPO / "python" / "play.py"), str(test_mp4), "--headless",
                                 "--end", "0.3", "--bytetrack", options, "--results", str(results)],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert onnx_file.stat().st_size > 1_000_000
        assert len(results.read_text().splitlines()) == 10  # frames 0..9 (t < 0.3 s)


def test_trt_file_without_tensorrt_is_a_clear_error(test_mp4, tmp_path):
    # play.py run with `import tensorrt` made to fail, so this holds on GPU machines too
    play = REPO / "python" / "play.py"
    code = ("import runpy, sys; sys.modules['tensorrt'] = None; "
            f"sys.argv = [{str(play)!r}, {str(test_mp4)!r}, '--headless', '--bytetrack', "
            f"'trt_file={tmp_path / 'x.engine'};device=cpu']; runpy.run_path({str(play)!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "tensorrt" in result.stderr.lower()


def test_model_comes_from_the_checkpoint_and_people_filter_fits_one_class(test_mp4, tmp_path):
    # no model= in the options: the 1-class yolox_nano checkpoint decides; classes=[0] (people) still applies
    from vistream.detect.yolox import build_model
    torch.manual_seed(0)
    ckpt = tmp_path / "nano_1class.pth.tar"
    torch.save({"model": build_model("yolox_nano", num_classes=1).state_dict()}, ckpt)
    results = tmp_path / "r.jsonl"
    cmd = [sys.executable, str(REPO / "python" / "play.py"), str(test_mp4), "--headless", "--end", "0.3",
           "--bytetrack", f"ckpt_file={ckpt};conf=0.001", "--results", str(results)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(10))
