"""Synchronous sinks: JSON Lines and CSV files, and a callable."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, Any, Callable, List, Mapping, Optional

from .base import Sink, record_json

#: supervision's ``CSVSink`` columns (``supervision.detection.tools.csv_sink.BASE_HEADER``)
SUPERVISION_BASE_HEADER = ["x_min", "y_min", "x_max", "y_max", "class_id", "confidence", "tracker_id"]


class JsonlSink(Sink):
    """Writes each record as one line of ``path``: the same lines as a ``.jsonl`` results file
    (``vistream.results.read_results`` reads it back).

    Unlike ``Pipeline(results=...)``, which writes a temporary file and renames it at the end,
    the sink writes ``path`` itself, a line per frame, flushed at once: a live stream's results
    can be followed (``tail -f``) while it runs.
    """

    def __init__(self, path: "str | Path", name: Optional[str] = None) -> None:
        super().__init__(name or f"jsonl:{path}")
        self.path = Path(path)
        self._file: Optional[IO[str]] = open(self.path, "w", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        if self._file is None:
            raise ValueError(f"{self.name} is closed")
        self._file.write(record_json(record) + "\n")
        self._file.flush()

    def close(self, timeout: Optional[float] = None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class CsvSink(Sink):
    """One CSV row per detection, in supervision's ``CSVSink`` layout.

    The header is what ``sv.CSVSink`` writes for detections that carry a ``class_name`` (as
    supervision's detectors give) appended with ``custom_data={"frame": ..., "time": ...}``:
    ``x_min,y_min,x_max,y_max,class_id,confidence,tracker_id`` followed by the sorted names of
    ``class_name``, ``frame``, ``time`` and the detections' ``data`` keys (of the first record,
    like supervision). Missing values are empty cells (``tracker_id`` without a tracker,
    ``class_name`` without class names). Frames without detections add no row.
    The file is written in place, flushed after every frame.
    """

    def __init__(self, path: "str | Path", name: Optional[str] = None) -> None:
        super().__init__(name or f"csv:{path}")
        self.path = Path(path)
        self._file: Optional[IO[str]] = open(self.path, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        #: the header (None until the first record)
        self.header: Optional[List[str]] = None

    @staticmethod
    def header_for(data_keys: "List[str] | tuple" = ()) -> List[str]:
        """The header for detections with these ``data`` keys (supervision's ordering)."""
        return SUPERVISION_BASE_HEADER + sorted({"class_name", "frame", "time", *data_keys})

    def write(self, record: Mapping[str, Any]) -> None:
        if self._file is None:
            raise ValueError(f"{self.name} is closed")
        if self.header is None:
            self.header = self.header_for(record.get("data") or ())
            self._writer.writerow(self.header)
        frame, time = record["frame"], record["time"]
        for detection in record["detections"]:
            x_min, y_min, x_max, y_max = detection["xyxy"]
            row = {key: value for key, value in detection.items() if key not in ("xyxy", "mask", "keypoints",
                                                                                 "classifications")}
            row.update(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max, frame=frame, time=time)
            self._writer.writerow(["" if row.get(key) is None else row[key] for key in self.header])
        self._file.flush()

    def close(self, timeout: Optional[float] = None) -> None:
        if self._file is None:
            return
        if self.header is None:  # no frame: still a readable, empty table
            self.header = self.header_for()
            self._writer.writerow(self.header)
        self._file.close()
        self._file = None


class CallableSink(Sink):
    """Calls ``fn(record)`` with every frame's record, on the pipeline thread (keep it quick;
    for slow work use a ``QueuedSink``). An exception is logged and counted, never raised.

    Example::

        counts = []
        pipeline = vistream.Pipeline(detector, sinks=[CallableSink(lambda r: counts.append(len(r["detections"])))])
    """

    def __init__(self, fn: Callable[[Mapping[str, Any]], Any], name: Optional[str] = None) -> None:
        if not callable(fn):
            raise TypeError(f"CallableSink: fn must be callable, got {type(fn).__name__}")
        super().__init__(name or f"callable:{getattr(fn, '__qualname__', type(fn).__name__)}")
        self.fn = fn

    def write(self, record: Mapping[str, Any]) -> None:
        self.fn(record)
