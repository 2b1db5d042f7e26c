"""Encoding from "device memory" through the real code, with the stub driver emulating memory.

tests/cuda_stub.py with STUB_CUDA_MEMORY=1 is a CUDA driver whose device memory is host memory
(cuMemAlloc = malloc, cuMemcpy2D = memcpy, streams that order nothing). Nothing here runs on a
GPU; what runs for real is vistream's side: the CudaDevice (primary context, the hand-built
AVHWDeviceContext that FFmpeg initializes), ``Writer(device="cuda")`` reading a CUDA tensor
through DLPack as a consumer (its stream handed to ``__dlpack__``, the capsule consumed and
released), the encoder choosing the download path when NVENC is absent (libnvidia-encode is
missing here, as on an H100), the pinned download, and its accounting. The pictures must reach
the file unchanged. In a fresh interpreter each, since the driver is probed once per process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cuda_stub import build_stub_libcuda

pytestmark = pytest.mark.skipif(os.path.exists("/dev/nvidia0"), reason="a real NVIDIA driver and GPU are present")

# A DLPack producer of a CUDA (device type 2) uint8 tensor whose memory, under the emulating
# stub, is a numpy array. It records the stream its consumer asked for and when the consumer
# released the capsule, so the test can check vistream follows the array API as a consumer.
PRODUCER = textwrap.dedent("""
    import ctypes
    import numpy as np

    class DLDevice(ctypes.Structure):
        _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]

    class DLDataType(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]

    class DLTensor(ctypes.Structure):
        _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                    ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                    ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]

    class DLManagedTensor(ctypes.Structure):
        pass

    DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
    DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", DELETER)]

    capsule_new = ctypes.pythonapi.PyCapsule_New
    capsule_new.restype = ctypes.py_object
    capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]

    class EmulatedCudaTensor:
        streams, released = [], []

        def __init__(self, array):
            self.array = np.ascontiguousarray(array)
            self.shape = self.array.shape
            self._keep = []

        def __dlpack_device__(self):
            return (2, 0)

        def __dlpack__(self, stream=None, **kwargs):
            EmulatedCudaTensor.streams.append(stream)
            shape = (ctypes.c_int64 * self.array.ndim)(*self.array.shape)
            strides = (ctypes.c_int64 * self.array.ndim)(*self.array.strides)
            managed = DLManagedTensor()
            managed.dl_tensor = DLTensor(self.array.ctypes.data, DLDevice(2, 0), self.array.ndim,
                                         DLDataType(1, 8, 1), shape, strides, 0)
            deleter = DELETER(lambda _: EmulatedCudaTensor.released.append(True))
            managed.deleter = deleter
            self._keep += [shape, strides, managed, deleter]
            return capsule_new(ctypes.addressof(managed), b"dltensor", None)
""")

SCRIPT = PRODUCER + textwrap.dedent("""
    import json, sys
    import vistream as vs
    out, frames = sys.argv[1], []
    for value in range(10):
        bgr = np.zeros((48, 64, 3), np.uint8)
        bgr[..., 0], bgr[..., 2] = 20 * value, 200 - 10 * value    # blue rises, red falls
        frames.append(bgr)
    with vs.Writer(out, fps=30, device="cuda", pixel_format="bgra") as writer:
        for bgr in frames[:5]:           # (H, W, 4) pictures: read where they are
            writer.write(EmulatedCudaTensor(np.concatenate([bgr, np.zeros((48, 64, 1), np.uint8)], axis=2)))
        try:
            writer.write(np.zeros((48, 64, 3), np.uint8))
            refused = None
        except vs.DeviceMismatchError as error:
            refused = str(error)
        released_while_writing = len(EmulatedCudaTensor.released)
    stats = writer.stats
    print(json.dumps({"encode_path": stats.encode_path, "written": stats.frames_written,
                      "bytes": stats.device_to_host_bytes, "copies": stats.device_to_host_copies,
                      "streams": EmulatedCudaTensor.streams, "released": released_while_writing,
                      "refused": refused, "transfers": vs.transfer_stats(),
                      "expected": [f[0, 0].tolist() for f in frames[:5]]}))
""")


def decoded(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt",
                          "bgr24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, 48, 64, 3)


def test_writer_on_the_device_downloads_each_picture_once_when_there_is_no_nvenc(tmp_path):
    stub = build_stub_libcuda(tmp_path)
    env = dict(os.environ, LD_LIBRARY_PATH=f"{stub}:{os.environ.get('LD_LIBRARY_PATH', '')}",
               STUB_CUDA_DEVICES="1", STUB_CUDA_MEMORY="1")
    out = tmp_path / "device.mp4"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # No NVENC (libnvidia-encode.so.1 missing, as on an H100): one pinned download per frame.
    assert result["encode_path"] == "download+libx264"
    assert result["written"] == result["copies"] == 5
    assert result["bytes"] == 5 * 64 * 48 * 4
    assert result["transfers"]["device_to_host_copies"] == 5
    # The array API as a consumer: vistream's own stream handle (never None/-1: it orders on it),
    # and every capsule released by the time write() returned.
    streams = result["streams"]
    assert len(streams) == 5 and len(set(streams)) == 1 and isinstance(streams[0], int) and streams[0] > 2
    assert result["released"] == 5
    assert result["refused"] and "device='cpu'" in result["refused"]
    # The pictures reached the file (x264 at its default quality: flat colours within a few levels).
    frames = decoded(out)
    assert len(frames) == 5
    for frame, expected in zip(frames, result["expected"]):
        assert np.abs(frame[8:40, 8:56].reshape(-1, 3).mean(0) - expected).max() < 6, (frame[20, 20], expected)
