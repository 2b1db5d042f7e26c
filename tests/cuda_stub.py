"""A stub ``libcuda.so.1`` for tests: "NVIDIA driver installed, no usable GPU".

Compiled with cc from the symbol list of FFmpeg's ffnvcodec loader (every symbol its
cuda_load_functions() resolves), so the loader accepts it like a real driver. ``cuInit``
returns CUDA_ERROR_NO_DEVICE; with STUB_CUDA_DEVICES=N in the environment it succeeds and lists
N devices whose primary context cannot be retained (CUDA_ERROR_NOT_SUPPORTED).
cuDriverGetVersion reports 12.4. Everything else returns CUDA_ERROR_UNKNOWN.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

LOADER = Path("/usr/include/ffnvcodec/dynlink_loader.h")

# Result codes from the CUDA driver API's cuda.h.
CUDA_ERROR_NO_DEVICE = 100
CUDA_ERROR_NOT_SUPPORTED = 801
CUDA_ERROR_UNKNOWN = 999


def loader_symbols() -> list[str]:
    """Every symbol cuda_load_functions() resolves (mandatory and optional)."""
    text = LOADER.read_text()
    body = text[text.index("static inline int cuda_load_functions"):]
    body = body[:body.index("GENERIC_LOAD_FUNC_FINALE")]
    return sorted(set(re.findall(r'LOAD_SYMBOL(?:_OPT)?\(\w+,\s*\w+,\s*"(\w+)"\)', body)))


STUB_BODIES = {
    "cuInit": "return stub_devices() ? 0 : %d;" % CUDA_ERROR_NO_DEVICE,
    "cuDeviceGetCount": "*(int*)a0 = stub_devices(); return 0;",
    "cuDeviceGet": "*(int*)a0 = (int)(long)a1; return 0;",
    "cuDeviceGetName": 'snprintf((char*)a0, (int)(long)a1, "vistream stub GPU"); return 0;',
    "cuDeviceComputeCapability": "*(int*)a0 = 8; *(int*)a1 = 6; return 0;",
    "cuDevicePrimaryCtxRetain": "return %d;" % CUDA_ERROR_NOT_SUPPORTED,
    "cuDriverGetVersion": "*(int*)a0 = 12040; return 0;",
    "cuGetErrorName": "*(const char**)a1 = 0; return 1;",
    "cuGetErrorString": "*(const char**)a1 = 0; return 1;",
}


def build_stub_libcuda(directory: Path) -> Path:
    """Compiles the stub into ``directory/libcuda.so.1``; returns ``directory`` (for LD_LIBRARY_PATH)."""
    symbols = loader_symbols()
    assert "cuInit" in symbols and "cuDevicePrimaryCtxRetain" in symbols, f"unexpected ffnvcodec loader: {symbols}"
    lines = ["#include <stdio.h>", "#include <stdlib.h>",
             'static int stub_devices(void) { const char* n = getenv("STUB_CUDA_DEVICES"); return n ? atoi(n) : 0; }']
    for name in symbols + ["cuDriverGetVersion"]:
        body = STUB_BODIES.get(name, f"return {CUDA_ERROR_UNKNOWN};")
        lines.append(f"int {name}(void* a0, void* a1, void* a2, void* a3, void* a4, void* a5, void* a6, "
                     f"void* a7, void* a8, void* a9, void* a10) {{ (void)a0; (void)a1; {body} }}")
    source = directory / "stub_cuda.c"
    source.write_text("\n".join(dict.fromkeys(lines)) + "\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(directory / "libcuda.so.1"), str(source)], check=True)
    return directory
