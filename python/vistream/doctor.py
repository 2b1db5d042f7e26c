"""``vistream doctor`` and ``vistream.capabilities()``: what this machine and build can do.

One screen to paste into a bug report: FFmpeg's version and configuration, the hardware
device types FFmpeg has and which open here, the encoders that open, the CUDA driver and
devices, the deep-learning runtimes (torch, onnxruntime, TensorRT) and the SDL drivers.
Every hardware answer comes from a real attempt (a device created, an encoder opened) with
the reason it failed.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import platform
import sys
from typing import Any, Dict, List, Optional

from . import _core


def _module_version(name: str) -> Optional[str]:
    if importlib.util.find_spec(name) is None:
        return None
    try:
        module = importlib.import_module(name)
    except Exception as error:  # installed but broken: say so rather than hide it
        return f"installed, import fails: {type(error).__name__}: {error}"
    return str(getattr(module, "__version__", "installed"))


def _torch_report() -> Dict[str, Any]:
    version = _module_version("torch")
    report: Dict[str, Any] = {"version": version, "cuda_available": False, "cuda_version": None, "devices": []}
    if version is None or version.startswith("installed, import fails"):
        return report
    import torch

    report["cuda_version"] = torch.version.cuda
    # is_available() initializes CUDA in this process only when a driver is there.
    report["cuda_available"] = bool(torch.cuda.is_available())
    if report["cuda_available"]:
        report["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return report


def _onnxruntime_report() -> Dict[str, Any]:
    version = _module_version("onnxruntime")
    report: Dict[str, Any] = {"version": version, "providers": []}
    if version is not None and not version.startswith("installed, import fails"):
        import onnxruntime

        report["providers"] = list(onnxruntime.get_available_providers())
    return report


def capabilities() -> Dict[str, Any]:
    """Probes this machine; returns a JSON-serializable dict (what ``vistream doctor --json`` prints).

    Keys: ``vistream`` (version), ``python``, ``platform``, ``ffmpeg_version``,
    ``ffmpeg_configuration``, ``hwaccels`` and ``encoders`` (lists of ``{"name", "available",
    "detail"}``), ``cuda`` (``library_loaded``, ``initialized``, ``driver_version``,
    ``device_count``, ``devices``, ``problem``, ``kernels_built``), ``torch``, ``onnxruntime``,
    ``tensorrt`` (version or None), ``sdl_video_drivers``, ``sdl_audio_drivers``.

    Takes about a second (it opens devices and encoders).
    """
    from . import __version__

    report: Dict[str, Any] = {"vistream": __version__, "python": sys.version.split()[0],
                              "platform": platform.platform()}
    report.update(_core.capabilities())
    report["torch"] = _torch_report()
    report["onnxruntime"] = _onnxruntime_report()
    report["tensorrt"] = _module_version("tensorrt")
    return report


def _driver_version(code: int) -> str:
    return f"{code // 1000}.{code % 1000 // 10}" if code else "unknown"


def _mark(available: bool) -> str:
    return "yes" if available else "no "


def format_report(report: Dict[str, Any]) -> str:
    """The human-readable screen of ``vistream doctor``."""
    lines: List[str] = [
        f"vistream {report['vistream']}  python {report['python']}  {report['platform']}",
        f"FFmpeg {report['ffmpeg_version']}",
        f"  configuration: {report['ffmpeg_configuration']}",
        "hardware devices (FFmpeg hwaccels; opened here?):",
    ]
    lines += [f"  {_mark(p['available'])} {p['name']:<8} {p['detail']}" for p in report["hwaccels"]]
    lines.append("encoders (opened here?):")
    lines += [f"  {_mark(p['available'])} {p['name']:<12} {p['detail']}" for p in report["encoders"]]
    cuda = report["cuda"]
    lines.append("CUDA:")
    if cuda["initialized"]:
        lines.append(f"  driver {_driver_version(cuda['driver_version'])}, {cuda['device_count']} device(s)")
        lines += [f"  cuda:{d['ordinal']} {d['name']} (compute {d['compute_capability']})" for d in cuda["devices"]]
    else:
        lines.append(f"  not available: {cuda['problem']}")
    lines.append(f"  conversion kernels built in: {'yes' if cuda['kernels_built'] else 'no (torch fallback)'}")
    torch = report["torch"]
    lines.append("runtimes:")
    lines.append(f"  torch {torch['version'] or 'not installed'}"
                 + (f" (CUDA {torch['cuda_version']}, available: {torch['cuda_available']})" if torch["version"] else ""))
    ort = report["onnxruntime"]
    lines.append(f"  onnxruntime {ort['version'] or 'not installed'}"
                 + (f" providers: {', '.join(ort['providers'])}" if ort["providers"] else ""))
    lines.append(f"  tensorrt {report['tensorrt'] or 'not installed'}")
    lines.append("SDL drivers:")
    lines.append(f"  video: {', '.join(report['sdl_video_drivers']) or 'none (built without SDL)'}")
    lines.append(f"  audio: {', '.join(report['sdl_audio_drivers']) or 'none (built without SDL)'}")
    return "\n".join(lines)


def run(as_json: bool = False) -> int:
    """``vistream doctor [--json]``: prints the report; exit status 0."""
    report = capabilities()
    print(json.dumps(report, indent=2) if as_json else format_report(report))
    return 0


__all__ = ["capabilities", "format_report", "run"]
