"""YUV -> RGB conversion of NV12/P010 planes with torch ops: the fallback of the CUDA kernels.

Same maths as ``src/cuda/color_convert.hpp`` (the kernels' functor): BT.601/709/2020
coefficients, limited or full range, chroma taken from each 2x2 block's sample. It runs on
whatever device the planes are on, so it converts device frames when vistream was built
without the kernels (``VISTREAM_CUDA_KERNELS=OFF``) and CPU tensors the same way (tested
against swscale in tests/test_color_conversion.py).

Example::

    frame = next(iter(vistream.Reader("clip.mp4", device="cuda")))
    bgr = vistream.torch_convert.to_tensor(frame)          # (H, W, 3) uint8 on the GPU
"""

from __future__ import annotations

from typing import Any, Tuple, Union

#: FFmpeg's AVColorSpace numbers for the matrices (what ``frame`` tags carry).
MATRICES = {"bt601": 5, "bt470bg": 5, "smpte170m": 6, "bt709": 1, "bt2020": 9, "bt2020nc": 9}
LAYOUTS = ("bgr", "rgb", "bgr0")


def matrix_weights(matrix: int) -> Tuple[float, float]:
    """Kr, Kb of an AVColorSpace number (BT.601 for unknown/unspecified, as swscale)."""
    if matrix == 1:
        return 0.2126, 0.0722
    if matrix in (9, 10):
        return 0.2627, 0.0593
    return 0.299, 0.114


def yuv_to_rgb_coefficients(matrix: Union[int, str], full_range: bool, bits: int = 8) -> dict:
    """The coefficients of ``make_yuv_to_rgb`` in color_convert.hpp, by name."""
    code = MATRICES[matrix.lower()] if isinstance(matrix, str) else int(matrix)
    kr, kb = matrix_weights(code)
    kg = 1.0 - kr - kb
    scale = float(1 << (bits - 8))
    max_code = float((1 << bits) - 1)
    if full_range:
        y_offset, y_scale, c_scale = 0.0, 1.0 / max_code, 1.0 / max_code
    else:
        y_offset, y_scale, c_scale = 16.0 * scale, 1.0 / (219.0 * scale), 1.0 / (224.0 * scale)
    return {"y_offset": y_offset, "y_scale": y_scale, "c_offset": 128.0 * scale, "c_scale": c_scale,
            "r_cr": 2.0 * (1.0 - kr), "b_cb": 2.0 * (1.0 - kb),
            "g_cb": -2.0 * kb * (1.0 - kb) / kg, "g_cr": -2.0 * kr * (1.0 - kr) / kg}


def semiplanar_to_rgb(luma: Any, chroma: Any, matrix: Union[int, str] = "bt601", full_range: bool = False,
                      layout: str = "bgr", bits: int = 8) -> Any:
    """Converts NV12 (uint8) or P010 (uint16, ``bits=10``: value in the top 10 bits) planes.

    Args:
        luma: (H, W) tensor. chroma: (ceil(H/2), ceil(W/2), 2) tensor (U, V interleaved).
        matrix: "bt601", "bt709", "bt2020" or an AVColorSpace number.
        full_range: True for full ("pc"/JPEG) range, False for limited ("tv").
        layout: "bgr", "rgb" or "bgr0" (4 channels, the 4th 0).
    Returns:
        (H, W, 3 or 4) uint8 tensor on the planes' device.
    """
    import torch

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    m = yuv_to_rgb_coefficients(matrix, full_range, bits)
    height, width = luma.shape[0], luma.shape[1]
    shift = 6 if bits == 10 else 0
    y = luma.to(torch.int32) >> shift if shift else luma.to(torch.int32)
    c = chroma.to(torch.int32) >> shift if shift else chroma.to(torch.int32)
    # Each chroma sample covers its 2x2 block (nearest, as the kernels do).
    c = c.repeat_interleave(2, dim=0).repeat_interleave(2, dim=1)[:height, :width]
    yn = (y.to(torch.float32) - m["y_offset"]) * m["y_scale"]
    cb = (c[..., 0].to(torch.float32) - m["c_offset"]) * m["c_scale"]
    cr = (c[..., 1].to(torch.float32) - m["c_offset"]) * m["c_scale"]
    r = yn + m["r_cr"] * cr
    g = yn + m["g_cb"] * cb + m["g_cr"] * cr
    b = yn + m["b_cb"] * cb

    def to_byte(v: Any) -> Any:
        return torch.clamp(v * 255.0 + 0.5, 0.0, 255.0).to(torch.uint8)

    channels = [to_byte(r), to_byte(g), to_byte(b)] if layout == "rgb" else [to_byte(b), to_byte(g), to_byte(r)]
    if layout == "bgr0":
        channels.append(torch.zeros_like(channels[0]))
    return torch.stack(channels, dim=-1)


def to_tensor(frame: Any, layout: str = "bgr", matrix: Union[int, str, None] = None,
              full_range: Union[bool, None] = None) -> Any:
    """A frame's pixels as an (H, W, 3) uint8 tensor on the frame's device, converted with torch.

    For nv12/p010 frames (device frames, or host frames read with ``format="nv12"``). The
    matrix and range default to the frame's tags (``frame.color_matrix``/``frame.full_range``
    when present), else BT.601 limited range, swscale's default.
    """
    import torch

    planes = frame.export_planes()
    if len(planes) != 2:
        raise ValueError(f"to_tensor needs a semi-planar (nv12/p010) frame, got {len(planes)} planes")
    luma, chroma = (torch.from_dlpack(p) for p in planes)
    bits = 10 if planes[0].dtype == "uint16" else 8
    if matrix is None:
        matrix = getattr(frame, "color_matrix", 5)
    if full_range is None:
        full_range = bool(getattr(frame, "full_range", False))
    return semiplanar_to_rgb(luma, chroma, matrix, full_range, layout, bits)


# Where B, G, R sit in the channels of each pixel format a Writer or a callback may use.
_BGR_ORDER = {"bgr24": (0, 1, 2), "bgra": (0, 1, 2), "rgb24": (2, 1, 0), "rgba": (2, 1, 0)}


def _as_torch(image: Any) -> Any:
    import torch

    return image if isinstance(image, torch.Tensor) else torch.from_dlpack(image)


def to_bgr0(image: Any, pixel_format: str = "bgr24") -> Any:
    """An (H, W, 3/4) uint8 image (torch tensor or any DLPack producer) as the (H, W, 4) BGR0
    tensor NVENC takes from device memory, on the same device.

    A bgra tensor whose pixels are contiguous within rows is returned as it is (NVENC ignores
    the 4th byte); other layouts are copied once on the device.
    """
    import torch

    if pixel_format not in _BGR_ORDER:
        raise ValueError(f"device frames are written from bgr24, rgb24, bgra or rgba tensors, not {pixel_format!r}")
    tensor = _as_torch(image)
    channels = 4 if pixel_format in ("bgra", "rgba") else 3
    if tensor.dtype != torch.uint8 or tensor.ndim != 3 or tensor.shape[2] != channels:
        raise ValueError(f"a {pixel_format} tensor must be (H, W, {channels}) uint8, got {tuple(tensor.shape)} "
                         f"{tensor.dtype}")
    if pixel_format == "bgra" and tensor.stride(2) == 1 and tensor.stride(1) == 4:
        return tensor
    picture = torch.zeros((tensor.shape[0], tensor.shape[1], 4), dtype=torch.uint8, device=tensor.device)
    picture[..., :3] = tensor[..., list(_BGR_ORDER[pixel_format])]
    return picture


def copy_into_picture(frame: Any, result: Any) -> None:
    """What a Player callback returned for a device frame, copied into the frame's picture.

    ``result``: an (H, W, 3) uint8 BGR CUDA tensor (any DLPack producer: torch, cupy...),
    copied device-to-device on torch's current stream (a non-torch producer first orders its
    own work before that stream, through DLPack's stream argument), or a numpy array, uploaded
    once (counted in ``vistream.transfer_stats()``). The engine then makes its stream wait for
    torch's before the window or the encoder read the picture.
    """
    import numpy as np
    import torch

    from . import _core

    target = torch.from_dlpack(frame)  # the picture itself, (H, W, 3) strided view of BGR0
    if isinstance(result, np.ndarray):
        if result.dtype != np.uint8 or result.shape != tuple(target.shape):
            raise ValueError(f"frame callback returned an array of shape {result.shape} dtype {result.dtype}; "
                             f"expected {tuple(target.shape)} uint8")
        host = torch.from_numpy(np.ascontiguousarray(result))
        target.copy_(host)
        _core._count_host_to_device(host.numel())
        return
    if not hasattr(result, "__dlpack__"):
        raise TypeError("frame callback must return None, a CUDA tensor or a numpy array, got "
                        f"{type(result).__name__}")
    source = _as_torch(result)
    if source.dtype != torch.uint8 or tuple(source.shape) != tuple(target.shape):
        raise ValueError(f"frame callback returned a tensor of shape {tuple(source.shape)} dtype {source.dtype}; "
                         f"expected {tuple(target.shape)} uint8")
    if source.device != target.device:
        raise ValueError(f"frame callback returned a tensor on {source.device}; the frame is on {target.device}")
    if source.data_ptr() != target.data_ptr():
        target.copy_(source)


__all__ = ["copy_into_picture", "semiplanar_to_rgb", "to_bgr0", "to_tensor", "yuv_to_rgb_coefficients", "MATRICES"]
