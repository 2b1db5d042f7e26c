"""Progress of a running ``Player`` for the command line: a tqdm bar on a terminal, else a plain
line every few seconds (logs, CI, pipes).

A background thread polls ``player.position`` (two atomics in the engine): nothing runs per
frame, so progress costs the same for a 10-frame clip and a 2-hour film.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, Optional

# How often the bar is redrawn, and how often a line is written when stderr is not a terminal.
BAR_REFRESH_SECONDS = 0.25
LINE_INTERVAL_SECONDS = 5.0


def expected_frames(fps: float, duration: float, frame_count: int, start: float, end: Optional[float]) -> Optional[int]:
    """Frames between ``start`` and ``end`` (or the end of the media); None when unknown (streams)."""
    if start == 0 and end is None and frame_count > 0:
        return frame_count
    stop = end if end is not None else duration
    if duration > 0 and stop is not None:
        stop = min(stop, duration)
    if not fps or not stop or stop <= start:
        return None
    return max(1, round((stop - start) * fps))


def _terminal_columns(stream) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Context manager showing how far ``player.run()`` got, from a background thread.

    Args:
        player: the (not yet running) ``vistream.Player``.
        total: frames expected (``expected_frames``), or None for an open-ended run.
        first_index: index of the first frame the run processes (``round(start * fps)``).
        stream: where to write (default stderr); a terminal gets a tqdm bar, anything else lines.
    """

    def __init__(self, player, total: Optional[int], first_index: int = 0, stream: Optional[IO[str]] = None,
                 label: str = "") -> None:
        self._player = player
        self.total = total
        self._first_index = first_index
        self._stream = stream if stream is not None else sys.stderr
        self._label = label
        self._terminal = bool(getattr(self._stream, "isatty", lambda: False)())
        self._done = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._bar = None
        self._started = 0.0

    def _frames(self) -> int:
        index = self._player.position.index
        frames = max(0, index - self._first_index + 1) if index >= 0 else 0
        return min(frames, self.total) if self.total else frames

    def __enter__(self) -> "Progress":
        self._started = time.monotonic()
        if self._terminal:
            from tqdm import tqdm

            # A terminal that reports no size (a bare pty, some CI consoles) would get no bar from
            # tqdm (it hides bars below the screen's last row): assume 80x24 there.
            sized = _terminal_columns(self._stream) > 0
            self._bar = tqdm(total=self.total, unit="frame", file=self._stream, dynamic_ncols=sized,
                             ncols=None if sized else 80, nrows=None if sized else 24,
                             desc=self._label or None, mininterval=BAR_REFRESH_SECONDS, leave=True)
        self._thread = threading.Thread(target=self._poll, name="vistream-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            self._show_bar(self._frames())
            self._bar.close()

    def _poll(self) -> None:
        interval = BAR_REFRESH_SECONDS if self._terminal else LINE_INTERVAL_SECONDS
        while not self._done.wait(interval):
            frames = self._frames()
            if self._bar is not None:
                self._show_bar(frames)
            else:
                self._write_line(frames)

    def _show_bar(self, frames: int) -> None:
        delta = frames - self._bar.n
        if delta > 0:
            self._bar.update(delta)
        elif delta < 0:  # a seek back or a loop
            self._bar.n = frames
            self._bar.refresh()

    def _write_line(self, frames: int) -> None:
        elapsed = time.monotonic() - self._started
        fps = frames / elapsed if elapsed > 0 else 0.0
        text = f"vistream: {self._label + ': ' if self._label else ''}{frames}"
        if self.total:
            text += f"/{self.total} frames ({100 * frames / self.total:.0f}%), {fps:.1f} fps"
            if fps > 0:
                text += f", ETA {_clock((self.total - frames) / fps)}"
        else:
            text += f" frames, {fps:.1f} fps"
        print(text, file=self._stream, flush=True)
