"""The DLPack builder that exports device frames, exercised on host frames (issue 11).

Device frames and host frames go through the same code: Frame::plane_layouts() (shapes and
strides from the pitch), dlpack_capsule() (the DLManagedTensor) and consumer_stream_for()
(the array API's stream argument). Here they run on CPU NV12 frames, including an odd size
whose rows are padded (pitch > width), so strides from the pitch are really checked.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def nv12_frame(vs, path, **kwargs):
    reader = vs.Reader(path, format="nv12", **kwargs)
    frame = next(iter(reader))
    return reader, frame


def test_nv12_planes_export_y_and_interleaved_uv(vs, media):
    reader, frame = nv12_frame(vs, media["bframes"])
    with reader:
        y, uv = frame.export_planes()
        assert (y.shape, y.dtype, y.device) == ((240, 320), "uint8", "cpu")
        assert (uv.shape, uv.strides) == ((120, 160, 2), (320, 2, 1))
        assert frame.__dlpack_device__() == (1, 0) and y.__dlpack_device__() == (1, 0)
        y_np, uv_np = frame.planes
        y_t, uv_t = torch.from_dlpack(y), torch.from_dlpack(uv)
        # A view of the frame's own memory: same pointer as the numpy planes, same pixels.
        assert y_t.data_ptr() == y_np.__array_interface__["data"][0]
        assert uv_t.data_ptr() == uv_np.__array_interface__["data"][0]
        assert np.array_equal(y_t.numpy(), y_np) and np.array_equal(uv_t.numpy(), uv_np.reshape(120, 160, 2))
        # numpy consumes the same capsules.
        assert np.array_equal(np.from_dlpack(uv), uv_np.reshape(120, 160, 2))


def test_strides_come_from_the_pitch(vs, media):
    # 1279x719 nv12: not the stacked layout, so FFmpeg pads each row; the tensor must step by
    # the pitch, not by the width, and the chroma plane rounds up (640x360).
    reader, frame = nv12_frame(vs, media["odd"])
    with reader:
        y, uv = frame.export_planes()
        y_np, uv_np = frame.planes
        assert y.shape == (719, 1279) and uv.shape == (360, 640, 2)
        pitch = y_np.strides[0]
        assert pitch > 1279, "this check needs padded rows"
        assert y.strides == (pitch, 1) and uv.strides[0] == uv_np.strides[0]
        y_t = torch.from_dlpack(y)
        assert y_t.stride() == (pitch, 1)
        assert torch.equal(y_t, torch.from_numpy(np.ascontiguousarray(y_np)))
        assert torch.equal(torch.from_dlpack(uv), torch.from_numpy(np.ascontiguousarray(uv_np)).reshape(360, 640, 2))


def test_exported_plane_outlives_frame_and_reader(vs, media):
    reader, frame = nv12_frame(vs, media["bframes"])
    expected = frame.planes[0].copy()
    tensor = torch.from_dlpack(frame.export_planes()[0])
    del frame
    reader.close()
    assert torch.equal(tensor, torch.from_numpy(expected))


def test_stream_and_keyword_rules_on_host_frames(vs, media):
    reader, frame = nv12_frame(vs, media["bframes"])
    with reader:
        y = frame.export_planes()[0]
        y.__dlpack__(stream=None)
        with pytest.raises(BufferError, match="stream must be None"):
            y.__dlpack__(stream=1)
        with pytest.raises(BufferError, match="differs from the frame's device"):
            y.__dlpack__(dl_device=(2, 0))
        y.__dlpack__(dl_device=(1, 0), max_version=(1, 0), copy=False)
        with pytest.raises(BufferError, match="copy=True"):
            y.__dlpack__(copy=True)
        with pytest.raises(TypeError, match="unexpected keyword"):
            y.__dlpack__(strem=None)
        # A whole planar frame is not one tensor; the error points to the plane exporters.
        with pytest.raises(BufferError, match="export_planes"):
            frame.__dlpack__()
        assert frame.device == "cpu"
        with pytest.raises(ValueError, match="already in host memory"):
            frame.download()


def test_cuda_stream_argument_rules(vs):
    """The rules __dlpack__ applies to a CUDA tensor's `stream` (array API 2023.12)."""
    rule = vs._core._dlpack_consumer_stream
    assert rule(None, 0) == 1          # None: the consumer is on the legacy default stream
    assert rule(1, 0) == 1 and rule(2, 0) == 2
    assert rule(-1, 0) == 0            # the consumer synchronizes itself: no wait queued
    assert rule(0x7F00DEAD0000, 1) == 0x7F00DEAD0000
    with pytest.raises(ValueError, match="ambiguous"):
        rule(0, 0)
    with pytest.raises(ValueError):
        rule(-5, 0)
    with pytest.raises(TypeError):
        rule("1", 0)
    with pytest.raises(TypeError):
        rule(True, 0)
    assert rule(None, -1) == 0
    with pytest.raises(BufferError):
        rule(2, -1)


def test_packed_frames_keep_exporting_through_the_builder(vs, media):
    with vs.Reader(media["bframes"]) as reader:
        frame = next(iter(reader))
        tensor = torch.from_dlpack(frame)
        assert tuple(tensor.shape) == (240, 320, 3) and tensor.data_ptr() == frame.array.ctypes.data
        with pytest.raises(BufferError):
            frame.__dlpack__(stream=2)
