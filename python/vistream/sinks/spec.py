"""Sinks from short text specs (the CLI's ``--sink``)."""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Tuple

from .base import Sink

SPEC_HELP = ("webhook=URL (or a bare http(s)://URL), mqtt://HOST[:PORT]/TOPIC (mqtts:// for TLS), "
             "jsonl=PATH, csv=PATH")


def parse_sink_spec(spec: str) -> Tuple[str, str]:
    """``(kind, target)`` of a sink spec; raises ValueError saying what is accepted."""
    text = spec.strip()
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        kind, target = "webhook", text
    elif lowered.startswith(("mqtt://", "mqtts://")):
        kind, target = "mqtt", text
    elif "=" in text:
        kind, target = text.split("=", 1)
        kind, target = kind.strip().lower(), target.strip()
    else:
        raise ValueError(f"sink {spec!r}: expected {SPEC_HELP}")
    if kind not in ("webhook", "mqtt", "jsonl", "csv"):
        raise ValueError(f"sink {spec!r}: unknown kind {kind!r}; expected {SPEC_HELP}")
    if not target:
        raise ValueError(f"sink {spec!r}: nothing after '='")
    if kind == "webhook":
        parsed = urllib.parse.urlsplit(target)
        if parsed.scheme.lower() not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"sink {spec!r}: a webhook needs an http:// or https:// URL")
    if kind == "mqtt":
        parsed = urllib.parse.urlsplit(target)
        if parsed.scheme.lower() not in ("mqtt", "mqtts") or not parsed.hostname or not parsed.path.strip("/"):
            raise ValueError(f"sink {spec!r}: expected mqtt://HOST[:PORT]/TOPIC")
        try:
            parsed.port
        except ValueError:
            raise ValueError(f"sink {spec!r}: the port is not a number") from None
    return kind, target


def sink_from_spec(spec: str) -> Sink:
    """The sink a spec names (see ``SPEC_HELP``), e.g. ``sink_from_spec("mqtt://127.0.0.1:1883/cam1")``."""
    kind, target = parse_sink_spec(spec)
    if kind == "webhook":
        from .webhook import WebhookSink

        return WebhookSink(target)
    if kind == "mqtt":
        from .mqtt import MqttSink

        parsed = urllib.parse.urlsplit(target)
        tls = parsed.scheme.lower() == "mqtts"
        return MqttSink(parsed.hostname, parsed.port or (8883 if tls else 1883),
                        urllib.parse.unquote(parsed.path.lstrip("/")), tls=tls,
                        username=urllib.parse.unquote(parsed.username) if parsed.username else None,
                        password=urllib.parse.unquote(parsed.password) if parsed.password else None)
    from .files import CsvSink, JsonlSink

    return JsonlSink(target) if kind == "jsonl" else CsvSink(target)


def sink_argument(text: str) -> str:
    """argparse ``type=`` for ``--sink``: checks the spec (the sink is made when the run starts)."""
    try:
        parse_sink_spec(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text
