"""MqttSink against Debian's mosquitto on loopback (issue 14): every frame's record arrives at a
durable subscriber exactly once and in order, also across a broker restart in the middle of the
run (records made while the broker is down wait in the sink and go out after it is back)."""
from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt  # setup.sh --test installs paho-mqtt: missing is a failure, not a skip
import pytest

from live_servers import Mosquitto, wait_until
from test_sinks import FRAMES, file_records, run_pipeline
from vistream.sinks import MqttSink


@pytest.fixture
def broker(tmp_path):
    server = Mosquitto(tmp_path)
    yield server
    server.stop()


class DurableSubscriber:
    """A QoS 1 subscriber with a persistent session (clean_session=False): the broker keeps its
    messages while it is away, as a consumer of results would be set up.

    The broker-to-subscriber leg is QoS 1 too: a message the subscriber got but whose PUBACK the
    broker had not processed when it stopped is delivered again after the (persistent) broker's
    restart, with the DUP flag. Those redeliveries are the subscriber leg's, not the sink's, and
    are kept apart (``redelivered``); a record the sink sent twice arrives without DUP and shows
    in ``received()``."""

    def __init__(self, port: int, topic: str) -> None:
        self.payloads: list = []
        self.redelivered: list = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="results-consumer",
                                  clean_session=False)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        with self.lock:
            (self.redelivered if message.dup else self.payloads).append(json.loads(message.payload))

    def received(self) -> list:
        with self.lock:
            return list(self.payloads)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_mqtt_sink_delivers_every_record_once_in_order_across_a_broker_restart(test_mp4, tmp_path, broker):
    subscriber = DurableSubscriber(broker.port, "site/cam1/results")
    try:
        assert subscriber.subscribed.wait(10), "the subscriber could not subscribe"
        sink = MqttSink("127.0.0.1", broker.port, "site/cam1/results", reconnect_delay=(0.1, 0.5),
                        batch_size=20, flush_interval=0.02)
        outage = {}

        def restart_broker_mid_run(frame) -> None:
            if frame.index == 80:
                # a quiet moment (everything so far acknowledged both ways), so QoS 1's "at least
                # once" cannot show a duplicate from a PUBACK lost in the shutdown
                wait_until(lambda: len(subscriber.received()) == sink.stats.sent == 81 and sink.stats.pending == 0,
                           10, "the first 81 records")
                broker.stop()
                outage["stopped"] = time.monotonic()
            elif frame.index == 160:
                assert not sink.connected  # 80 records made while the broker was down
                broker.start()

        run_pipeline(test_mp4, tmp_path / "results.jsonl", [sink], on_frame=restart_broker_mid_run)
        expected = file_records(tmp_path / "results.jsonl")
        wait_until(lambda: len(subscriber.received()) >= len(expected), 15, "every record at the subscriber")
        time.sleep(0.3)  # a duplicate would arrive now
        assert subscriber.received() == expected
        assert all(record in expected[:len(expected) // 2] for record in subscriber.redelivered)  # before the stop
        stats = sink.stats
        assert (stats.records, stats.sent, stats.dropped, stats.pending) == (FRAMES, FRAMES, 0, 0)
        assert stats.failed >= 1  # the lost connection (and refused reconnects) were counted
        assert "connect" in stats.last_error
    finally:
        subscriber.close()
