"""The C++ core's own tests (tests/cpp, GoogleTest), built with CMake and run by ctest.

They check the engine's concurrency pieces directly (BlockingQueue, MediaClock,
DecodedFrameCache with several threads), FrameIndex and a Demuxer/VideoSource
open-decode-seek smoke test on a clip they generate with ffmpeg.  One Release configuration
in build/native-tests; scripts/sanitize.sh runs the same binary under TSan and ASan+UBSan.
A missing toolchain (cmake, a C++ compiler, libgtest-dev) fails here: scripts/setup.sh --test
installs it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO / "build" / "native-tests"


def _tool(name: str) -> str | None:
    """`name` from PATH, else from the running interpreter's environment (pip's cmake/ninja)."""
    found = shutil.which(name)
    if found:
        return found
    beside_python = Path(sys.executable).parent / name
    return str(beside_python) if beside_python.is_file() and os.access(beside_python, os.X_OK) else None


def _run(argv: list[str], what: str, timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{proc.stdout}"
    return proc


def _generator_args(cmake: str) -> list[str]:
    ninja = _tool("ninja")
    args = ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"] if ninja else ["-G", "Unix Makefiles"]
    # A build folder configured with another generator cannot be reused: start it afresh.
    cache = BUILD_DIR / "CMakeCache.txt"
    if cache.is_file():
        wanted = f"CMAKE_GENERATOR:INTERNAL={args[1]}"
        if wanted not in cache.read_text(errors="replace").splitlines():
            shutil.rmtree(BUILD_DIR)
    return args


def test_cpp_core_tests_pass_under_ctest():
    cmake = _tool("cmake")
    assert cmake, "cmake not found: run scripts/setup.sh --test (installs cmake and libgtest-dev)"
    ctest = str(Path(cmake).with_name("ctest"))
    assert Path(ctest).is_file(), f"ctest not found beside {cmake}"

    configure = [cmake, "-S", str(REPO), "-B", str(BUILD_DIR), *_generator_args(cmake),
                 "-DCMAKE_BUILD_TYPE=Release", "-DVISTREAM_BUILD_TESTS=ON",
                 "-DVISTREAM_BUILD_EXTENSION=OFF",
                 # The CI's one build with the CUDA kernels OFF (the extension builds them ON).
                 "-DVISTREAM_CUDA_KERNELS=OFF"]
    ccache = shutil.which("ccache")
    if ccache:
        configure.append(f"-DCMAKE_CXX_COMPILER_LAUNCHER={ccache}")
    _run(configure, "configuring the C++ tests", timeout=300)
    _run([cmake, "--build", str(BUILD_DIR), "-j", str(os.cpu_count() or 2), "--target",
          "vistream_core_tests"], "building the C++ tests", timeout=1800)

    proc = subprocess.run([ctest, "--output-on-failure", "--no-tests=error", "-j", "2"],
                          cwd=BUILD_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"ctest failed (exit {proc.returncode}):\n{proc.stdout}"
    # Every suite of tests/cpp ran (a glob or discovery slip would silently drop one).
    for suite in ("BlockingQueue.", "MediaClock.", "FrameIndex.", "DecodedFrameCache.",
                  "Demuxer.", "VideoSource.", "VideoSourceDecode.", "Player."):
        assert suite in proc.stdout, f"no {suite[:-1]} tests ran:\n{proc.stdout}"
    assert "100% tests passed" in proc.stdout, proc.stdout
