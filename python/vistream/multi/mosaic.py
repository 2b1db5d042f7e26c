"""The mosaic view of a ``MultiPlayer``: every source's newest frame in one window, tiled, with a
line of text per tile (name, frames per second, drops); a click on a tile shows that source
alone in the whole window, another click goes back to the mosaic."""

from __future__ import annotations

import collections
import math
import time
from typing import Any, Deque, Dict, Hashable, List, Optional, Sequence, Tuple

import numpy as np

from .. import _core

Text = Tuple[int, int, str]


class MosaicView:
    """Tiles pictures of several sources into one canvas and shows it in a window.

    Args:
        sources: the sources' names (or indices), in tile order (row by row).
        size: the canvas (width, height) in pixels; each tile keeps its source's aspect ratio.
        title: the window's title.
        window: open the window (False: compose only, for recording or tests).
        max_fps: most window refreshes per second (composing costs CPU; the window needs no more).

    Keys: ``q`` or Escape (or closing the window) asks the player to stop (``quit_requested``).
    """

    def __init__(self, sources: Sequence[Hashable], size: Tuple[int, int] = (1280, 720), title: str = "vistream",
                 window: bool = True, max_fps: float = 30.0) -> None:
        if not sources:
            raise ValueError("a mosaic needs at least one source")
        width, height = int(size[0]), int(size[1])
        if width < 16 or height < 16:
            raise ValueError(f"mosaic size must be at least 16x16, got {size!r}")
        self.sources = list(sources)
        self.size = (width, height)
        self.columns = math.ceil(math.sqrt(len(self.sources)))
        self.rows = math.ceil(len(self.sources) / self.columns)
        #: the source shown alone (after a click on its tile), or None for the mosaic
        self.focus: Optional[Hashable] = None
        #: set when the user pressed q/Escape or closed the window
        self.quit_requested = False
        self._latest: Dict[Hashable, np.ndarray] = {}
        self._arrivals: Dict[Hashable, Deque[float]] = {key: collections.deque() for key in self.sources}
        self._min_interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self._last_render = 0.0
        self.window: Optional[Any] = _core.ImageWindow(title, width, height) if window else None

    # ----------------------------------------------------------------------- geometry
    def tile_rect(self, source: Hashable) -> Tuple[int, int, int, int]:
        """(x, y, width, height) of a source's tile in the canvas (the whole canvas when focused)."""
        if self.focus is not None:
            return (0, 0, *self.size)
        position = self.sources.index(source)
        width, height = self.size[0] // self.columns, self.size[1] // self.rows
        return ((position % self.columns) * width, (position // self.columns) * height, width, height)

    def tile_at(self, x: int, y: int) -> Optional[Hashable]:
        """The source whose tile holds canvas pixel (x, y), or None."""
        if x < 0 or y < 0:
            return None
        if self.focus is not None:
            return self.focus
        width, height = self.size[0] // self.columns, self.size[1] // self.rows
        column, row = x // width, y // height
        position = row * self.columns + column
        if column >= self.columns or position >= len(self.sources):
            return None
        return self.sources[position]

    # ----------------------------------------------------------------------- content
    def update(self, source: Hashable, picture: np.ndarray) -> None:
        """Takes a source's newest picture (BGR (H, W, 3); kept by reference until the next one)."""
        self._latest[source] = picture
        now = time.monotonic()
        arrivals = self._arrivals[source]
        arrivals.append(now)
        while len(arrivals) > 2 and now - arrivals[0] > 1.0:
            arrivals.popleft()

    def fps(self, source: Hashable) -> float:
        """Pictures per second of a source over about the last second."""
        arrivals = self._arrivals[source]
        if len(arrivals) < 2 or arrivals[-1] <= arrivals[0]:
            return 0.0
        return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])

    def compose(self, drops: Optional[Dict[Hashable, int]] = None) -> Tuple[np.ndarray, List[Text]]:
        """The canvas and its texts [(x, y, text)]: per tile the source's name, fps and drops."""
        import cv2  # on first use: `import vistream` does not load OpenCV

        canvas = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        texts: List[Text] = []
        shown = [self.focus] if self.focus is not None else self.sources
        for source in shown:
            x, y, width, height = self.tile_rect(source)
            picture = self._latest.get(source)
            if picture is not None:
                h, w = picture.shape[:2]
                scale = min(width / w, height / h)
                fit_w, fit_h = max(1, int(w * scale)), max(1, int(h * scale))
                left, top = x + (width - fit_w) // 2, y + (height - fit_h) // 2
                canvas[top:top + fit_h, left:left + fit_w] = cv2.resize(
                    picture, (fit_w, fit_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            dropped = (drops or {}).get(source, 0)
            texts.append((x + 6, y + 4, f"{source}  {self.fps(source):.1f} fps  {dropped} dropped"))
        return canvas, texts

    # ----------------------------------------------------------------------- window
    def render(self, drops: Optional[Dict[Hashable, int]] = None, force: bool = False) -> bool:
        """Shows the canvas in the window (at most ``max_fps`` times a second unless ``force``);
        True when it was shown."""
        if self.window is None:
            return False
        now = time.monotonic()
        if not force and now - self._last_render < self._min_interval:
            return False
        self._last_render = now
        canvas, texts = self.compose(drops)
        return bool(self.window.show(canvas, texts))

    def handle_events(self) -> None:
        """Applies the window's events: clicks toggle the focus, q/Escape/close request quitting."""
        if self.window is None:
            return
        for event in self.window.poll_events():
            kind = event["kind"]
            if kind == "close" or (kind == "key" and event["key"] in ("q", "escape")):
                self.quit_requested = True
            elif kind == "click":
                if self.focus is not None:
                    self.focus = None
                else:
                    self.focus = self.tile_at(event["x"], event["y"])
                self._last_render = 0.0  # show the new layout at once

    def close(self) -> None:
        """Closes the window."""
        if self.window is not None:
            self.window.close()
