"""Writers for per-frame results: JSON Lines, MOTChallenge txt, CSV (chosen by file extension)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Mapping, Optional, Tuple

import numpy as np

from ._output_file import PendingOutput, note_partial
from .classifications import Classifications
from .detections import Detections

# Detections.to_dict keys that hold names: written to .jsonl only when they change
NAME_KEYS = ("class_names", "keypoint_names", "classification_names")

# extension -> format
RESULTS_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".txt": "mot", ".csv": "csv"}


def _plain(value: Any) -> Any:
    """json.dumps fallback: numpy scalars and arrays (what analysis code usually returns)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class RecordBuilder:
    """Builds the per-frame results records: exactly the lines of a ``.jsonl`` results file (as
    dicts), which the Pipeline's sinks get too.

    ``{"frame": i, "time": t, "detections": [...], "processing_ms"?: ms, "plugins"?: {name: value}}``
    plus the keys of ``Detections.to_dict``, whose ``class_names``/``keypoint_names``/
    ``classification_names`` are given on the first record and again only when they change
    (``frames_of_records`` carries them forward). One builder per stream of records: it remembers
    the names it gave.
    """

    def __init__(self) -> None:
        self._names_written: dict = {}  # name key -> value last written

    def build(self, index: int, time: float, detections: Detections,
              plugins: Optional[Mapping[str, Any]] = None, processing_ms: Optional[float] = None,
              classifications: Optional[Classifications] = None,
              extra: Optional[Mapping[str, Any]] = None) -> dict:
        """The record of frame ``index`` (``classifications``: a whole-frame classifier's result;
        ``extra``: more top-level fields, e.g. decoupled mode's ``"inference"``); raises TypeError naming a plugin whose value is not
        JSON-serialisable (numpy scalars and arrays are: ``json.dumps(record, default=plain_json)``)."""
        # detections (with masks as COCO RLE, keypoints, classifications) plus their names:
        # Detections.to_dict's keys, so a line reads back with Detections.from_dict. Names
        # (80 COCO classes...) are written when they change, not on every line; read_results
        # carries them forward.
        fields = detections.to_dict()
        for key in NAME_KEYS:
            value = fields.pop(key, None)
            if value != self._names_written.get(key):
                fields[key] = value
                self._names_written[key] = value
        record = {"frame": int(index), "time": round(float(time), 6), **fields}
        if classifications is not None:
            record["classifications"] = classifications.to_dict()
        if processing_ms is not None:
            record["processing_ms"] = round(float(processing_ms), 3)
        if plugins is not None:
            record["plugins"] = {name: self._checked(name, value, index) for name, value in plugins.items()}
        if extra:
            record.update(extra)
        return record

    @staticmethod
    def _checked(name: str, value: Any, index: int) -> Any:
        # Checked per plugin so the error names the culprit instead of failing on the whole line.
        try:
            json.dumps(value, default=_plain)
        except (TypeError, ValueError) as error:
            raise TypeError(f"results of plugin {name!r} on frame {index} are not JSON-serialisable: "
                            f"{error}") from None
        return value


#: ``json.dumps`` fallback for results records: numpy scalars and arrays become plain values.
plain_json = _plain


class ResultsWriter:
    """Writes one record per processed frame.

    ``.jsonl``: one JSON object per frame ``{"frame": i, "time": t, "detections": [...]}`` (each
    detection with its mask as COCO RLE, keypoints and classifications when present; the keys of
    ``Detections.to_dict``, whose ``class_names``/``keypoint_names``/``classification_names``
    are written on the first line and again only when they change: ``read_results`` reads it back) —
    also for frames without detections — plus ``"processing_ms"`` when given (the Pipeline gives
    the wall-clock milliseconds it spent on the frame: detect, track, plugins, annotate), plus ``"plugins": {name: value}`` when ``plugins``
    is given (per-frame analysis values; numpy scalars/arrays are converted), plus the
    top-level fields of ``extra`` (``Pipeline(decoupled=True)``: ``"inference"``). ``.txt``:
    MOTChallenge rows ``frame(1-based),id,x,y,w,h,conf,-1,-1,-1`` for tracked detections. ``.csv``: one row per
    detection with a header. The txt and csv formats have no place for plugin values and
    leave them out.

    The file is written as ``NAME.partial-XXXXXX.EXT`` beside ``path`` and renamed to ``path`` by
    ``close()`` (also when the run was interrupted: ``close(KeyboardInterrupt())``), so an earlier
    file is only ever replaced by a complete one. ``close(error)`` with an ``Exception`` keeps
    ``path`` as it was and the partial file where it is (the error's note names it); a writer
    that got no frame leaves no file.

    Example::

        with ResultsWriter("out.jsonl") as results:
            results.write(frame.index, frame.time, detections)
    """

    def __init__(self, path: "str | Path") -> None:
        self.path = Path(path)
        self.kind = RESULTS_FORMATS.get(self.path.suffix.lower())
        if self.kind is None:
            raise ValueError(f"results file {self.path.name!r}: use .jsonl, .txt (MOTChallenge) or .csv")
        self._pending = PendingOutput(str(self.path), what="results file")
        self._frames = 0
        self._records = RecordBuilder()  # jsonl lines; names written when they change
        #: where the data is after close(): ``path``, the partial file of a failed run, or None
        self.written: Optional[Path] = None
        self._file: Optional[IO[str]] = open(self._pending.partial, "w", newline="")
        self._csv = None
        if self.kind == "csv":
            self._csv = csv.writer(self._file)
            self._csv.writerow(["frame", "time", "tracker_id", "class_id", "confidence", "x1", "y1", "x2", "y2"])

    def write(self, index: int, time: float, detections: Detections,
              plugins: Optional[Mapping[str, Any]] = None, processing_ms: Optional[float] = None,
              classifications: Optional[Classifications] = None,
              extra: Optional[Mapping[str, Any]] = None) -> None:
        """Writes frame ``index``'s record; ``classifications`` is a whole-frame classifier's result
        (the ``.jsonl`` record's ``"classifications"``: ``Classifications.to_dict``)."""
        if self._file is None:
            raise ValueError("results writer is closed")
        self._frames += 1
        if self.kind == "jsonl":
            record = self._records.build(index, time, detections, plugins, processing_ms,
                                        classifications=classifications, extra=extra)
            self._file.write(json.dumps(record, default=_plain) + "\n")
        elif self.kind == "mot":
            if detections.tracker_id is None:
                return
            for (x, y, w, h), tid, conf in zip(detections.xywh, detections.tracker_id, detections.confidence):
                self._file.write(f"{index + 1},{tid},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{conf:.4f},-1,-1,-1\n")
        else:
            ids = detections.tracker_id if detections.tracker_id is not None else [-1] * len(detections)
            for (x1, y1, x2, y2), tid, cls, conf in zip(detections.xyxy, ids, detections.class_id,
                                                        detections.confidence):
                self._csv.writerow([index, f"{time:.6f}", int(tid), int(cls), f"{conf:.4f}",
                                    f"{x1:.2f}", f"{y1:.2f}", f"{x2:.2f}", f"{y2:.2f}"])

    def close(self, error: Optional[BaseException] = None) -> Optional[Path]:
        """Finishes the file; ``error`` is what ended the run (None: it ended normally).

        Returns where the data is (see ``written``). Closing twice does nothing.
        """
        if self._file is None:
            return self.written
        self._file.close()
        self._file = None
        kept = self._pending.finish(error, wrote_anything=self._frames > 0)
        self.written = None if kept is None else Path(kept)
        if error is not None:
            note_partial(error, kept, self._pending.final)
        return self.written

    def __del__(self) -> None:
        # A writer dropped without close() still delivers its data under ``path``, as a plain file would.
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self) -> "ResultsWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.close(exc)


def read_results(path: "str | Path") -> "Iterator[Tuple[int, float, Detections]]":
    """The frames of a ``.jsonl`` results file as ``(frame, time, Detections)``, in file order:
    boxes, scores, ids, masks, keypoints (and names), class names and classifications as they
    were written. Raises ValueError naming the line that is not a results record.
    (``vistream.read_results`` reads the same records from a video made with ``--embed-results``.)

    Example::

        for index, time, detections in vistream.results.read_results("tracks.jsonl"):
            print(index, len(detections))
    """
    def numbered_records() -> "Iterator[Tuple[int, Any]]":
        with open(path, "r", encoding="utf-8") as file:
            for number, line in enumerate(file, 1):
                if line.strip():
                    try:
                        yield number, json.loads(line)
                    except ValueError as error:
                        raise ValueError(f"{path}: line {number} is not a results record: {error}") from None

    yield from frames_of_records(numbered_records(), f"{path}: line")


def frames_of_records(numbered: "Iterable[Tuple[int, Mapping[str, Any]]]",
                      where: str = "record") -> "Iterator[Tuple[int, float, Detections]]":
    """``(frame, time, Detections)`` from numbered results records (parsed JSONL lines), with the
    names a line gives (class and keypoint names, written only when they change) carried forward
    to the later ones. ``where`` prefixes the record number in the ValueError a bad record raises."""
    names: dict = {}
    for number, record in numbered:
        try:
            for key in NAME_KEYS:
                if key in record:
                    names[key] = record[key]
            record = {**record, **names}
            yield int(record["frame"]), float(record["time"]), Detections.from_dict(record)
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{where} {number} is not a results record: {error}") from None
