"""Sample media the project makes itself (a user's machine has no test clips).

The sample is generated with the ffmpeg command line from FFmpeg's synthetic sources, so no
download is needed. The exact command is stored next to the file (``<name>.txt``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def cache_dir() -> Path:
    """``$VISTREAM_CACHE`` or ``~/.cache/vistream``."""
    root = os.environ.get("VISTREAM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "vistream")
    return Path(root)


def sample_command(path: Path, seconds: float = 10.0, size: str = "1280x720", rate: int = 30) -> list[str]:
    # A still SMPTE colour-bar background with three squares gliding back and forth in their own
    # lanes at different speeds: the demo's motion detector + tracker should follow exactly
    # three objects, each with one id. sine gives an audio track.
    # Squares are small test patterns (never the colour of the bars behind them) moving at a
    # constant speed with instant turns (a triangle wave), so they never stand still.
    squares = [("0.45", "60"), ("0.3", "300"), ("0.6", "540")]  # (sweeps per second, lane y)
    inputs, chain, previous = [], [], "0:v"
    for i, (speed, lane) in enumerate(squares, start=1):
        inputs += ["-f", "lavfi", "-i", f"testsrc2=size=96x96:rate={rate}:duration={seconds}"]
        label = "v" if i == len(squares) else f"s{i}"
        chain.append(f"[{previous}][{i}:v]overlay=x='(W-w)*abs(mod(t*{speed}+{i / 4},2)-1)':y={lane}[{label}]")
        previous = label
    return [
        "ffmpeg", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"smptehdbars=size={size}:rate={rate}:duration={seconds}",
        *inputs,
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-filter_complex", ";".join(chain),
        "-map", "[v]", "-map", f"{len(squares) + 1}:a",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "2", "-g", "60",
        "-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart",
        str(path),
    ]


def sample_video(seconds: float = 10.0) -> Path:
    """Returns the path of the demo clip (1280x720 30 fps H.264 + AAC, three squares gliding over colour bars), creating it once.

    Example::

        clip = vistream.sample_media.sample_video()
        print(vistream.Reader(clip).info.frame_count)   # 300
    """
    path = cache_dir() / "samples" / f"bars-3patterns-720p30-{int(seconds)}s.mp4"
    if path.exists() and path.stat().st_size > 0:
        return path
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("the ffmpeg command line tool is needed to make the sample clip "
                           "(Debian/Ubuntu: apt-get install ffmpeg)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    command = sample_command(tmp, seconds)
    subprocess.run(command, check=True)
    tmp.replace(path)
    path.with_suffix(".txt").write_text(" ".join(command).replace(str(tmp), str(path)) + "\n")
    return path
