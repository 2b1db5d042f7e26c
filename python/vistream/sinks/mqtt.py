"""``MqttSink``: one MQTT message per record (paho-mqtt, QoS 1), reconnecting on its own."""

from __future__ import annotations

import secrets
import threading
from typing import Any, Dict, List, Optional, Tuple

from ..errors import MissingDependencyError
from .base import QueuedSink, SinkDeliveryError, logger


class MqttSink(QueuedSink):
    """Publishes each record (its ``.jsonl`` results line) as one message on ``topic``, QoS 1
    by default, in frame order.

    Never blocks the pipeline (a ``QueuedSink``: bounded queue, worker thread). The client
    (paho-mqtt, ``pip install paho-mqtt``) connects in the background and reconnects after a
    lost connection with a backoff of ``reconnect_delay`` = (first, longest) seconds; messages
    the broker had not acknowledged (PUBACK) are sent again on the new connection, in order
    (counted in ``retried``; a lost connection or a refused connect counts in ``failed``).
    While the broker is away, records wait in the queue (``max_queue``: the oldest are dropped
    and counted when it is full). QoS 1 is "at least once": a broker that received a message
    but died before acknowledging it gets it twice; records carry ``frame`` to tell.

    Args:
        host, port: the broker (1883; 8883 is usual with ``tls=True``).
        topic: where the records are published.
        qos: 0, 1 or 2.
        client_id: the MQTT client id (default: ``vistream-`` and random hex).
        username, password: broker credentials, if it wants them.
        tls: connect with TLS (the system's CA certificates).
        keepalive: seconds between pings on an idle connection.
        batch_size: records published before waiting for their acknowledgements.

    Example::

        pipeline = vistream.Pipeline(detector, tracker, sinks=[MqttSink("broker.local", 1883, "cameras/door")])
    """

    def __init__(self, host: str, port: int = 1883, topic: str = "vistream/results", *, qos: int = 1,
                 client_id: Optional[str] = None, username: Optional[str] = None, password: Optional[str] = None,
                 tls: bool = False, keepalive: int = 30, reconnect_delay: Tuple[float, float] = (0.25, 10.0),
                 batch_size: int = 100, flush_interval: float = 0.1, max_queue: int = 10000,
                 close_timeout: float = 10.0, name: Optional[str] = None) -> None:
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise MissingDependencyError("MqttSink needs paho-mqtt: pip install paho-mqtt") from None
        if qos not in (0, 1, 2):
            raise ValueError(f"MqttSink: qos must be 0, 1 or 2, got {qos!r}")
        if not topic or any(c in topic for c in "+#"):
            raise ValueError(f"MqttSink: {topic!r} is not a topic to publish on (no wildcards)")
        if not 0 < int(port) < 65536:
            raise ValueError(f"MqttSink: port {port!r} is not a TCP port")
        # retries=None: a batch is never re-published by QueuedSink (paho resends unacknowledged
        # messages itself after a reconnect); it waits until acknowledged or the close deadline
        super().__init__(name or f"mqtt://{host}:{port}/{topic}", batch_size=batch_size,
                         flush_interval=flush_interval, retries=None, max_queue=max_queue,
                         close_timeout=close_timeout)
        self.host, self.port, self.topic, self.qos = host, int(port), topic, qos
        self._mqtt = mqtt
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                   client_id=client_id or f"vistream-{secrets.token_hex(6)}")
        if username is not None:
            self._client.username_pw_set(username, password)
        if tls:
            self._client.tls_set()
        self._client.reconnect_delay_set(min_delay=reconnect_delay[0], max_delay=reconnect_delay[1])
        self._keepalive = int(keepalive)
        # protected by _acks: mids the broker acknowledged, and the mids of the batch in flight
        self._acks = threading.Condition()
        self._acked: set = set()
        self._waiting: Dict[int, Any] = {}
        #: whether the client is connected now
        self.connected = False
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_publish = self._on_publish

    # -- paho's network thread ----------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._note_failure(SinkDeliveryError(f"broker refused the connection: {reason_code}"))
            return
        self.connected = True
        logger.info("sink %s: connected", self.name)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was_connected, self.connected = self.connected, False
        if self._closing and not self._waiting:
            return
        with self._acks:
            unacknowledged = len(self._waiting)
        if was_connected:
            # paho sends these again once reconnected
            self._note_failure(SinkDeliveryError(f"connection to {self.host}:{self.port} lost: {reason_code}"),
                               retried=unacknowledged)

    def _on_connect_fail(self, client, userdata) -> None:
        self._note_failure(SinkDeliveryError(f"cannot connect to {self.host}:{self.port}"))

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._acks:
            self._acked.add(mid)
            self._acks.notify_all()

    # -- the worker -----------------------------------------------------------------------------
    def start(self) -> None:
        self._client.connect_async(self.host, self.port, keepalive=self._keepalive)
        self._client.loop_start()  # connects, reconnects, resends in the background

    def stop(self) -> None:
        try:
            self._client.disconnect()
        finally:
            self._client.loop_stop()

    def send(self, records: List[str]) -> None:
        with self._acks:
            self._acked.clear()
        for line in records:
            info = self._client.publish(self.topic, line, qos=self.qos)
            if info.rc == self._mqtt.MQTT_ERR_QUEUE_SIZE:
                raise SinkDeliveryError("paho's message queue is full", retryable=False)
            # queued by paho also when not connected (rc NO_CONN): it goes out on the next connection
            with self._acks:
                self._waiting[info.mid] = info
        if self.qos == 0:
            with self._acks:
                self._waiting.clear()
            return
        with self._acks:
            while True:
                self._waiting = {mid: info for mid, info in self._waiting.items() if mid not in self._acked}
                if not self._waiting:
                    return
                remaining = self.remaining()
                if remaining is not None and remaining <= 0:
                    unacknowledged = len(self._waiting)
                    self._waiting = {}
                    raise SinkDeliveryError(f"{unacknowledged} message(s) not acknowledged by the close deadline",
                                            retryable=False, delivered=len(records) - unacknowledged)
                self._acks.wait(0.5 if remaining is None else min(0.5, remaining))
