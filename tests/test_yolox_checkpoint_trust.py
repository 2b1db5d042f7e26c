"""Checkpoints that pickle more than tensors: refused unless pinned or trusted (trust_checkpoint=True).

``torch.load(weights_only=False)`` runs whatever the pickle says, so YOLOX only falls back to it for
files whose sha256 is pinned - the manifest's, or the one the hub recorded when it downloaded the file
(trust on first use) - or when the caller opts in. A file planted in the cache is loaded as plain
weights only, so its payload never runs.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import json
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from vistream.detect.yolox import YOLOX, UntrustedCheckpointError, build_model
from vistream.errors import VistreamError

REPO = Path(__file__).resolve().parents[1]

OFFICIAL_URL = "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.pth"


class _Payload:
    """Unpickling this object writes a marker file: stands for arbitrary code in a checkpoint."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _weights(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    net = build_model("yolox_nano")
    for p in net.parameters():
        p.data.normal_(0, 0.02)
    return net.state_dict()


def _save_with_namespace(path, state_dict) -> None:
    # what training scripts commonly do: the argparse options next to the weights
    torch.save({"model": state_dict, "args": argparse.Namespace(lr=0.01, batch_size=64)}, path)


def _assert_loaded(detector: YOLOX, state_dict: dict) -> None:
    for key, value in state_dict.items():
        assert torch.equal(detector.model.state_dict()[key], value), key


def test_non_tensor_checkpoint_is_refused_by_default(tmp_path):
    ckpt = tmp_path / "with_args.pth"
    _save_with_namespace(ckpt, _weights())
    with pytest.raises(UntrustedCheckpointError, match="argparse.Namespace") as info:
        YOLOX("yolox_nano", ckpt_file=str(ckpt))
    message = str(info.value)
    assert "trust_checkpoint=True" in message and str(ckpt) in message
    assert isinstance(info.value, VistreamError) and isinstance(info.value, pickle.UnpicklingError)


def test_opt_in_loads_it(tmp_path):
    weights = _weights(1)
    ckpt = tmp_path / "with_args.pth"
    _save_with_namespace(ckpt, weights)
    _assert_loaded(YOLOX("yolox_nano", ckpt_file=str(ckpt), trust_checkpoint=True), weights)
    # the opt-in also reaches the ONNX export path
    det = YOLOX("yolox_nano", ckpt_file=str(ckpt), onnx_file=str(tmp_path / "n.onnx"), trust_checkpoint=True)
    assert det.backend == "onnxruntime" and (tmp_path / "n.onnx").is_file()


def test_refused_checkpoint_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil.pth"
    torch.save({"model": _weights(), "payload": _Payload(str(marker))}, ckpt)
    with pytest.raises(UntrustedCheckpointError):
        YOLOX("yolox_nano", ckpt_file=str(ckpt))
    assert not marker.exists()
    with pytest.raises(UntrustedCheckpointError):  # the ONNX path refuses before exporting anything
        YOLOX("yolox_nano", ckpt_file=str(ckpt), onnx_file=str(tmp_path / "e.onnx"))
    assert not marker.exists() and not (tmp_path / "e.onnx").exists()
    YOLOX("yolox_nano", ckpt_file=str(ckpt), trust_checkpoint=True)  # opting in does run it: the point
    assert marker.exists()


def test_plain_checkpoints_need_no_opt_in(tmp_path):
    weights = _weights(2)
    ckpt = tmp_path / "plain.pth"
    torch.save({"model": weights, "start_epoch": 300, "optimizer": {"lr": 0.01}}, ckpt)
    _assert_loaded(YOLOX("yolox_nano", ckpt_file=str(ckpt)), weights)


@pytest.fixture()
def hub_server(tmp_path, monkeypatch):
    """A local HTTP server in place of the official host, serving a Namespace-carrying checkpoint."""
    served = tmp_path / "served"
    served.mkdir()
    weights = _weights(3)
    _save_with_namespace(served / "yolox_nano.pth", weights)
    _save_with_namespace(served / "other.pth", weights)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    manifest = tmp_path / "weights.json"
    manifest.write_text(json.dumps({"yolox_nano": {"url": OFFICIAL_URL, "sha256": None, "size": None}}))
    monkeypatch.setenv("VISTREAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VISTREAM_HUB_MANIFEST", str(manifest))
    yield weights, f"http://127.0.0.1:{httpd.server_address[1]}", manifest, served
    httpd.shutdown()
    httpd.server_close()


def test_hub_checkpoints_are_trusted(hub_server, monkeypatch):
    weights, base, _, _ = hub_server
    monkeypatch.setenv("VISTREAM_HUB_URL", base)  # the official URL, rebased onto the local server
    _assert_loaded(YOLOX("yolox_nano", ckpt_file="auto"), weights)
    _assert_loaded(YOLOX("yolox_nano", ckpt_file=OFFICIAL_URL), weights)


def test_other_urls_are_not_trusted(hub_server):
    weights, base, _, _ = hub_server
    with pytest.raises(UntrustedCheckpointError):
        YOLOX("yolox_nano", ckpt_file=f"{base}/other.pth")
    _assert_loaded(YOLOX("yolox_nano", ckpt_file=f"{base}/other.pth", trust_checkpoint=True), weights)


def test_local_file_with_a_manifest_sha256_is_trusted(hub_server):
    weights, _, manifest, served = hub_server
    local = served / "yolox_nano.pth"
    with pytest.raises(UntrustedCheckpointError):  # no sha256 recorded: an unknown local file
        YOLOX("yolox_nano", ckpt_file=str(local))
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    manifest.write_text(json.dumps({"yolox_nano": {"url": OFFICIAL_URL, "sha256": digest, "size": None}}))
    _assert_loaded(YOLOX("yolox_nano", ckpt_file=str(local)), weights)


def test_local_file_named_like_a_hub_model_is_not_trusted(hub_server, tmp_path, monkeypatch):
    # a file called "yolox_nano" in the working directory wins over the hub name, so it is a local
    # file of unknown origin, not a hub download
    weights, _, _, _ = hub_server
    monkeypatch.chdir(tmp_path)
    _save_with_namespace(tmp_path / "yolox_nano", weights)
    with pytest.raises(UntrustedCheckpointError):
        YOLOX("yolox_nano", ckpt_file="yolox_nano")


def _plant(path: Path, marker: Path) -> None:
    """A "checkpoint" whose unpickling writes ``marker``: what an attacker would put in the cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {}, "payload": _Payload(str(marker))}, path)


@pytest.fixture()
def empty_cache(tmp_path, monkeypatch):
    """The packaged manifest, an empty cache, and a hub URL where nothing listens (no network)."""
    monkeypatch.delenv("VISTREAM_HUB_MANIFEST", raising=False)
    monkeypatch.setenv("VISTREAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VISTREAM_HUB_URL", "http://127.0.0.1:9/nowhere")
    return tmp_path / "cache" / "weights"


@pytest.mark.parametrize("model, file_name", [(None, "bytetrack_m_mot17.pth.tar"), ("yolox_s", "yolox_s.pth")])
def test_pickle_planted_in_the_cache_never_runs(empty_cache, tmp_path, model, file_name):
    marker = tmp_path / "pwned"
    _plant(empty_cache / file_name, marker)
    with pytest.raises(UntrustedCheckpointError) as info:
        YOLOX(model, ckpt_file="auto")
    message = str(info.value)
    assert "vistream did not download it" in message and "trust_checkpoint=True" in message
    assert str(empty_cache / file_name) in message
    assert not marker.exists()


def test_pickle_planted_in_the_cache_never_runs_from_the_command_line(empty_cache, tmp_path, test_mp4):
    marker = tmp_path / "pwned"
    _plant(empty_cache / "bytetrack_m_mot17.pth.tar", marker)
    _plant(empty_cache / "yolox_s.pth", marker)
    for options in ("ckpt_file=auto", "ckpt_file=auto;fp16=True", "model=yolox_s;ckpt_file=auto"):
        result = subprocess.run([sys.executable, str(REPO / "python" / "play.py"), str(test_mp4), "--headless",
                                 "--end", "0.1", "--bytetrack", options], capture_output=True, text=True,
                                timeout=300, env=dict(os.environ))
        assert result.returncode == 1, result.stderr
        assert "trust_checkpoint=True" in result.stderr and "Traceback" not in result.stderr
        assert not marker.exists(), f"--bytetrack {options!r} ran the planted payload"


def test_cached_download_replaced_afterwards_is_refused(hub_server, monkeypatch, tmp_path):
    # downloaded (and its sha256 recorded) through the hub, then swapped for a poisoned file
    weights, base, _, _ = hub_server
    monkeypatch.setenv("VISTREAM_HUB_URL", base)
    _assert_loaded(YOLOX("yolox_nano", ckpt_file="auto"), weights)
    cached = tmp_path / "cache" / "weights" / "yolox_nano.pth"
    assert cached.with_name("yolox_nano.pth.sha256").exists()
    marker = tmp_path / "pwned"
    _plant(cached, marker)
    with pytest.raises(VistreamError, match="changed after the download"):
        YOLOX("yolox_nano", ckpt_file="auto")
    assert not marker.exists()
