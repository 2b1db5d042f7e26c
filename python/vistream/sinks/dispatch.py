"""What the Pipeline does with each frame's results besides its files: history and sinks."""

from __future__ import annotations

from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple, Union

from ..detections import Detections
from ..results import RecordBuilder
from ..stats import SinkStats
from .base import QueuedSink, Sink, logger
from .files import CallableSink
from .history import DETECTIONS, ResultHistory


class ResultDispatcher:
    """The Pipeline's results fan-out: every frame's values into ``history``, every frame's
    record (built once, the ``.jsonl`` line as a dict) to every sink, failures isolated."""

    def __init__(self, sinks: Sequence[Union[Sink, Callable[[Mapping[str, Any]], Any]]],
                 history: Optional[ResultHistory], plugin_names: Sequence[str]) -> None:
        if isinstance(sinks, Sink):
            sinks = [sinks]
        checked: List[Sink] = []
        for sink in sinks:
            if isinstance(sink, Sink):
                checked.append(sink)
            elif callable(sink):
                checked.append(CallableSink(sink))
            else:
                raise TypeError(f"Pipeline: sinks must be vistream.sinks.Sink objects or callables, got "
                                f"{type(sink).__name__}")
        if history is None:
            history = ResultHistory()
        elif not isinstance(history, ResultHistory):
            raise TypeError(f"Pipeline: history must be a vistream.ResultHistory, got {type(history).__name__}")
        if DETECTIONS in plugin_names:
            raise ValueError(f"Pipeline: a plugin is named {DETECTIONS!r}; that name is the detections' entry in "
                             "pipeline.history: rename the plugin")
        self.sinks = checked
        self.history = history
        self._records = RecordBuilder()

    @property
    def active(self) -> bool:
        """Whether records must be built (some sink takes them)."""
        return bool(self.sinks)

    def remember(self, time: float, detections: Detections, produced: Mapping[str, Any]) -> None:
        """Keeps this frame's output and plugin values in the history (every frame, revisits too)."""
        history = self.history
        if not history.enabled:
            return
        history.record(DETECTIONS, time, detections)
        for name, value in produced.items():
            if value is not None:
                history.record(name, time, value)
        history.trim(time)

    def emit(self, index: int, time: float, detections: Detections, plugins: Optional[Mapping[str, Any]],
             processing_ms: Optional[float], **fields: Any) -> None:
        """Hands the frame's record to every sink (once per frame: the Pipeline calls it on first export)."""
        if not self.sinks:
            return
        record = self._records.build(index, time, detections, plugins, processing_ms, **fields)
        for sink in self.sinks:
            sink.emit(record)  # never raises: a sink's failure is counted in its stats

    @property
    def stats(self) -> Tuple[SinkStats, ...]:
        return tuple(sink.stats for sink in self.sinks)

    def close(self) -> None:
        """Flushes every sink, each within its close deadline, the queued ones in parallel."""
        for sink in self.sinks:
            if isinstance(sink, QueuedSink):
                sink.begin_close()
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as error:  # a sink's close must not keep the others (or the caller) from finishing
                logger.warning("sink %s: close failed: %s: %s", sink.name, type(error).__name__, error)
