"""The sink interface: ``Sink`` (synchronous) and ``QueuedSink`` (batched, retried, on a worker thread)."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from time import monotonic
from typing import Any, Deque, List, Mapping, Optional, Tuple

from ..errors import VistreamError
from ..results import plain_json
from ..stats import SinkStats

logger = logging.getLogger("vistream.sinks")


class SinkDeliveryError(VistreamError):
    """A sink could not deliver records. ``retryable=False`` (e.g. HTTP 400/404) drops the
    batch at once: sending the same data again cannot succeed."""

    def __init__(self, message: str, *, retryable: bool = True, delivered: int = 0) -> None:
        super().__init__(message)
        self.retryable = retryable
        #: how many records of the batch did arrive (counted as sent, the rest as dropped)
        self.delivered = delivered


def record_json(record: Mapping[str, Any]) -> str:
    """A results record as one line of JSON (no newline): what a ``.jsonl`` results file holds."""
    return json.dumps(record, default=plain_json)


class _Counters:
    """A sink's counters, shared by the pipeline thread and the sink's worker (lock inside)."""

    __slots__ = ("lock", "records", "sent", "failed", "retried", "dropped", "pending", "last_error")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records = self.sent = self.failed = self.retried = self.dropped = self.pending = 0
        self.last_error: Optional[str] = None


class Sink:
    """Where a Pipeline sends every frame's results record (``Pipeline(sinks=[...])``).

    Subclass it and implement :meth:`write` (and :meth:`close` if you hold a resource). The
    Pipeline calls :meth:`emit` once per frame, in frame order, on its own thread, with the
    frame's record: the dict a ``.jsonl`` results file has on that frame's line (see
    ``vistream.results.RecordBuilder``). Do not modify it (every sink gets the same dict).

    ``write`` runs on the pipeline thread: it must be quick. For slow targets (a network
    service) subclass :class:`QueuedSink` instead, which sends from a worker thread in batches.
    A ``write`` that raises is logged (logger ``vistream.sinks``) and counted (``failed`` and
    ``dropped``); it never stops the pipeline, the video or the results file.

    Example::

        class PrintCount(vistream.sinks.Sink):
            def write(self, record):
                print(record["frame"], len(record["detections"]))
    """

    #: ``write`` returning means the record was delivered (``QueuedSink``: it was queued)
    delivers_on_write = True

    def __init__(self, name: Optional[str] = None) -> None:
        #: how logs and stats name this sink
        self.name = name or type(self).__name__
        self._counters = _Counters()
        self._failing = False  # in a run of failures: log the first one only

    def write(self, record: Mapping[str, Any]) -> None:
        """Delivers one frame's record (override)."""
        raise NotImplementedError(f"{type(self).__name__} must implement write(record)")

    def close(self, timeout: Optional[float] = None) -> None:
        """Flushes and releases what the sink holds; ``timeout``: the most seconds to wait."""

    def emit(self, record: Mapping[str, Any]) -> None:
        """``write`` with counting and failure isolation: never raises (called by the Pipeline)."""
        counters = self._counters
        with counters.lock:
            counters.records += 1
        try:
            self.write(record)
        except Exception as error:  # a failing sink must not stop the pipeline: counted instead
            self._note_failure(error, dropped=1)
            return
        if self.delivers_on_write:
            self._note_sent(1)

    @property
    def stats(self) -> SinkStats:
        """The sink's counters now (see ``SinkStats``)."""
        c = self._counters
        with c.lock:
            return SinkStats(sink=self.name, records=c.records, sent=c.sent, failed=c.failed, retried=c.retried,
                             dropped=c.dropped, pending=c.pending, last_error=c.last_error)

    # -- counting helpers for subclasses ------------------------------------------------
    def _note_sent(self, count: int) -> None:
        with self._counters.lock:
            self._counters.sent += count
        if self._failing:
            self._failing = False
            logger.info("sink %s: delivering again", self.name)

    def _note_failure(self, error: BaseException, *, dropped: int = 0, retried: int = 0) -> None:
        message = f"{type(error).__name__}: {error}"
        with self._counters.lock:
            self._counters.failed += 1
            self._counters.dropped += dropped
            self._counters.retried += retried
            self._counters.last_error = message
        if not self._failing:
            self._failing = True
            logger.warning("sink %s failed (%s)%s", self.name, message,
                           f"; {dropped} record(s) dropped" if dropped else "; retrying")
        else:
            logger.debug("sink %s failed again (%s)", self.name, message)

    def _note_dropped(self, count: int, why: str) -> None:
        with self._counters.lock:
            first = self._counters.dropped == 0
            self._counters.dropped += count
        (logger.warning if first else logger.debug)("sink %s: %d record(s) dropped: %s", self.name, count, why)

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class QueuedSink(Sink):
    """A sink that never blocks the pipeline: records go into a bounded queue, and a worker
    thread sends them in batches with retries (:class:`WebhookSink`, :class:`MqttSink`).

    Subclass it and implement :meth:`send` to deliver to your own service; raise to have the
    batch retried (``SinkDeliveryError(..., retryable=False)`` to drop it at once).

    Args:
        name: how logs and stats name the sink.
        batch_size: most records per ``send`` call.
        flush_interval: seconds a record may wait for its batch to fill before it is sent.
        retries: attempts after a batch's first failure before it is dropped (None: until the
            sink is closed and its close deadline passes).
        backoff: seconds before the first retry; doubled on each further failure, up to
            ``max_backoff``.
        max_queue: most records waiting. When the queue is full the *oldest* waiting record is
            dropped (and counted): a long outage loses its oldest results, the freshest are sent
            when the target comes back, and memory stays bounded. The pipeline never waits.
        close_timeout: seconds ``close()`` keeps sending (and retrying) what is queued; what is
            left after it is dropped and counted.

    Batches are sent one at a time, in order, and a failed batch is retried before the next:
    records arrive in frame order, each once as far as the target acknowledges it (an HTTP
    2xx, an MQTT PUBACK).

    Example::

        class MyApi(vistream.sinks.QueuedSink):
            def send(self, records):          # JSON texts, one per frame, in order
                response = requests.post(URL, data="[" + ",".join(records) + "]", timeout=10)
                response.raise_for_status()   # an exception: the batch is retried
    """

    delivers_on_write = False

    def __init__(self, name: Optional[str] = None, *, batch_size: int = 50, flush_interval: float = 1.0,
                 retries: Optional[int] = 8, backoff: float = 0.5, max_backoff: float = 30.0,
                 max_queue: int = 10000, close_timeout: float = 10.0) -> None:
        super().__init__(name)
        if batch_size < 1 or max_queue < 1:
            raise ValueError(f"{type(self).__name__}: batch_size and max_queue must be >= 1")
        if flush_interval < 0 or backoff < 0 or max_backoff < 0 or close_timeout < 0:
            raise ValueError(f"{type(self).__name__}: flush_interval, backoff, max_backoff and close_timeout "
                             "must be >= 0")
        if retries is not None and retries < 0:
            raise ValueError(f"{type(self).__name__}: retries must be >= 0 or None")
        self.batch_size = int(batch_size)
        self.flush_interval = float(flush_interval)
        self.retries = retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.max_queue = int(max_queue)
        self.close_timeout = float(close_timeout)
        # protected by _wake: the queue of (enqueued at, JSON text), closing state, the close deadline
        self._wake = threading.Condition()
        self._queue: Deque[Tuple[float, str]] = deque()
        self._closing = False
        self._deadline: Optional[float] = None
        self._worker: Optional[threading.Thread] = None
        self._closed = False
        #: the batch being sent (1, 2, ...; worker thread): the same number for all its attempts
        self.batch_number = 0

    # -- to implement ---------------------------------------------------------------------
    def send(self, records: List[str]) -> None:
        """Delivers a batch of records (JSON texts, in frame order); raise to have it retried.
        Runs on the sink's worker thread; ``self.remaining()`` is the time left before the close
        deadline (None while the sink is open): keep blocking calls within it."""
        raise NotImplementedError(f"{type(self).__name__} must implement send(records)")

    def start(self) -> None:
        """Called on the worker thread before the first batch (e.g. to connect)."""

    def stop(self) -> None:
        """Called on the worker thread after the last batch (e.g. to disconnect)."""

    def abort(self) -> None:
        """Called by ``close()`` (on its thread) when the worker is still in ``send`` at the close
        deadline: make that call return now (e.g. shut its socket down)."""

    # -- the pipeline side ----------------------------------------------------------------
    def write(self, record: Mapping[str, Any]) -> None:
        line = record_json(record)  # on the pipeline thread: the worker gets an immutable text
        dropped = 0
        with self._wake:
            if self._closing:
                raise SinkDeliveryError(f"{self.name} is closed", retryable=False)
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name=f"vistream-sink-{self.name}", daemon=True)
                self._worker.start()
            self._queue.append((monotonic(), line))
            while len(self._queue) > self.max_queue:
                self._queue.popleft()
                dropped += 1
            with self._counters.lock:
                self._counters.pending += 1 - dropped
            self._wake.notify()
        if dropped:
            self._note_dropped(dropped, f"queue full ({self.max_queue} records waiting)")

    def remaining(self) -> Optional[float]:
        """Seconds left before the close deadline (None while open)."""
        deadline = self._deadline
        return None if deadline is None else max(0.0, deadline - monotonic())

    def begin_close(self, timeout: Optional[float] = None) -> None:
        """Stops taking records and starts the close deadline; ``close()`` waits for it. (The
        Pipeline calls this on every sink first, so they drain in parallel.)"""
        with self._wake:
            if not self._closing:
                self._closing = True
                self._deadline = monotonic() + (self.close_timeout if timeout is None else max(0.0, timeout))
            self._wake.notify_all()

    def close(self, timeout: Optional[float] = None) -> None:
        """Sends what is queued (retrying failures) for at most ``timeout`` seconds (default
        ``close_timeout``), then drops and counts what is left. Closing twice does nothing."""
        self.begin_close(timeout)
        worker = self._worker
        if worker is not None:
            remaining = self.remaining() or 0.0
            # the worker's blocking calls are bounded by the deadline; a little slack for their timeouts
            worker.join(remaining)
            if worker.is_alive():
                self.abort()  # a blocking call past the deadline: cut it short
                worker.join(2.0)
            if worker.is_alive():
                logger.warning("sink %s: its worker is still busy after the close deadline", self.name)
        with self._wake:
            left = len(self._queue)
            self._queue.clear()
        if left:
            with self._counters.lock:
                self._counters.pending -= left
            self._note_dropped(left, "still queued at the close deadline")
        if not self._closed:
            self._closed = True
            stats = self.stats
            if stats.dropped or stats.failed:
                logger.warning("sink %s closed: %d of %d records sent, %d dropped, %d failed attempts (last: %s)",
                               self.name, stats.sent, stats.records, stats.dropped, stats.failed, stats.last_error)

    # -- the worker ------------------------------------------------------------------------
    def _past_deadline(self) -> bool:
        deadline = self._deadline
        return deadline is not None and monotonic() >= deadline

    def _next_batch(self) -> Optional[List[str]]:
        """Waits for a full batch, the oldest record's flush time, or closing; None: done."""
        with self._wake:
            while True:
                if self._queue:
                    if self._closing or len(self._queue) >= self.batch_size:
                        break
                    wait = self._queue[0][0] + self.flush_interval - monotonic()
                    if wait <= 0:
                        break
                    self._wake.wait(wait)
                elif self._closing:
                    return None
                else:
                    self._wake.wait()
            if self._past_deadline():
                return None
            count = min(self.batch_size, len(self._queue))
            return [self._queue.popleft()[1] for _ in range(count)]

    def _run(self) -> None:
        try:
            self.start()
        except Exception as error:
            self._note_failure(error)  # e.g. a broker down at start: send() will try again
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    break
                self._deliver(batch)
        finally:
            try:
                self.stop()
            except Exception as error:
                logger.debug("sink %s: stop failed: %s", self.name, error)

    def _deliver(self, batch: List[str]) -> None:
        """Sends one batch, retrying with backoff; counts it as sent or dropped."""
        failures = 0
        self.batch_number += 1
        while True:
            try:
                self.send(batch)
            except Exception as error:
                failures += 1
                retryable = getattr(error, "retryable", True)
                exhausted = self.retries is not None and failures > self.retries
                if not retryable or exhausted or self._past_deadline():
                    delivered = min(len(batch), max(0, int(getattr(error, "delivered", 0))))
                    self._note_failure(error, dropped=len(batch) - delivered)
                    with self._counters.lock:
                        self._counters.pending -= len(batch)
                        self._counters.sent += delivered
                    return
                self._note_failure(error, retried=len(batch))
                delay = min(self.max_backoff, self.backoff * 2 ** (failures - 1))
                with self._wake:
                    # an early close shortens the wait: retry until the deadline, not past it
                    end = monotonic() + delay
                    while not self._past_deadline() and monotonic() < end:
                        self._wake.wait(min(end, self._deadline or end) - monotonic())
                if self._past_deadline():
                    with self._counters.lock:
                        self._counters.pending -= len(batch)
                        self._counters.retried -= len(batch)  # announced, never made
                    self._note_dropped(len(batch), "the close deadline passed while retrying")
                    return
                continue
            with self._counters.lock:
                self._counters.pending -= len(batch)
            self._note_sent(len(batch))
            return
