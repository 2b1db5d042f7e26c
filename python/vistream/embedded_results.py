"""Per-frame results carried inside the output video, and read back from it.

``vistream play ... --output out.mp4 --embed-results`` (or ``Pipeline(..., embed_results=True)``
then ``pipeline.close(video=...)``, or :func:`embed_results` on any finished video) puts the
run's results into the video file itself:

- a subtitle track named ``vistream-labels``, shown by default: per frame (one event per run of
  frames with the same text) the labels and track ids, ``"person #3 0.91, car #7 0.80"``, timed to
  the frames' timestamps. mov_text (3GPP timed text) in mp4/mov, ASS in mkv: any player shows it,
  and ``ffmpeg -vf subtitles=out.mp4`` burns it in;
- the full records, exactly the JSON Lines ``--results run.jsonl`` writes for the same run:
  in mkv the attachment ``vistream-results.jsonl`` (``application/x-ndjson``); in mp4/mov, which
  have no attachments, a second timed text track whose handler name is ``vistream-results``, one
  record per sample, timed like the labels (``ffmpeg -i out.mp4 -map 0:s:1 records.srt`` extracts
  them as text too).

:func:`read_results` returns the records (``list(read_results("out.mkv"))`` equals the parsed lines
of the results file) and their ``Detections``.

The results are added by a finalize step once the video is finished: its streams are copied
packet for packet (nothing is decoded or re-encoded) into ``NAME.partial-XXXXXX.EXT`` beside it
with the new streams, and that file replaces the video. If anything fails, the partial file is
removed and the video stays exactly as it was, without results (the error says so). Remuxing
keeps them when every stream is mapped: ``ffmpeg -i out.mkv -map 0 -c copy copy.mkv`` (ffmpeg's
default mapping keeps one subtitle track and no attachment).
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import shutil
import statistics
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, overload

from . import _core
from ._output_file import PendingOutput, interrupted, is_url
from .detections import Detections
from .errors import NoEmbeddedResultsError
from .results import ResultsWriter, frames_of_records

PathLike = Union[str, "os.PathLike[str]"]

#: name (mp4 handler name, mkv track title) of the subtitle track players show
LABELS_TRACK = "vistream-labels"
#: name of the mp4/mov text track holding one results record per sample
RESULTS_TRACK = "vistream-results"
#: filename of the mkv attachment holding the results JSON Lines
RESULTS_ATTACHMENT = "vistream-results.jsonl"
RESULTS_MIMETYPE = "application/x-ndjson"

#: containers results can be embedded in (by extension), and how the records travel
EMBED_CONTAINERS = {".mp4": "text track", ".m4v": "text track", ".mov": "text track", ".mkv": "attachment"}

# Labels shown per subtitle line and in all: a crowd would cover the picture.
_LABELS_PER_LINE = 6
_MAX_LABELS = 24


def can_embed(path: PathLike) -> bool:
    """Whether results can be embedded in a video written to ``path`` (a local .mp4/.m4v/.mov/.mkv)."""
    name = os.fspath(path)
    return not is_url(name) and os.path.splitext(name)[1].lower() in EMBED_CONTAINERS


def label_text(record: Mapping[str, Any]) -> str:
    """The subtitle text of one results record: ``"person #3 0.91, car #7 0.80"`` (class name or
    id, ``#track id`` when tracked, confidence), six labels a line, at most 24 ("+N more")."""
    labels = []
    detections = record.get("detections") or []
    for detection in detections[:_MAX_LABELS]:
        name = detection.get("class_name")
        parts = [str(name) if name is not None else str(detection.get("class_id", 0))]
        if detection.get("tracker_id") is not None:
            parts.append(f"#{int(detection['tracker_id'])}")
        if detection.get("confidence") is not None:
            parts.append(f"{float(detection['confidence']):.2f}")
        labels.append(" ".join(parts))
    lines = [", ".join(labels[i:i + _LABELS_PER_LINE]) for i in range(0, len(labels), _LABELS_PER_LINE)]
    if len(detections) > _MAX_LABELS:
        lines[-1] += f", +{len(detections) - _MAX_LABELS} more"
    return "\n".join(lines)


def _sample_times(record_times: Sequence[float], frame_times: Sequence[float]) -> List[Tuple[int, int]]:
    """(start_ms, duration_ms) on the video file's timeline for each record, in record order.

    The file's frames are the processed frames in order when the counts agree (the usual case),
    so record i is shown with frame i. Otherwise (frames not encoded, an interrupted run) each
    record goes to the frame nearest its time, the file's first frame being the first record's
    (the Player shifts ``start=`` to 0). Starts are made strictly increasing (1 ms apart at
    least), as a timed track needs; each sample lasts until the next one starts.
    """
    if not frame_times:
        raise ValueError("the video has no video frame to time the results by")
    gaps = [b - a for a, b in zip(frame_times, frame_times[1:]) if b > a]
    frame_duration = statistics.median(gaps) if gaps else 1 / 30
    if len(record_times) == len(frame_times):
        starts = list(frame_times)
    else:
        offset = frame_times[0] - (record_times[0] if record_times else 0.0)
        starts = []
        for time in record_times:
            wanted = time + offset
            i = bisect.bisect_left(frame_times, wanted)
            near = [frame_times[j] for j in (i - 1, i) if 0 <= j < len(frame_times)]
            best = min(near, key=lambda t: abs(t - wanted))
            starts.append(best if abs(best - wanted) <= frame_duration else wanted)
    start_ms: List[int] = []
    for start in starts:
        ms = max(0, int(round(start * 1000)))
        if start_ms and ms <= start_ms[-1]:
            ms = start_ms[-1] + 1
        start_ms.append(ms)
    last = max(1, int(round(frame_duration * 1000)))
    ends = start_ms[1:] + [start_ms[-1] + last] if start_ms else []
    return [(start, end - start) for start, end in zip(start_ms, ends)]


def _label_samples(records: Sequence[Mapping[str, Any]], times: Sequence[Tuple[int, int]]) -> List[Tuple[int, int, str]]:
    """One subtitle event per run of consecutive frames showing the same labels (none for frames
    without detections)."""
    events: List[Tuple[int, int, str]] = []
    for record, (start, duration) in zip(records, times):
        text = label_text(record)
        if not text:
            continue
        if events and events[-1][2] == text and events[-1][0] + events[-1][1] == start:
            events[-1] = (events[-1][0], events[-1][1] + duration, text)
        else:
            events.append((start, duration, text))
    return events


def _read_lines(results: "PathLike | Sequence[str]") -> List[str]:
    if isinstance(results, (str, os.PathLike)):
        path = Path(results)
        if path.suffix.lower() not in (".jsonl", ".json"):
            raise ValueError(f"{path.name}: results are embedded from the JSON Lines file (--results NAME.jsonl)")
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    else:
        lines = list(results)
    return [line for line in lines if line.strip()]


def embed_results(video: PathLike, results: "PathLike | Sequence[str]") -> Path:
    """Embeds a run's results into the finished ``video`` (.mp4/.m4v/.mov/.mkv), in place.

    Args:
        video: the video file the run wrote (the Player's ``output``).
        results: the run's results as JSON Lines: a ``.jsonl`` path, or its lines.

    Adds the ``vistream-labels`` subtitle track and the records (mkv: attachment
    ``vistream-results.jsonl``; mp4/mov: text track ``vistream-results``); embedding again
    replaces what an earlier call added. The new file is written beside ``video`` and renamed
    over it: on failure (the error is raised with a note) ``video`` is left exactly as it was.
    Costs one copy of the file (no decoding). Returns ``video``'s path.

    Raises:
        ValueError: ``video`` is not a local mp4/mov/mkv file, or a line is not a results record.
        SourceNotFoundError: ``video`` does not exist.
    """
    name = os.fspath(video)
    if not can_embed(name):
        raise ValueError(f"cannot embed results in {name!r}: use a local .mp4, .m4v, .mov or .mkv file")
    lines = _read_lines(results)
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            records.append((float(record["time"]), record))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"results line {number} is not a results record ({error})") from None
    frame_times = _core.video_frame_times(name)
    times = _sample_times([time for time, _ in records], frame_times)
    plain = [record for _, record in records]
    tracks: List[Dict[str, Any]] = [{"name": LABELS_TRACK, "default": True, "samples": _label_samples(plain, times)}]
    attachments: List[Dict[str, Any]] = []
    if EMBED_CONTAINERS[os.path.splitext(name)[1].lower()] == "attachment":
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        attachments.append({"filename": RESULTS_ATTACHMENT, "mimetype": RESULTS_MIMETYPE, "data": data})
    else:
        tracks.append({"name": RESULTS_TRACK, "default": False,
                       "samples": [(start, duration, line) for (start, duration), line in zip(times, lines)]})
    pending = PendingOutput(name, what="video with embedded results")
    try:
        _core.copy_with_embedding(name, pending.partial, tracks, attachments)
        kept = pending.finish(None, wrote_anything=True)
    except BaseException as error:
        # Whatever happened (a full disk, Ctrl-C), the finished video must survive untouched.
        try:
            os.unlink(pending.partial)
        except OSError:
            pass
        if hasattr(error, "add_note"):
            error.add_note(f"results were not embedded; {name} was left as it was")
        raise
    return Path(kept or name)


class EmbeddedResults(Sequence[Dict[str, Any]]):
    """The results records a video carries, in the order the results file holds them.

    A sequence of dicts (``{"frame", "time", "detections": [...], "processing_ms"?, "plugins"?}``,
    as ``json.loads`` gives each line of the ``.jsonl`` results file), plus ``Detections`` views.

    Example::

        results = vistream.read_results("tracked.mkv")
        for frame, time, detections in results.frames():
            print(frame, time, detections.tracker_id)
        results.detections(42)          # Detections of frame 42
    """

    def __init__(self, records: List[Dict[str, Any]], carrier: str, path: Path) -> None:
        self.records = records
        #: where they were found: "attachment" (mkv) or "text track" (mp4/mov)
        self.carrier = carrier
        self.path = path
        self._by_frame: Optional[Dict[int, Detections]] = None

    @overload
    def __getitem__(self, index: int) -> Dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> List[Dict[str, Any]]: ...

    def __getitem__(self, index):
        return self.records[index]

    def __len__(self) -> int:
        return len(self.records)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EmbeddedResults):
            return self.records == other.records
        if isinstance(other, list):
            return self.records == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"<vistream.EmbeddedResults {len(self.records)} frames from {self.path.name} ({self.carrier})>"

    def frames(self) -> Iterator[Tuple[int, float, Detections]]:
        """``(frame index, time, Detections)`` per record, in order."""
        # the records' own decoding: masks, keypoints, class and keypoint names carried forward
        yield from frames_of_records(enumerate(self.records, 1), f"{self.path.name}: embedded record")

    def detections(self, frame: int) -> Detections:
        """The ``Detections`` of frame index ``frame``. Raises ``KeyError`` for a frame without a record."""
        if self._by_frame is None:
            self._by_frame = {index: detections for index, _, detections in self.frames()}
        if frame not in self._by_frame:
            raise KeyError(f"{self.path.name} has no results for frame {frame}")
        return self._by_frame[frame]


def read_results(path: PathLike) -> EmbeddedResults:
    """The per-frame results embedded in a video (``--embed-results``), frame by frame.

    Reads the ``vistream-results.jsonl`` attachment of an mkv or the ``vistream-results`` text
    track of an mp4/mov; the records equal the lines of the run's ``.jsonl`` results file.

    Raises:
        NoEmbeddedResultsError: the file carries no embedded results.
        SourceNotFoundError: no such file; SourceError: not a media file.
    """
    path = Path(path)
    found = _core.read_embedded_text(os.fspath(path), RESULTS_TRACK)
    for attachment in found["attachments"]:
        if attachment["filename"] == RESULTS_ATTACHMENT:
            lines = attachment["data"].decode("utf-8").splitlines()
            return EmbeddedResults(_parse(lines, path), "attachment", path)
    for track in found["tracks"]:
        if track["name"] == RESULTS_TRACK:
            return EmbeddedResults(_parse([text for _, _, text in track["samples"]], path), "text track", path)
    raise NoEmbeddedResultsError(
        f"{path.name} carries no embedded results (no {RESULTS_ATTACHMENT} attachment, no {RESULTS_TRACK!r} "
        "text track): write them with --embed-results or Pipeline(embed_results=True)")


def _parse(lines: Sequence[str], path: Path) -> List[Dict[str, Any]]:
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError as error:
            raise NoEmbeddedResultsError(f"{path.name}: embedded results record {number} is not JSON ({error})") from None
    return records


class ResultsRecorder:
    """A run's JSON Lines records, kept in a temporary file until they are embedded (what
    ``Pipeline(embed_results=True)`` uses). Writes exactly what a ``ResultsWriter`` writes."""

    def __init__(self) -> None:
        self._folder = tempfile.mkdtemp(prefix="vistream-embed-")
        self._writer = ResultsWriter(os.path.join(self._folder, "results.jsonl"))

    def write(self, index: int, time: float, detections: Detections,
              plugins: Optional[Mapping[str, Any]] = None, processing_ms: Optional[float] = None,
              extra: Optional[Mapping[str, Any]] = None) -> None:
        self._writer.write(index, time, detections, plugins=plugins, processing_ms=processing_ms, extra=extra)

    def finish(self, videos: "PathLike | Sequence[PathLike] | None",
               error: Optional[BaseException] = None) -> List[Path]:
        """Embeds the records into each of ``videos`` (nothing when the run failed with an
        exception or no frame was recorded; an interrupted run embeds the frames done), then
        drops the temporary file. Returns the videos that got them."""
        try:
            records = self._writer.close(None)
            if records is None or (error is not None and not interrupted(error)):
                return []
            if videos is None:
                warnings.warn("Pipeline(embed_results=True): close() got no video=, so the results were not "
                              "embedded (pass the finished output, e.g. close(video=player.output))", stacklevel=3)
                return []
            if isinstance(videos, (str, os.PathLike)):
                videos = [videos]
            embedded = []
            for video in videos:
                if not os.path.isfile(video):  # e.g. interrupted before a frame was encoded: no file
                    warnings.warn(f"results not embedded: {os.fspath(video)} was not written", stacklevel=3)
                    continue
                try:
                    embedded.append(embed_results(video, records))
                except Exception as failure:
                    if error is None:
                        raise
                    # The interruption is what the caller must see; the video is whole regardless.
                    logging.getLogger("vistream").warning("%s", failure)
            return embedded
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)

    def __del__(self) -> None:
        try:
            self._writer.close(None)
        except Exception:
            pass
        shutil.rmtree(self._folder, ignore_errors=True)
