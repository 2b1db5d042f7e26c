"""A stub ``libcuda.so.1`` for tests: "NVIDIA driver installed, no usable GPU".

Compiled with cc from the symbol list of FFmpeg's ffnvcodec loader (every symbol its
cuda_load_functions() resolves), so the loader accepts it like a real driver. ``cuInit``
returns CUDA_ERROR_NO_DEVICE; with STUB_CUDA_DEVICES=N in the environment it succeeds and lists
N devices whose primary context cannot be retained (CUDA_ERROR_NOT_SUPPORTED).
cuDriverGetVersion reports 12.4. Everything else returns CUDA_ERROR_UNKNOWN.

With STUB_CUDA_MEMORY=1 as well, the device's primary context is retained and "device memory"
is host memory: contexts, streams and events exist (and order nothing: every operation runs
at once), cuMemAlloc*/cuMemHostAlloc allocate with malloc and the cuMemcpy2D family copies with
memcpy. Code paths that only move and account memory (the encoder's pinned download, the
Writer reading a CUDA tensor through DLPack) then run for real; kernels (cuLaunchKernel) and
NVDEC/NVENC (their own libraries) do not exist.
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

# STUB_CUDA_MEMORY=1: memory operations on host memory (see the module docstring).
MEMORY_BODIES = {
    "cuDevicePrimaryCtxRetain": "*(void**)a0 = &stub_context; return 0;",
    "cuDevicePrimaryCtxRelease": "return 0;",
    "cuCtxPushCurrent_v2": "return 0;",
    "cuCtxPopCurrent_v2": "if (a0) *(void**)a0 = &stub_context; return 0;",
    "cuStreamCreate": "*(void**)a0 = malloc(1); return 0;",
    "cuStreamDestroy_v2": "free(a0); return 0;",
    "cuStreamSynchronize": "return 0;",
    "cuEventCreate": "*(void**)a0 = malloc(1); return 0;",
    "cuEventRecord": "return 0;",
    "cuEventDestroy_v2": "free(a0); return 0;",
    "cuStreamWaitEvent": "return 0;",
    "cuMemAlloc_v2": "*(void**)a0 = malloc((size_t)a1); return *(void**)a0 ? 0 : 2;",
    "cuMemAllocPitch_v2": "size_t pitch = ((size_t)a2 + 255) / 256 * 256; *(size_t*)a1 = pitch; "
                          "*(void**)a0 = malloc(pitch * (size_t)a3); return *(void**)a0 ? 0 : 2;",
    "cuMemFree_v2": "free(a0); return 0;",
    "cuMemHostAlloc": "*(void**)a0 = malloc((size_t)a1); return *(void**)a0 ? 0 : 2;",
    "cuMemFreeHost": "free(a0); return 0;",
    "cuMemcpy2D_v2": "return stub_copy_2d((const CUDA_MEMCPY2D*)a0);",
    "cuMemcpy2DAsync_v2": "return stub_copy_2d((const CUDA_MEMCPY2D*)a0);",
}

MEMORY_HELPERS = r"""
#include <stdint.h>
#include <string.h>
#include <ffnvcodec/dynlink_cuda.h>
static int stub_context;
static int stub_memory(void) { const char* m = getenv("STUB_CUDA_MEMORY"); return m && atoi(m); }
static const char* stub_address(CUmemorytype type, const void* host, CUdeviceptr device) {
  return type == CU_MEMORYTYPE_HOST ? (const char*)host : (const char*)(uintptr_t)device;
}
static int stub_copy_2d(const CUDA_MEMCPY2D* c) {
  const char* src = stub_address(c->srcMemoryType, c->srcHost, c->srcDevice) + c->srcY * c->srcPitch + c->srcXInBytes;
  char* dst = (char*)stub_address(c->dstMemoryType, c->dstHost, c->dstDevice) + c->dstY * c->dstPitch + c->dstXInBytes;
  for (size_t y = 0; y < c->Height; ++y) memcpy(dst + y * c->dstPitch, src + y * c->srcPitch, c->WidthInBytes);
  return 0;
}
"""


def build_stub_libcuda(directory: Path) -> Path:
    """Compiles the stub into ``directory/libcuda.so.1``; returns ``directory`` (for LD_LIBRARY_PATH)."""
    symbols = loader_symbols()
    assert "cuInit" in symbols and "cuDevicePrimaryCtxRetain" in symbols, f"unexpected ffnvcodec loader: {symbols}"
    lines = ["#include <stdio.h>", "#include <stdlib.h>", MEMORY_HELPERS,
             'static int stub_devices(void) { const char* n = getenv("STUB_CUDA_DEVICES"); return n ? atoi(n) : 0; }']
    # Entry points vistream resolves itself (dlsym), beyond the loader's list.
    extra = ["cuDriverGetVersion", "cuStreamWaitEvent", "cuMemHostAlloc", "cuMemFreeHost"]
    for name in symbols + [e for e in extra if e not in symbols]:
        body = STUB_BODIES.get(name, f"return {CUDA_ERROR_UNKNOWN};")
        if name in MEMORY_BODIES:
            body = f"if (stub_memory()) {{ {MEMORY_BODIES[name]} }} {body}"
        lines.append(f"int {name}(void* a0, void* a1, void* a2, void* a3, void* a4, void* a5, void* a6, "
                     f"void* a7, void* a8, void* a9, void* a10) {{ (void)a0; (void)a1; {body} }}")
    source = directory / "stub_cuda.c"
    source.write_text("\n".join(dict.fromkeys(lines)) + "\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(directory / "libcuda.so.1"), str(source)], check=True)
    return directory
