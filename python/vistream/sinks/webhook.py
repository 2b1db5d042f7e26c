"""``WebhookSink``: records POSTed to an HTTP(S) endpoint in batches, from a worker thread."""

from __future__ import annotations

import http.client
import secrets
import socket
import threading
import urllib.parse
from typing import List, Mapping, Optional

from .base import QueuedSink, SinkDeliveryError

# statuses worth sending the same batch again for: the server may take it later
_RETRYABLE_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class WebhookSink(QueuedSink):
    """POSTs the records to ``url`` in batches: a JSON array of records (``Content-Type:
    application/json``), each record the frame's ``.jsonl`` results line, in frame order.

    Never blocks the pipeline: records wait in a bounded queue and a worker thread sends them
    (see ``QueuedSink`` for ``batch_size``, ``flush_interval``, ``retries``, ``backoff``,
    ``max_queue``, ``close_timeout``). A batch is retried after a connection error, a timeout,
    or status 408/425/429/5xx; another 4xx drops it at once (counted: the same request would
    fail again). Every request of a batch, retries included, carries the same
    ``Idempotency-Key: <sink run>-<batch number>`` header, so a server that did get a batch
    whose response was lost can recognise the retry.

    Args:
        url: ``http://`` or ``https://`` endpoint.
        headers: extra request headers (e.g. ``{"Authorization": "Bearer ..."}``).
        timeout: seconds for one request (connect + response); shortened near the close deadline.

    One connection per request, straight to the host (``http_proxy`` and friends are not used);
    ``https://`` verifies the server with the system's CA certificates.

    Example::

        pipeline = vistream.Pipeline(detector, tracker, sinks=[WebhookSink("http://127.0.0.1:8000/results")])
    """

    def __init__(self, url: str, *, batch_size: int = 50, flush_interval: float = 1.0, retries: Optional[int] = 8,
                 backoff: float = 0.5, max_backoff: float = 30.0, max_queue: int = 10000,
                 close_timeout: float = 10.0, timeout: float = 10.0,
                 headers: Optional[Mapping[str, str]] = None, name: Optional[str] = None) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"WebhookSink: {url!r} is not an http:// or https:// URL")
        super().__init__(name or f"webhook:{url}", batch_size=batch_size, flush_interval=flush_interval,
                         retries=retries, backoff=backoff, max_backoff=max_backoff, max_queue=max_queue,
                         close_timeout=close_timeout)
        if timeout <= 0:
            raise ValueError("WebhookSink: timeout must be > 0")
        self.url = url
        self.timeout = float(timeout)
        self.headers = {"Content-Type": "application/json", "User-Agent": "vistream-webhook-sink",
                        **dict(headers or {})}
        self._run_id = secrets.token_hex(8)
        self._connection_lock = threading.Lock()
        self._connection: Optional[http.client.HTTPConnection] = None  # the request in flight

    def send(self, records: List[str]) -> None:
        body = ("[" + ",".join(records) + "]").encode("utf-8")
        remaining = self.remaining()
        timeout = self.timeout if remaining is None else max(0.05, min(self.timeout, remaining))
        parts = urllib.parse.urlsplit(self.url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = kind(parts.hostname, parts.port, timeout=timeout)
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        headers = {**self.headers, "Idempotency-Key": f"{self._run_id}-{self.batch_number}",
                   "Content-Length": str(len(body))}
        with self._connection_lock:
            self._connection = connection
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
        except (http.client.HTTPException, OSError) as error:
            raise SinkDeliveryError(f"{self.url}: {type(error).__name__}: {error}") from None
        finally:
            with self._connection_lock:
                self._connection = None
            connection.close()
        if not 200 <= response.status < 300:
            raise SinkDeliveryError(f"HTTP {response.status} {response.reason} from {self.url}",
                                    retryable=response.status in _RETRYABLE_STATUSES)

    def abort(self) -> None:
        # close() past its deadline: end the request in flight (a server that never answers)
        with self._connection_lock:
            sock = self._connection.sock if self._connection is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
