"""``export_model``: a checkpoint or model config → an ONNX file or TensorRT engine, cached by content hash.

Sources: ultralytics weights or configs (``.pt``, ``.yaml``; a config builds the network with
seeded random weights, so the same file always gives the same export) and YOLOX checkpoints
(``.pth``/``.pth.tar``, model name read from the checkpoint) or YOLOX model names
(``yolox_s``: downloaded through ``vistream.hub``). The result lands in
``$VISTREAM_CACHE/exports`` (default ``~/.cache/vistream/exports``) under a name holding the hash
of the source's bytes and every export option; asking again returns that file at once.

Example::

    onnx_path = export_model("yolov8n.pt", imgsz=640)                     # ONNX, fp32
    engine = export_model("yolov8n.pt", format="engine", fp16=True)        # needs TensorRT + GPU
    engine = export_model("yolov8n.pt", format="engine", int8=True, calib="street.mp4")
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Optional, Tuple, Union

import numpy as np

from ..errors import MissingDependencyError

__all__ = ["export_model", "export_cache_dir", "copy_export", "FORMATS"]

FORMATS = ("onnx", "engine")
_ULTRALYTICS_SUFFIXES = (".pt", ".yaml", ".yml")
_YOLOX_SUFFIXES = (".pth", ".tar")
_CALIBRATION_FRAMES = 32
# the seed a model config's random weights are drawn with, so an export of a config is reproducible
CONFIG_SEED = 0


def export_cache_dir() -> Path:
    """Where exports are cached: ``$VISTREAM_CACHE/exports`` (default ``~/.cache/vistream/exports``)."""
    from ..sample_media import cache_dir

    return cache_dir() / "exports"


def _file_digest(path: Path, digest) -> None:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)


def _kind(source: str) -> str:
    lower = source.lower()
    if lower.endswith(_ULTRALYTICS_SUFFIXES):
        return "ultralytics"
    if lower.endswith(_YOLOX_SUFFIXES) or lower.startswith(("yolox", "bytetrack")):
        return "yolox"
    raise ValueError(f"vistream export: cannot tell what {source!r} is: give an ultralytics .pt/.yaml, a YOLOX "
                     ".pth/.pth.tar checkpoint or a YOLOX model name (yolox_s, ...)")


def _versions(kind: str) -> str:
    # the exporters' versions are part of the key; read from the installed metadata, because importing
    # torch just to look up a cached file would make the cached call slow
    from importlib.metadata import PackageNotFoundError, version

    names = ("torch", "ultralytics") if kind == "ultralytics" else ("torch",)
    parts = []
    for name in names:
        try:
            parts.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name}=absent")
    return ";".join(parts)


def _cache_key(source: str, kind: str, fmt: str, imgsz: Tuple[int, int], fp16: bool, int8: bool,
               calib: Optional[str], opset: int) -> str:
    digest = hashlib.sha256()
    path = Path(source)
    if path.is_file():
        _file_digest(path, digest)
    else:
        digest.update(f"name:{source}".encode())
    digest.update(f"|{kind}|{fmt}|{imgsz}|fp16={fp16}|int8={int8}|opset={opset}|{_versions(kind)}".encode())
    if calib:
        _file_digest(Path(calib), digest)
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _quiet_ultralytics() -> Iterator[None]:
    # the exporter logs a dozen lines per export; vistream's CLI prints the resulting path only
    logger = logging.getLogger("ultralytics")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _export_ultralytics_onnx(source: str, target: Path, imgsz: Tuple[int, int], opset: int) -> None:
    try:
        from ultralytics import YOLO
    except ImportError as error:
        raise MissingDependencyError(f"exporting {source} needs ultralytics: pip install ultralytics") from error
    import torch

    with tempfile.TemporaryDirectory(dir=target.parent) as work, contextlib.chdir(work), _quiet_ultralytics():
        if source.lower().endswith((".yaml", ".yml")):
            torch.manual_seed(CONFIG_SEED)
        model = YOLO(str(Path(source).resolve()) if Path(source).is_file() else source)
        written = model.export(format="onnx", imgsz=list(imgsz), opset=opset, simplify=False, dynamic=False,
                               verbose=False)
        os.replace(written, target)


def _export_yolox_onnx(source: str, target: Path, imgsz: Tuple[int, int], opset: int) -> None:
    from ..detect.yolox import YOLOX, export_onnx

    detector = YOLOX(ckpt_file=source, input_size=imgsz) if Path(source).is_file() else \
        YOLOX(source, ckpt_file="auto", input_size=imgsz)
    export_onnx(detector, target, input_size=imgsz, opset=opset)


def _calibration_batches(clip: str, onnx_path: Path, imgsz: Tuple[int, int]):
    """Letterboxed frames spread over the clip, preprocessed as the exported model expects."""
    from ..reader import Reader
    from .predictors import default_preprocess
    from .runtime import OnnxRuntime

    layout = "yolox" if OnnxRuntime(onnx_path).metadata.get("vistream.model", "").startswith("yolox") else "yolov8"
    preprocess = default_preprocess(layout, imgsz)
    with Reader(clip) as reader:
        count = max(len(reader), 1)
        step = max(count // _CALIBRATION_FRAMES, 1)
        indices = list(range(0, count, step))[:_CALIBRATION_FRAMES]
        return [np.asarray(preprocess(frame.array)[0], np.float32) for frame in reader.frames_at(indices)]


def export_model(source: Union[str, os.PathLike], format: str = "onnx", imgsz: Union[int, Tuple[int, int]] = 640,
                 fp16: bool = False, int8: bool = False, calib: Optional[Union[str, os.PathLike]] = None,
                 opset: int = 17) -> Path:
    """Exports ``source`` and returns the cached file (made once per content and options).

    Args:
        source: ultralytics ``.pt``/``.yaml``, YOLOX ``.pth``/``.pth.tar`` or a YOLOX model name.
        format: "onnx" or "engine" (TensorRT; needs the ``tensorrt`` package and an NVIDIA GPU).
        imgsz: the fixed input size (int or (H, W), multiples of 32).
        fp16: half-precision TensorRT kernels (engines only: an ONNX export stays fp32 so it runs
            on every ONNX Runtime provider).
        int8: int8 TensorRT engine calibrated on frames of ``calib`` (a video).
        opset: ONNX opset.

    Raises:
        MissingDependencyError: ultralytics/torch/TensorRT needed and not installed.
        FileNotFoundError: the checkpoint or calibration clip does not exist.
        ValueError: unknown format or source, bad option combination.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if fp16 and format == "onnx":
        raise ValueError("--fp16 applies to TensorRT engines (--format engine); ONNX exports are fp32 (ONNX Runtime's "
                         "CUDA/TensorRT providers can run them in fp16)")
    if int8 and format != "engine":
        raise ValueError("--int8 needs --format engine (TensorRT int8 calibration)")
    if int8 and not calib:
        raise ValueError("--int8 needs a calibration clip: --calib VIDEO")
    if calib and not Path(calib).is_file():
        raise FileNotFoundError(f"calibration clip not found: {calib}")
    if format == "engine":
        from ..detect.yolox.tensorrt_backend import require_tensorrt

        # before any work: without TensorRT (and a GPU) no engine can be built on this machine
        require_tensorrt("vistream export --format engine", "export --format onnx and run it with ONNX Runtime")
    source = os.fspath(source)
    kind = _kind(source)
    if source.lower().endswith(_YOLOX_SUFFIXES + (".pt",)) and not Path(source).is_file():
        raise FileNotFoundError(f"checkpoint not found: {source}")
    hw = (int(imgsz), int(imgsz)) if isinstance(imgsz, (int, np.integer)) else (int(imgsz[0]), int(imgsz[1]))
    if hw[0] % 32 or hw[1] % 32 or min(hw) <= 0:
        raise ValueError(f"imgsz must be positive multiples of 32, got {hw}")
    folder = export_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(source).name.split(".")[0]
    onnx_key = _cache_key(source, kind, "onnx", hw, False, False, None, opset)
    onnx_path = folder / f"{stem}-{hw[0]}x{hw[1]}-{onnx_key}.onnx"
    if not onnx_path.is_file():
        partial = onnx_path.with_name(onnx_path.name + ".partial")  # never a half-written file under the real name
        try:
            if kind == "ultralytics":
                _export_ultralytics_onnx(source, partial, hw, opset)
            else:
                _export_yolox_onnx(source, partial, hw, opset)
            os.replace(partial, onnx_path)
        finally:
            partial.unlink(missing_ok=True)
    if format == "onnx":
        return onnx_path
    from ..detect.yolox.tensorrt_backend import build_engine

    precision = "int8" if int8 else "fp16" if fp16 else "fp32"
    engine_key = _cache_key(source, kind, "engine", hw, fp16, int8, os.fspath(calib) if calib else None, opset)
    engine_path = folder / f"{stem}-{hw[0]}x{hw[1]}-{precision}-{engine_key}.engine"
    if not engine_path.is_file():
        partial = engine_path.with_name(engine_path.name + ".partial")
        try:
            batches = _calibration_batches(os.fspath(calib), onnx_path, hw) if int8 else None
            build_engine(str(onnx_path), str(partial), fp16=fp16 or int8, int8=int8, calibration_batches=batches)
            os.replace(partial, engine_path)
        finally:
            partial.unlink(missing_ok=True)
    return engine_path


def copy_export(path: Path, output: Union[str, os.PathLike]) -> Path:
    """Copies a cached export to ``output`` (a file path or an existing folder)."""
    target = Path(output)
    if target.is_dir():
        target = target / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return target

