"""device= on Player and Writer, on a machine without a GPU (issue 11): what users see here.

The device paths themselves (NVENC from device memory, the pinned-memory download, callbacks
editing or returning CUDA tensors) need a GPU: tests/gpu/test_gpu_encode.py. Here: the CPU path
reports itself through the same stats fields, the cache's device budget is an option like the
others, and pixels on the wrong device get an error that names the fix.
"""
from __future__ import annotations

import numpy as np
import pytest


class CudaTensorInterface:
    """The DLPack interface of a tensor in CUDA memory (what ``torch.ones(2, device="cuda")``
    exposes): its device is CUDA 0. A Writer on the CPU must refuse it by its device, before
    asking for its memory, so ``__dlpack__`` itself is never reached."""

    def __dlpack_device__(self):
        return (2, 0)  # kDLCUDA, device 0

    def __dlpack__(self, stream=None, **kwargs):
        raise AssertionError("the Writer read the memory of a tensor it cannot use")


def test_writer_on_the_cpu_refuses_a_cuda_tensor_naming_the_fix(vs, tmp_path):
    out = tmp_path / "out.mp4"
    writer = vs.Writer(out, fps=30)
    with pytest.raises(vs.DeviceMismatchError, match=r"device='cuda:0'.*tensor\.cpu\(\)") as caught:
        writer.write(CudaTensorInterface())
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, vs.VistreamError)
    # Nothing lost: the writer goes on with host frames.
    assert writer.write(np.full((48, 64, 3), 90, np.uint8))
    writer.close()
    assert writer.stats.frames_written == 1 and out.exists()


def test_writer_reports_how_frames_reach_the_encoder(vs, test_mp4, tmp_path):
    with vs.Reader(test_mp4) as reader, vs.Writer(tmp_path / "copy.mp4", fps=reader.info.fps) as writer:
        for _, frame in zip(range(5), reader):
            writer.write(frame)
    stats = writer.stats
    assert stats.encode_path == stats.encoder == "libx264"
    assert (stats.device_to_host_bytes, stats.device_to_host_copies) == (0, 0)


def test_player_reports_device_encode_path_and_cache_budgets(vs, test_mp4, tmp_path):
    player = vs.Player(test_mp4, output=str(tmp_path / "out.mp4"), end=0.2, audio=False, device="cpu",
                       cache_device_bytes=64 << 20)
    stats = player.run()
    assert stats.device == "cpu" and stats.encode_path == "libx264"
    assert (stats.device_to_host_bytes, stats.device_to_host_copies) == (0, 0)
    assert stats.cache.max_device_bytes == 64 << 20 and stats.cache.device_bytes == 0
    assert stats.cache.bytes > 0, "host frames still go to the host budget"
    # The documented default, read from the engine like every other default.
    assert vs.Player(test_mp4).stats.cache.max_device_bytes == 128 << 20
    with pytest.raises(ValueError, match="cache_device_bytes must be >= 0"):
        vs.Player(test_mp4, cache_device_bytes=-1)
    with pytest.raises(ValueError, match=r"device must be 'cpu', 'cuda' or 'cuda:N' \(or 'auto'\)"):
        vs.Player(test_mp4, device="gpu")
