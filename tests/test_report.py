"""`vistream report`: plots and a self-contained HTML page from the results of tracking the street
clip (python/test.mp4, MotionDetector + ByteTrack), checked by their pixels and in a real headless
Chromium (Debian's `chromium`, installed by scripts/setup.sh --test)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import TEST_MP4, TEST_MP4_FRAMES
import vistream.report as vistream_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Injected into a copy of the page: records script errors and, once everything has loaded, which
# images failed to decode; --dump-dom prints the DOM after the load event.
_CHECKER_HEAD = """<script>window.__errors=[];window.addEventListener('error',e=>window.__errors.push(String(
e.message||(e.target&&e.target.src)||'error')),true);</script>"""
_CHECKER_BODY = """<script>window.addEventListener('load',()=>{const imgs=[...document.images];
document.body.setAttribute('data-check',JSON.stringify({images:imgs.map(i=>[i.id,i.naturalWidth,i.naturalHeight]),
broken:imgs.filter(i=>!i.complete||i.naturalWidth===0).map(i=>i.id),errors:window.__errors}));});</script>"""


def _vistream(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vistream", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """The street clip tracked once (headless, offline): results JSONL and the annotated video."""
    folder = tmp_path_factory.mktemp("report")
    run = _vistream("play", str(TEST_MP4), "--detector", "motion", "--tracker", "bytetrack", "--headless",
                    "--quiet", "--results", "run.jsonl", "--output", "tracked.mp4", cwd=folder)
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in (folder / "run.jsonl").read_text().splitlines()]
    assert len(records) == TEST_MP4_FRAMES
    return folder, records


@pytest.fixture(scope="module")
def report(tracked):
    folder, records = tracked
    run = _vistream("report", "run.jsonl", "-o", "report.html", "--video", str(TEST_MP4),
                    "--annotated", "tracked.mp4", cwd=folder)
    assert run.returncode == 0, run.stderr
    assert "wrote report.html" in run.stdout
    return folder / "report.html", folder / "report_files", records


def _saturated(path: Path) -> np.ndarray:
    """Mask of coloured pixels: the report draws axes, grid and text in greys, data in colour."""
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return (rgb.max(axis=2) - rgb.min(axis=2)) > 60


def _bands(rows: np.ndarray) -> int:
    """Number of runs of True in a 1-D mask."""
    padded = np.concatenate([[False], rows, [False]])
    return int(np.count_nonzero(padded[1:] & ~padded[:-1]))


def test_timeline_has_one_row_per_track(report):
    _, files, records = report
    track_ids = {d["tracker_id"] for r in records for d in r["detections"] if "tracker_id" in d}
    assert len(track_ids) > 20  # the street clip is busy: a plot of a handful would prove little
    coloured = _saturated(files / "track_timelines.png")
    assert _bands(coloured.any(axis=1)) == len(track_ids)


def test_every_plot_has_data_in_its_plot_area(report):
    _, files, records = report
    for name in ("objects_per_frame", "track_timelines", "track_lengths", "heatmap", "processing_time",
                 "thumbnails"):
        coloured = _saturated(files / f"{name}.png")
        assert coloured.mean() > 0.002, f"{name}.png has (almost) nothing drawn in colour"
    # objects per frame: the line reaches as high as the busiest frame, so its plot spans many rows
    busiest = max(len(r["detections"]) for r in records)
    assert busiest > 10
    rows_with_line = np.nonzero(_saturated(files / "objects_per_frame.png")[:, 100:-150].any(axis=1))[0]
    assert rows_with_line.max() - rows_with_line.min() > 100
    # the thumbnails are frames of the annotated video: 8 tiles of 240 px with 4 px white gaps
    strip = Image.open(files / "thumbnails.png")
    assert strip.size[0] == 8 * 240 + 7 * 4


def test_processing_time_comes_from_the_results(report):
    _, _, records = report
    timings = [r["processing_ms"] for r in records]
    assert all(t > 0 for t in timings)


def test_html_page_is_self_contained(report):
    page, files, _ = report
    text = page.read_text()
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) == len(list(files.glob("*.png"))) == 6
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r'(href|src)="(https?:|file:|//)', text)


def _chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    assert CHROMIUM, "chromium is not installed (scripts/setup.sh --test installs Debian's chromium)"
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _load_in_chromium(page: Path) -> tuple:
    """(check dict, console lines) of ``page`` loaded in headless Chromium."""
    checked = page.with_name(page.stem + ".checked.html")
    text = page.read_text()
    checked.write_text(text.replace("<head>", "<head>" + _CHECKER_HEAD, 1).replace("</body>", _CHECKER_BODY + "</body>"))
    run = _chromium("--dump-dom", checked.as_uri(), cwd=page.parent)
    assert run.returncode == 0, run.stderr
    match = re.search(r'data-check="([^"]*)"', run.stdout)
    assert match, "the page never finished loading"
    import html
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(html.unescape(match.group(1))), console


def test_the_browser_check_catches_broken_pages(tmp_path):
    # The check below is only worth something if it sees what it looks for.
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><title>x</title></head><body><img id="gone" src="missing.png">'
                   '<script>console.error("boom"); undefinedFunction();</script></body></html>')
    check, console = _load_in_chromium(bad)
    assert check["broken"] == ["gone"]
    assert any("undefinedFunction" in e for e in check["errors"])
    assert any("boom" in line for line in console)


def test_html_page_loads_in_chromium_without_errors(report, capsys):
    page, _, _ = report
    check, console = _load_in_chromium(page)
    assert console == []
    assert check["errors"] == []
    assert check["broken"] == []
    assert [i[0] for i in check["images"]] == ["objects", "timelines", "lengths", "heatmap", "timing", "thumbnails"]
    assert all(width > 100 and height > 100 for _, width, height in check["images"])
    screenshot = page.with_name("report-screenshot.png")
    run = _chromium(f"--screenshot={screenshot}", "--window-size=1100,2400", "--hide-scrollbars", page.as_uri(),
                    cwd=page.parent)
    assert run.returncode == 0 and screenshot.exists(), run.stderr
    shot = np.asarray(Image.open(screenshot).convert("RGB"))
    assert shot.shape[:2] == (2400, 1100)
    assert _saturated(screenshot).mean() > 0.01  # the plots are on screen, not an empty page
    with capsys.disabled():  # the artifact's path shows in every run, not only in failures
        print(f"\nreport screenshot: {screenshot}")


def test_report_without_timings_or_tracks_says_so(tmp_path):
    # results written before processing_ms existed, by a detector without a tracker
    results = tmp_path / "old.jsonl"
    results.write_text("".join(json.dumps({"frame": i, "time": i / 30, "detections": [
        {"xyxy": [10 + i, 10, 40 + i, 50], "confidence": 0.9, "class_id": 0}]}) + "\n" for i in range(20)))
    run = _vistream("report", str(results), "-o", str(tmp_path / "old.html"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    text = (tmp_path / "old.html").read_text()
    assert "records no processing time" in text
    assert (tmp_path / "old_files" / "track_timelines.png").exists()
    assert not (tmp_path / "old_files" / "processing_time.png").exists()


def test_report_usage_errors(tmp_path):
    missing = _vistream("report", "nothing.jsonl", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip() == "vistream: error: results 'nothing.jsonl': no such file"
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"frame": 0, "time": 0.0, "detections": []}\n{"frame": 1, "time": \n')
    run = _vistream("report", str(broken), "-o", str(tmp_path / "r.html"), cwd=tmp_path)
    assert run.returncode == 1
    assert "broken.jsonl line 2 is not a results record" in run.stderr
    assert not (tmp_path / "r.html").exists()
    not_text = _vistream("report", str(TEST_MP4), "-o", str(tmp_path / "r.html"), cwd=tmp_path)
    assert not_text.returncode == 1 and "is not a results file" in not_text.stderr
    wrong_name = _vistream("report", str(broken), "-o", str(tmp_path / "r.png"), cwd=tmp_path)
    assert wrong_name.returncode == 2 and "name it .html" in wrong_name.stderr


def test_plugin_values_are_plotted_per_plugin(tmp_path):
    # records as a Pipeline with a ZoneAnalytics plugin ("zones") and a plugin returning a number
    # every other frame ("speed") writes them; events (a list) and labels (text) are not plotted
    records = []
    for i in range(30):
        plugins = {"zones": {"counts": {"gate": {"in": i // 10, "out": i // 15}, "yard": {"count": i % 4}},
                             "events": [{"kind": "cross_in"}] if i % 10 == 0 else []},
                   "label": "busy"}
        if i % 2 == 0:
            plugins["speed"] = 1.5 * i
        records.append({"frame": i, "time": i / 30, "detections": [], "plugins": plugins})
    results = tmp_path / "zones.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in records))

    from vistream.report import plugin_series

    series = plugin_series(vistream_report.load_results(results))
    assert list(series) == ["speed", "zones"]  # "label" holds no number
    assert list(series["zones"]) == ["counts.gate.in", "counts.gate.out", "counts.yard.count"]
    assert series["zones"]["counts.gate.in"] == (list(range(30)), [float(i // 10) for i in range(30)])
    assert series["speed"]["value"] == (list(range(0, 30, 2)), [1.5 * i for i in range(0, 30, 2)])

    run = _vistream("report", str(results), "-o", str(tmp_path / "zones.html"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    picture = tmp_path / "zones_files" / "plugin_values.png"
    assert _saturated(picture).mean() > 0.002
    page = (tmp_path / "zones.html").read_text()
    assert '<img id="plugins"' in page and "speed, zones" in page
    # a results file without plugins has no such section
    assert not (tmp_path / "zones_files" / "processing_time.png").exists()
    old = tmp_path / "plain.jsonl"
    old.write_text(json.dumps({"frame": 0, "time": 0.0, "detections": []}) + "\n")
    assert _vistream("report", str(old), "-o", str(tmp_path / "plain.html"), cwd=tmp_path).returncode == 0
    assert "Plugin values" not in (tmp_path / "plain.html").read_text()
