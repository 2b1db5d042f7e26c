"""bench/web.py's frame code: the index burnt into the pixels survives JPEG and the page's scaling.

The latency benchmark of the web view (bench/web.py) pairs what the browser shows with what the
pipeline handed over only through this code, so a code that JPEG or a scaled <img> garbles would
make every latency figure wrong. The browser's decoder is the same sampling in JavaScript.
"""
import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "web.py"
_spec = importlib.util.spec_from_file_location("bench_web", _PATH)
bench = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("bench_web", bench)
_spec.loader.exec_module(bench)


def _busy_picture(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(720, 1280, 3), dtype=np.uint8)


@pytest.mark.parametrize("index", [0, 1, 255, 256, 4097, 65535, 65536 + 7])
def test_frame_code_survives_jpeg_and_downscaling(index):
    picture = _busy_picture(index)
    bench.burn_code(picture, index)
    ok, jpeg = cv2.imencode(".jpg", picture, [int(cv2.IMWRITE_JPEG_QUALITY), 60])
    assert ok
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    assert bench.read_code(decoded) == index % 65536
    half = cv2.resize(decoded, (640, 360), interpolation=cv2.INTER_AREA)  # a page showing it smaller
    assert bench.read_code(half) == index % 65536


def test_a_picture_without_code_does_not_decode():
    assert bench.read_code(np.zeros((720, 1280, 3), np.uint8)) is None
    assert bench.read_code(np.full((720, 1280, 3), 255, np.uint8)) is None
    picture = _busy_picture(3)
    bench.burn_code(picture, 1234)
    side = bench.code_block(1280)
    picture[side:2 * side, side:2 * side] = 255 - picture[side:2 * side, side:2 * side]  # one bit flipped
    assert bench.read_code(picture) is None


def test_latency_pairs_each_shown_index_with_its_latest_handover():
    handovers = [(5, 100.0), (6, 100.033), (7, 100.066), (5, 200.0)]
    shown = [(5, 100_050), (7, 100_100), (5, 200_020)]  # index 6 never shown
    stats = bench.latency_stats(handovers, shown, (99.0, 201.0))
    assert stats["shown"] == 3
    assert stats["lost"] == 1
    assert stats["median_ms"] == pytest.approx(34, abs=0.5)
    assert stats["max_ms"] == pytest.approx(50, abs=0.5)
