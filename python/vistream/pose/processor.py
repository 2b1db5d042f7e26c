"""Pose processors: code called with every pose, e.g. to trigger hardware when an animal reaches a spot.

DeepLabCut-live's ``Processor`` has ``process(pose, **kwargs) -> pose`` and ``save(file)``; vistream's
takes a :class:`~vistream.pose.Pose` (keypoints *and* their names, the frame's time and index) and
returns nothing: a processor reacts to poses, it does not rewrite them.
"""

from __future__ import annotations

import csv
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Optional, Protocol, Sequence, Tuple, Union, runtime_checkable

if TYPE_CHECKING:
    from .estimator import Pose

__all__ = ["Processor", "RegionEvent", "RegionTrigger"]


@runtime_checkable
class Processor(Protocol):
    """Anything with ``process(pose)``: called by the estimator with each :class:`Pose`, on the thread
    that called the estimator, after the pose is made. An exception raised here propagates to that
    caller (a Pipeline or Player stops and re-raises it)."""

    def process(self, pose: "Pose") -> None:
        ...


@dataclass(frozen=True)
class RegionEvent:
    """A keypoint entered (``entered=True``) or left the region at ``time`` / frame ``index``."""

    time: float
    index: int
    bodypart: str
    x: float
    y: float
    likelihood: float
    entered: bool


class RegionTrigger:
    """Fires when a keypoint enters (and, optionally, leaves) a rectangular region.

    A keypoint is inside when its likelihood is >= ``pcutoff`` and x1 <= x < x2, y1 <= y < y2 (source
    pixels). A keypoint that is not seen (low likelihood) counts as outside. Each transition makes a
    :class:`RegionEvent`, appended to ``events`` and passed to ``on_enter`` / ``on_exit``, e.g. to
    switch a laser or an LED, or to write a timestamp.

    Args:
        bodypart: the keypoint's name (or index).
        region: (x1, y1, x2, y2) in source pixels.
        on_enter: called with the event when the keypoint enters.
        on_exit: called with the event when it leaves.
        pcutoff: minimum likelihood for the keypoint to count.

    Example::

        trigger = RegionTrigger("nose", (600, 300, 700, 400), on_enter=lambda e: laser.on())
        estimator = DLCPoseEstimator(model_dir, processor=trigger)
        ...
        trigger.save("events.csv")
    """

    def __init__(self, bodypart: Union[str, int], region: Sequence[float], *,
                 on_enter: Optional[Callable[[RegionEvent], None]] = None,
                 on_exit: Optional[Callable[[RegionEvent], None]] = None, pcutoff: float = 0.5) -> None:
        try:
            x1, y1, x2, y2 = (float(v) for v in region)
        except (TypeError, ValueError):
            raise ValueError(f"region must be (x1, y1, x2, y2), got {region!r}") from None
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"region must have x1 < x2 and y1 < y2, got {region!r}")
        self.bodypart = bodypart
        self.region: Tuple[float, float, float, float] = (x1, y1, x2, y2)
        self.on_enter = on_enter
        self.on_exit = on_exit
        self.pcutoff = float(pcutoff)
        self.events: List[RegionEvent] = []
        self.inside = False
        self._lock = threading.Lock()

    def process(self, pose: "Pose") -> None:
        """Checks the keypoint against the region; fires on a change."""
        x, y = pose.xy(self.bodypart)
        likelihood = pose.likelihood(self.bodypart)
        x1, y1, x2, y2 = self.region
        inside = likelihood >= self.pcutoff and x1 <= x < x2 and y1 <= y < y2
        with self._lock:
            if inside == self.inside:
                return
            self.inside = inside
            name = self.bodypart if isinstance(self.bodypart, str) else pose.bodyparts[int(self.bodypart)]
            event = RegionEvent(time=pose.time, index=pose.index, bodypart=name, x=x, y=y,
                                likelihood=likelihood, entered=inside)
            self.events.append(event)
        callback = self.on_enter if inside else self.on_exit
        if callback is not None:
            callback(event)

    def save(self, path: Union[str, Path]) -> Path:
        """Writes the events as CSV (time, index, bodypart, x, y, likelihood, event)."""
        path = Path(path)
        with self._lock:
            events = list(self.events)
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time", "index", "bodypart", "x", "y", "likelihood", "event"])
            for e in events:
                writer.writerow([f"{e.time:.6f}", e.index, e.bodypart, f"{e.x:.3f}", f"{e.y:.3f}",
                                 f"{e.likelihood:.5f}", "enter" if e.entered else "exit"])
        return path
