"""One source of a batch, start to finish: the work a pool process or a Ray task does.

Everything a task needs travels in a ``SourceTask`` (plain data); the pipeline is built anew
for every source, so a source's results never depend on which worker ran it or what it ran
before (a MotionDetector's background model, a tracker's ids).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from ..pipeline_config import PipelineConfig
from ._store import OutputStore

#: seconds between progress reports of a running source
PROGRESS_INTERVAL = 0.5

ProgressFn = Callable[[int, Optional[int]], None]


@dataclass(frozen=True)
class SourceTask:
    """What to do for one source."""

    source: str
    key: str
    index: int
    config: PipelineConfig
    store: OutputStore
    #: decoder threads (Player ``threads``); None: the config's, else the Player's default
    threads: Optional[int] = None


@dataclass(frozen=True)
class SourceOutcome:
    """What a finished source produced (names relative to the store)."""

    frames: int
    outputs: List[str]
    seconds: float


def output_names(task: SourceTask) -> Dict[str, Optional[str]]:
    config = task.config
    video = None if config.outputs is None else config.output_name(config.outputs, task.source, task.key, task.index)
    return {"video": video, "results": config.output_name(config.results, task.source, task.key, task.index)}


class _CountingCallback:
    """The pipeline as the player's callback, reporting the frames done every so often."""

    def __init__(self, pipeline, report: Optional[ProgressFn], total: Optional[int]) -> None:
        self.pipeline = pipeline
        self.report = report
        self.total = total
        self.frames = 0
        self._next_report = time.monotonic() + PROGRESS_INTERVAL

    def __call__(self, frame) -> None:
        self.pipeline(frame)
        self.frames += 1
        if self.report is not None and time.monotonic() >= self._next_report:
            self._next_report = time.monotonic() + PROGRESS_INTERVAL
            self.report(self.frames, self.total)


def run_source(task: SourceTask, report: Optional[ProgressFn] = None) -> SourceOutcome:
    """Runs the config's pipeline over ``task.source`` and promotes its outputs (video, then
    results) under their final names. Nothing is promoted when the run fails or is
    interrupted: the scratch folder is removed and the exception propagates."""
    from ..player import Player

    started = time.monotonic()
    names = output_names(task)
    scratch = task.store.scratch_dir(task.key)
    try:
        options = dict(task.config.player)
        if task.threads is not None:
            options["threads"] = task.threads
        video_path = os.path.join(scratch, names["video"]) if names["video"] else None
        results_path = os.path.join(scratch, names["results"])
        player = Player(task.source, output=video_path, display=False, mode="offline", **options)
        info = player.info
        pipeline = task.config.build_pipeline(info.fps, results=results_path)
        callback = _CountingCallback(pipeline, report, info.frame_count or None)
        player.on_frame(callback)
        if report is not None:
            report(0, callback.total)
        error: Optional[BaseException] = None
        try:
            player.run()
        except BaseException as caught:
            error = caught
            raise
        finally:
            pipeline.close(error)
        frames = player.stats.frames_processed
        if frames == 0:
            raise ValueError(f"{task.source}: no frame was processed (no video frames?)")
        if report is not None:
            report(frames, callback.total)
        promoted = []
        for name in (names["video"], names["results"]):
            if name is not None:
                task.store.promote(os.path.join(scratch, name), name)
                promoted.append(name)
        return SourceOutcome(frames=frames, outputs=promoted, seconds=time.monotonic() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
