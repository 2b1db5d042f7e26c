"""Result sinks and history: where a Pipeline's per-frame results go besides its files.

``Pipeline(..., sinks=[...])`` hands every frame's results record (the line a ``.jsonl``
results file has for it) to each sink; ``pipeline.history[name]`` keeps each plugin's values
per media time in a bounded window. See docs/sinks.md.

- ``JsonlSink(path)``, ``CsvSink(path)`` (supervision's CSVSink columns + class_name),
  ``CallableSink(fn)``: synchronous, on the pipeline thread.
- ``WebhookSink(url)``, ``MqttSink(host, port, topic)``: ``QueuedSink``s: a bounded queue and a
  worker thread, batched and retried, never blocking the pipeline.
- Subclass ``Sink`` (``write(record)``) or ``QueuedSink`` (``send(records)``) for your own.

Failures are logged (logger ``vistream.sinks``) and counted (``sink.stats``: ``SinkStats``);
they never stop the pipeline, the video or the results file.
"""

from ..stats import SinkStats
from .base import QueuedSink, Sink, SinkDeliveryError, record_json
from .files import CallableSink, CsvSink, JsonlSink
from .history import ResultHistory
from .mqtt import MqttSink
from .spec import sink_from_spec
from .webhook import WebhookSink

__all__ = ["Sink", "QueuedSink", "SinkDeliveryError", "SinkStats", "JsonlSink", "CsvSink", "CallableSink",
           "WebhookSink", "MqttSink", "ResultHistory", "sink_from_spec", "record_json"]
