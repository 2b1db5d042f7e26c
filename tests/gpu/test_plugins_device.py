"""Plugins on the device (issue 11): YOLOX preprocessing, the Pipeline's tensor handoff and the torch
annotators on CUDA frames, with the copies counted. Skipped without a GPU (VS_REQUIRE_CUDA=1 makes
that a failure). Written without a GPU: these tests have not run on the machine that wrote them;
their CPU twins (tests/test_yolox_tensor.py, test_pipeline_tensors.py, test_torch_label.py) have.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np

from .conftest import REPO, TEST_MP4


def _device_frames(vs, count: int):
    with vs.Reader(TEST_MP4, device="cuda") as reader:
        frames = []
        for frame in reader:
            frames.append(frame)
            if len(frames) == count:
                break
        return frames


def test_yolox_letterbox_and_detections_on_a_device_frame(vs):
    import torch
    from vistream.detect import YOLOX
    from vistream.detect.yolox.detector import letterbox, letterbox_tensor

    frame = _device_frames(vs, 1)[0]
    image = torch.from_dlpack(frame)
    assert image.is_cuda
    host = image.cpu().numpy()
    canvas, _ = letterbox_tensor(image, (800, 1440))
    assert canvas.is_cuda
    np.testing.assert_array_equal(canvas[0].permute(1, 2, 0).cpu().numpy(), letterbox(host, (800, 1440))[0])
    torch.manual_seed(0)
    detector = YOLOX("yolox_nano", device="cuda", conf=1e-4)
    on_device, from_host = detector(image), detector(host)
    assert len(on_device) == len(from_host)
    np.testing.assert_allclose(on_device.xyxy, from_host.xyxy, atol=1e-2)


def test_device_chain_makes_no_host_copy(vs):
    import torch
    from vistream import Pipeline
    from vistream.detect import YOLOX
    from vistream.track import ByteTrack

    torch.manual_seed(0)
    detector = YOLOX("yolox_nano", device="cuda", fp16=True, conf=1e-4)
    pipeline = Pipeline(detector, ByteTrack(), [vs.TorchTraceAnnotator(), vs.TorchBoxAnnotator(),
                                                vs.TorchLabelAnnotator()])
    frames = _device_frames(vs, 30)
    before = vs.transfer_stats()
    for frame in frames:
        pipeline(frame)
    torch.cuda.synchronize()
    transfers = pipeline.transfers
    assert transfers.frames == transfers.tensor_frames == 30
    assert (transfers.host_copies, transfers.host_uploads) == (0, 0)
    assert vs.transfer_stats() == before


def test_numpy_plugins_share_one_download_and_their_drawing_reaches_the_device(vs):
    import torch
    from vistream import Detections, Pipeline
    from vistream.annotate import BoxAnnotator, color_for

    box = Detections(xyxy=np.array([[100, 100, 300, 260]], np.float32), confidence=np.ones(1, np.float32))
    seen = []

    def numpy_detector(image):
        seen.append(type(image))
        return box

    frames = _device_frames(vs, 5)
    pipeline = Pipeline(numpy_detector, None, [BoxAnnotator(thickness=1), vs.TorchLabelAnnotator()])
    for frame in frames:
        pipeline(frame)
        drawn = torch.from_dlpack(frame)[100, 150].cpu().numpy()
        assert tuple(drawn) == color_for(0)  # the numpy box, copied back to the device
    assert seen == [np.ndarray] * 5
    transfers = pipeline.transfers
    assert transfers.host_copies == 5 and transfers.host_uploads == 5  # one each per frame, shared
    assert transfers.host_copy_bytes == 5 * 720 * 1280 * 3


def test_headline_chain_on_the_device_makes_no_plugin_host_copy(tmp_path):
    """The CLI on a CUDA machine: device frames, YOLOX fp16 on the frame tensor, ByteTrack, the torch
    annotators; the summary counts the plugins' host copies (0)."""
    import torch
    from vistream.detect.yolox import build_model

    torch.manual_seed(0)
    checkpoint = tmp_path / "bytetrack_m.pth.tar"
    torch.save({"model": build_model("yolox_m_mix_det").state_dict()}, checkpoint)
    out = tmp_path / "headline.mp4"
    proc = subprocess.run([sys.executable, "play.py", "test.mp4", "--bytetrack", f"ckpt_file={checkpoint};fp16=True",
                           "--hwaccel", "auto", "--headless", "--end", "2", "--output", str(out)],
                          cwd=REPO / "python", capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "frames as tensors on cuda" in proc.stdout, proc.stdout
    assert "0 host copies, 0 uploads" in proc.stdout, proc.stdout
