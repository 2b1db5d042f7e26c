"""Inference decoupled from playback (``Pipeline(decoupled=True)``).

The frame callback never waits for the detector: the detector runs on a worker thread on the
newest frame offered to it; each frame shows the latest tracked result, moved forward to the
frame's own index by the tracker's motion model (``tracker.predicted_at``).

Threads and ownership:

- ``InferenceWorker``: the worker thread runs only the detector. It shares with the run() thread
  one pending job (the newest frame offered and not yet taken: a newer offer replaces it, frames
  are never queued), the finished results and the worker's error, all protected by ``_lock``.
- ``DecoupledTracking``: run() thread only. It owns the tracker while decoupled (updates with the
  results in order, predictions between them), the timeline generation and the latency counters.
"""

from __future__ import annotations

import threading
import warnings
from collections import deque
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Callable, Deque, Dict, List, Optional

import numpy as np

from .detections import Detections
from .stats import DecoupledStats

#: Seconds ``close()`` waits for the worker to finish the detection it is running.
CLOSE_TIMEOUT = 10.0
#: Latency samples kept for the percentiles (the maxima are exact over the whole run).
LATENCY_WINDOW = 4096


@dataclass
class _Job:
    """A frame handed to the worker: a private copy of its pixels and where it belongs."""

    image: Any
    index: int
    time: float
    generation: int
    offered: float  # perf_counter() when the callback got the frame


@dataclass
class _Result:
    job: _Job
    detections: Detections
    detect_ms: float


class InferenceWorker:
    """Runs ``detect(image)`` on a worker thread, on the newest job offered.

    ``offer`` never blocks: the job replaces one still waiting (which is then never detected).
    ``take`` returns the finished results in order and re-raises an exception the detector
    raised (its own type and traceback). ``close`` asks the worker to stop and joins it with a
    deadline.
    """

    def __init__(self, detect: Callable[[Any], Detections], name: str = "vistream-inference") -> None:
        self._detect = detect
        self._lock = threading.Condition()
        # protected by _lock
        self._pending: Optional[_Job] = None
        self._done: Deque[_Result] = deque()
        self._error: Optional[BaseException] = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    def offer(self, job: _Job) -> bool:
        """Hands ``job`` to the worker; returns True when it replaced a job never started."""
        with self._lock:
            if self._closing:
                return False
            replaced = self._pending is not None
            self._pending = job
            self._lock.notify()
        if not self._started:
            self._started = True
            self._thread.start()
        return replaced

    def take(self) -> List[_Result]:
        """The results finished since the last call, oldest first."""
        with self._lock:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            results = list(self._done)
            self._done.clear()
        return results

    def close(self, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Stops the worker (a detection under way is finished first, its result dropped);
        returns False if it was still running after ``timeout`` seconds (it is a daemon thread
        and ends with the detection)."""
        with self._lock:
            self._closing = True
            self._pending = None
            self._lock.notify_all()
        if self._started:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._closing:
                    self._lock.wait()
                if self._closing:
                    return
                job, self._pending = self._pending, None
            started = perf_counter()
            try:
                detections = self._detect(job.image)
            except BaseException as error:  # handed to the run() thread, re-raised there
                with self._lock:
                    self._error = error
                return
            with self._lock:
                self._done.append(_Result(job, detections, (perf_counter() - started) * 1000.0))


def _percentile(samples: Deque[float], q: float) -> Optional[float]:
    return float(np.percentile(np.fromiter(samples, float), q)) if samples else None


class DecoupledTracking:
    """The per-frame side of ``Pipeline(decoupled=True)`` (run() thread only).

    Args:
        detect: ``detect(image) -> Detections`` (the Pipeline's checked detector call).
        worker: the worker to use instead of a thread running ``detect`` (same interface as
            ``InferenceWorker``: ``decoupled_process.ProcessInferenceWorker``).
        tracker: the Pipeline's tracker, or None. It is updated with each result, in order, with
            ``frames_elapsed`` = frames between the frames the results were computed on (it
            counts frames: give it the stream's frame rate); between results each frame gets
            ``tracker.predicted_at(frames_ahead, tracked)``, or the tracked boxes as they are
            when the tracker has no ``predicted_at``.
        tracker_frame: ``image -> frame`` argument of ``tracker.update`` (BoT-SORT estimates camera
            motion from the detected frame's copy), or None to pass none.
    """

    def __init__(self, detect: Callable[[Any], Detections], tracker: Any,
                 tracker_takes_gap: bool, tracker_frame: Optional[Callable[[Any], Any]] = None,
                 worker: Optional[Any] = None) -> None:
        # ``worker``: a ProcessInferenceWorker (decoupled="process"), else a thread runs ``detect``
        self.worker = worker if worker is not None else InferenceWorker(detect)
        self.tracker = tracker
        self._tracker_takes_gap = tracker_takes_gap
        self._tracker_frame = tracker_frame
        self._predict = getattr(tracker, "predicted_at", None)
        self._generation = 0
        self._held = Detections.empty()         # tracked output of the last result applied
        self._held_job: Optional[_Job] = None   # the frame that result was computed on
        self._counts: Dict[str, Any] = dict.fromkeys(
            ("frames", "frames_with_result", "frames_offered", "frames_replaced", "detector_runs",
             "results_discarded"), 0)
        self._frames_behind_sum = 0
        self._frames_behind_max = 0
        self._latency_ms: Deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._latency_ms_max = 0.0
        self._detect_ms_sum = 0.0
        self._detect_ms_max = 0.0
        self.last_record: Optional[Dict[str, Any]] = None
        self.closed = False

    def new_timeline(self) -> None:
        """A seek, backward step or loop restart: results computed before it are never applied
        after it, and tracks start afresh (the replay of the synchronous Pipeline needs every
        frame's detections, which decoupled mode does not have)."""
        self._generation += 1
        if self.tracker is not None:
            self.tracker.reset()
        self._held = Detections.empty()
        self._held_job = None

    def step(self, index: int, time: float, image: Optional[Any]) -> Detections:
        """One frame: applies the finished results, offers ``image`` (a private copy, or None when
        the detector is not due), returns the tracks to show on this frame."""
        for result in self.worker.take():
            self._apply(result)
        now = perf_counter()
        if image is not None:
            self._counts["frames_offered"] += 1
            if self.worker.offer(_Job(image, index, time, self._generation, now)):
                self._counts["frames_replaced"] += 1
        self._counts["frames"] += 1
        job = self._held_job
        if job is None:
            self.last_record = None
            return self._held
        frames_ahead = max(0, index - job.index)
        shown = self._held
        if frames_ahead and self._predict is not None and len(shown):
            shown = self._predict(frames_ahead, shown)
        latency_ms = (now - job.offered) * 1000.0
        self._counts["frames_with_result"] += 1
        self._frames_behind_sum += frames_ahead
        self._frames_behind_max = max(self._frames_behind_max, frames_ahead)
        self._latency_ms.append(latency_ms)
        self._latency_ms_max = max(self._latency_ms_max, latency_ms)
        self.last_record = {"frame": job.index, "frames_behind": frames_ahead, "latency_ms": round(latency_ms, 3)}
        return shown

    def _apply(self, result: _Result) -> None:
        self._counts["detector_runs"] += 1
        self._detect_ms_sum += result.detect_ms
        self._detect_ms_max = max(self._detect_ms_max, result.detect_ms)
        job = result.job
        if job.generation != self._generation or (self._held_job is not None and job.index <= self._held_job.index):
            self._counts["results_discarded"] += 1  # computed before a seek: not for this timeline
            return
        if self.tracker is None:
            tracked = result.detections
        else:
            options: Dict[str, Any] = {}
            steps = 1 if self._held_job is None else job.index - self._held_job.index
            if self._tracker_takes_gap and steps > 1:
                options["frames_elapsed"] = steps
            frame = self._tracker_frame(job.image) if self._tracker_frame is not None else None
            tracked = self.tracker.update(result.detections, frame=frame, **options)
        self._held, self._held_job = tracked, job

    @property
    def stats(self) -> DecoupledStats:
        counts = self._counts
        with_result = counts["frames_with_result"]
        runs = counts["detector_runs"]
        return DecoupledStats(
            **counts,
            frames_behind_mean=self._frames_behind_sum / with_result if with_result else None,
            frames_behind_max=self._frames_behind_max if with_result else None,
            latency_ms_p50=_percentile(self._latency_ms, 50),
            latency_ms_p95=_percentile(self._latency_ms, 95),
            latency_ms_max=self._latency_ms_max if with_result else None,
            detector_ms_mean=self._detect_ms_sum / runs if runs else None,
            detector_ms_max=self._detect_ms_max if runs else None,
        )

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Joins the worker within ``timeout`` seconds (a warning says when it did not end)."""
        if self.closed:
            return
        self.closed = True
        if not self.worker.close(timeout):
            left = ("its thread is left to end on its own" if isinstance(self.worker, InferenceWorker)
                    else "its worker process was terminated")
            warnings.warn(f"Pipeline(decoupled=True): the detector was still running {timeout:g} s after close(); "
                          f"{left}", RuntimeWarning, stacklevel=3)
