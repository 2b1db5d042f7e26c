"""Fuzzing the Reader with atheris (tests/fuzz/fuzz_reader.py) on mutated small media.

The fuzzer runs in a subprocess for a fixed number of iterations from a fixed seed (override with
VISTREAM_FUZZ_RUNS / VISTREAM_FUZZ_SEED for a longer or different hunt): a native crash, a hang
or an undocumented exception fails the test, and libFuzzer saves the input that caused it (the
failure message says where). Every input that ever crashed is kept under tests/data/fuzz/ and
replayed here. Seed corpus (generated per run, 64x48, 10 fps, 1 s):

    ffmpeg -f lavfi -i testsrc2=size=64x48:rate=10:duration=1 -c:v libx264 -preset ultrafast -g 5 -bf 2 h264.mp4
    ffmpeg -f lavfi -i testsrc2=size=64x48:rate=10:duration=1 -c:v libx264 -preset ultrafast -g 5 h264.mkv
    ffmpeg -f lavfi -i testsrc2=size=64x48:rate=10:duration=1 -c:v libx264 -preset ultrafast -g 5 -f mpegts h264.ts
    ffmpeg -f lavfi -i testsrc2=size=64x48:rate=10:duration=1 -c:v mpeg4 -bf 2 -g 5 mpeg4.avi
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "tests" / "fuzz" / "fuzz_reader.py"
FOUND = sorted((REPO / "tests" / "data" / "fuzz").glob("*.*"))
FOUND = [path for path in FOUND if path.suffix != ".md"]
LAVFI = ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1"]
SEEDS = {
    "h264.mp4": ["-c:v", "libx264", "-preset", "ultrafast", "-g", "5", "-bf", "2"],
    "h264.mkv": ["-c:v", "libx264", "-preset", "ultrafast", "-g", "5"],
    "h264.ts": ["-c:v", "libx264", "-preset", "ultrafast", "-g", "5", "-f", "mpegts"],
    "mpeg4.avi": ["-c:v", "mpeg4", "-bf", "2", "-g", "5"],
}
RUNS = int(os.environ.get("VISTREAM_FUZZ_RUNS", "1500"))
SEED = int(os.environ.get("VISTREAM_FUZZ_SEED", "20261201"))


def rss_limit_mb() -> int:
    """libFuzzer's memory limit (2 GB by default) over what the target inherits: Linux carries a
    process's peak RSS across fork and exec (getrusage's ru_maxrss, which libFuzzer reads), so a
    target started by a pytest process that had grown to 2 GB after the rest of the suite was
    reported out of memory before its first input."""
    import resource

    inherited = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # kB on Linux
    return int(inherited) + 2048


def run_target(arguments, timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([sys.executable, str(TARGET), "-timeout=20", f"-rss_limit_mb={rss_limit_mb()}",
                               *arguments], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as hang:
        pytest.fail(f"the fuzz target hung for {timeout}s (libFuzzer's -timeout=20 did not fire either)\n"
                    f"{(hang.stderr or '')[-3000:]}")


def findings(folder: Path) -> list:
    return sorted(folder.glob("crash-*")) + sorted(folder.glob("timeout-*")) + sorted(folder.glob("oom-*"))


def test_fuzz_reader_finds_no_crash(tmp_path):
    corpus, artifacts = tmp_path / "corpus", tmp_path / "findings"
    corpus.mkdir()
    artifacts.mkdir()
    for name, arguments in SEEDS.items():
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", *LAVFI, *arguments, str(corpus / name)], check=True)
    result = run_target([f"-runs={RUNS}", f"-seed={SEED}", "-len_control=0", "-max_len=20000",
                         f"-artifact_prefix={artifacts}/", str(corpus)], timeout=240)
    saved = findings(artifacts)
    log = "\n".join(line for line in result.stderr.splitlines() if not line.startswith(("[", "INFO: Instrumenting")))
    # atheris prints an escaped Python exception's traceback on stdout, then exits ("fuzz target
    # exited" on stderr): both streams are needed to see what failed.
    assert result.returncode == 0 and not saved, (
        f"the fuzzer found a failure (exit {result.returncode}); input saved as {[str(p) for p in saved]}: "
        f"check it in under tests/data/fuzz/ as a regression input\n{log[-3000:]}\n"
        f"stdout:\n{result.stdout[-3000:]}")
    assert f"Done {RUNS} runs" in result.stderr, log[-2000:]
    # Every seed was kept: the target's feedback tells the demuxers apart (without it libFuzzer
    # sees one Python path and drops all seeds but one, so only mp4 would be mutated).
    inited = re.search(r"INITED cov: \d+ ft: \d+ corp: (\d+)/", result.stderr)
    assert inited and int(inited.group(1)) >= len(SEEDS), log[-2000:]


@pytest.mark.parametrize("finding", FOUND, ids=[path.name for path in FOUND])
def test_earlier_findings_stay_fixed(finding):
    # libFuzzer runs the files given as arguments once each: a crash exits non-zero.
    result = run_target([str(finding)], timeout=120)
    assert result.returncode == 0, result.stderr[-3000:] + "\nstdout:\n" + result.stdout[-3000:]
    assert "Executed" in result.stderr
