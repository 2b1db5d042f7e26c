"""The YUV -> RGB maths of the GPU path against swscale (issue 11).

Two implementations of the same maths run here on the CPU:
  * the kernels' functor (src/cuda/color_convert.hpp), compiled as host C++ by this test;
  * the torch-ops fallback (vistream.torch_convert), on CPU tensors.
Both must agree with swscale (the ffmpeg CLI, accurate rounding) within 2 LSB for BT.601 and
BT.709, limited and full range. Chroma is constant over 32x32-pixel blocks and pixels within 6 of
a block edge are left out, so the comparison measures the matrix and range, not the chroma
upsampling filter (swscale interpolates, the kernels take the 2x2 block's sample). Also: the
kernels' PTX assembles for sm_90 with ptxas, and the build embeds them.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, BLOCK, MARGIN = 320, 192, 32, 6

HOST_PROGRAM = r"""
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "color_convert.hpp"
using namespace vistream::color;
// host_convert W H MATRIX FULL LAYOUT < nv12 > rgb
int main(int argc, char** argv) {
  const int w = atoi(argv[1]), h = atoi(argv[2]), matrix = atoi(argv[3]), full = atoi(argv[4]), layout = atoi(argv[5]);
  std::vector<unsigned char> in(w * h * 3 / 2), out(static_cast<size_t>(w) * h * bytes_per_pixel(layout));
  if (fread(in.data(), 1, in.size(), stdin) != in.size()) return 2;
  const ConvertPixel convert{make_yuv_to_rgb(matrix, full != 0, 8)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      convert_semiplanar_pixel<unsigned char>(convert, in.data(), w, in.data() + w * h, w, x, y, 0, layout,
                                              out.data(), w * bytes_per_pixel(layout));
  fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
"""

CASES = [("bt601", 5, False), ("bt601", 5, True), ("bt709", 1, False), ("bt709", 1, True)]


def make_picture(full_range: bool, seed: int = 7) -> np.ndarray:
    """NV12 bytes: random luma, chroma constant per BLOCK x BLOCK pixels (swscale's bicubic chroma reaches MARGIN pixels into a block)."""
    rng = np.random.default_rng(seed)
    low, high = (0, 256) if full_range else (16, 236)
    luma = rng.integers(low, high, size=(HEIGHT, WIDTH), dtype=np.uint8)
    c_low, c_high = (0, 256) if full_range else (16, 241)
    blocks = rng.integers(c_low, c_high, size=(HEIGHT // BLOCK, WIDTH // BLOCK, 2), dtype=np.uint8)
    chroma = blocks.repeat(BLOCK // 2, axis=0).repeat(BLOCK // 2, axis=1)
    return np.concatenate([luma.ravel(), chroma.ravel()])


def interior_mask() -> np.ndarray:
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    return ((ys % BLOCK >= MARGIN) & (ys % BLOCK < BLOCK - MARGIN) & (xs % BLOCK >= MARGIN) & (xs % BLOCK < BLOCK - MARGIN))


def swscale_bgr(nv12: np.ndarray, matrix: str, full_range: bool, tmp_path: Path) -> np.ndarray:
    source = tmp_path / "in.nv12"
    source.write_bytes(nv12.tobytes())
    scale = (f"scale=in_color_matrix={matrix}:in_range={'pc' if full_range else 'tv'}"
             ":flags=accurate_rnd+full_chroma_int+bitexact,format=bgr24")
    out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "nv12",
                          "-s", f"{WIDTH}x{HEIGHT}", "-i", str(source), "-vf", scale, "-f", "rawvideo", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(out, np.uint8).reshape(HEIGHT, WIDTH, 3)


@pytest.fixture(scope="module")
def host_convert(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("color")
    (directory / "host_convert.cpp").write_text(HOST_PROGRAM)
    binary = directory / "host_convert"
    compiler = shutil.which("c++") or shutil.which("g++")
    subprocess.run([compiler, "-O2", "-std=c++17", "-Wall", "-Werror", f"-I{REPO / 'src' / 'cuda'}",
                    str(directory / "host_convert.cpp"), "-o", str(binary)], check=True)
    return binary


def assert_close(ours: np.ndarray, reference: np.ndarray, what: str) -> None:
    diff = np.abs(ours.astype(np.int16) - reference.astype(np.int16))[interior_mask()]
    assert diff.max() <= 2, f"{what}: max difference {diff.max()} LSB vs swscale (mean {diff.mean():.3f})"


@pytest.mark.parametrize("matrix,code,full_range", CASES)
def test_kernel_functor_matches_swscale(host_convert, tmp_path, matrix, code, full_range):
    nv12 = make_picture(full_range)
    reference = swscale_bgr(nv12, matrix, full_range, tmp_path)
    bgr = subprocess.run([str(host_convert), str(WIDTH), str(HEIGHT), str(code), str(int(full_range)), "1"],
                         input=nv12.tobytes(), check=True, capture_output=True).stdout
    ours = np.frombuffer(bgr, np.uint8).reshape(HEIGHT, WIDTH, 3)
    assert_close(ours, reference, f"functor {matrix} {'full' if full_range else 'limited'}")
    # The matrix matters: 601 maths on a 709 picture (or the reverse) is far off.
    other = subprocess.run([str(host_convert), str(WIDTH), str(HEIGHT), str(6 - code if code == 5 else 5),
                            str(int(full_range)), "1"], input=nv12.tobytes(), check=True, capture_output=True).stdout
    wrong = np.abs(np.frombuffer(other, np.uint8).reshape(HEIGHT, WIDTH, 3).astype(int) - reference)
    assert wrong[interior_mask()].max() > 8


def test_kernel_functor_layouts(host_convert):
    nv12 = make_picture(False)
    run = lambda layout: np.frombuffer(  # noqa: E731
        subprocess.run([str(host_convert), str(WIDTH), str(HEIGHT), "1", "0", str(layout)], input=nv12.tobytes(),
                       check=True, capture_output=True).stdout, np.uint8)
    bgr0, bgr, rgb = run(0).reshape(HEIGHT, WIDTH, 4), run(1).reshape(HEIGHT, WIDTH, 3), run(2).reshape(HEIGHT, WIDTH, 3)
    assert np.array_equal(bgr0[..., :3], bgr) and not bgr0[..., 3].any()
    assert np.array_equal(rgb, bgr[..., ::-1])


@pytest.mark.parametrize("matrix,code,full_range", CASES)
def test_torch_fallback_matches_swscale(tmp_path, matrix, code, full_range):
    torch = pytest.importorskip("torch")
    from vistream.torch_convert import semiplanar_to_rgb

    nv12 = make_picture(full_range)
    reference = swscale_bgr(nv12, matrix, full_range, tmp_path)
    luma = torch.from_numpy(nv12[:WIDTH * HEIGHT].reshape(HEIGHT, WIDTH).copy())
    chroma = torch.from_numpy(nv12[WIDTH * HEIGHT:].reshape(HEIGHT // 2, WIDTH // 2, 2).copy())
    ours = semiplanar_to_rgb(luma, chroma, matrix=matrix, full_range=full_range, layout="bgr").numpy()
    assert_close(ours, reference, f"torch {matrix} {'full' if full_range else 'limited'}")


def test_torch_fallback_converts_reader_frames(vs, media):
    """to_tensor on an nv12 Reader frame equals the Reader's own bgr24 conversion (swscale,
    bicubic chroma) within the chroma-upsampling difference, on flat testsrc2 areas."""
    torch = pytest.importorskip("torch")
    from vistream.torch_convert import to_tensor

    with vs.Reader(media["bframes"], format="nv12") as nv12_reader, vs.Reader(media["bframes"]) as bgr_reader:
        frame, reference = next(iter(nv12_reader)), next(iter(bgr_reader)).array
        ours = to_tensor(frame).numpy()
    assert ours.shape == reference.shape
    close = np.abs(ours.astype(int) - reference.astype(int)).max(axis=-1) <= 2
    assert close.mean() > 0.9, f"only {close.mean():.1%} of pixels within 2 LSB"


def test_kernels_are_embedded_and_ptx_assembles_for_sm90(vs, tmp_path):
    import vistream._core as core

    if not core.cuda_kernels_built():
        pytest.fail("this build has no CUDA kernels: CI builds with VISTREAM_CUDA_KERNELS=ON (nvcc is installed)")
    ptx = Path(core.__file__).with_name("convert_kernels.ptx")
    assert ptx.is_file(), f"{ptx} missing: the build installs the kernels' PTX beside the extension"
    text = ptx.read_text()
    assert ".entry vs_nv12_to_rgb" in text and ".entry vs_p010_to_rgb" in text
    ptxas = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
    out = tmp_path / "k.cubin"
    subprocess.run([ptxas, "-arch=sm_90", str(ptx), "-o", str(out)], check=True)
    assert out.stat().st_size > 0
