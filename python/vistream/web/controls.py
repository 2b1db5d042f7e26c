"""The controls and the state of the web view: the same semantics as the window's keys.

``/api/control`` and the WebSocket's messages end up in ``apply_control``, which calls
``Player.pause/resume/seek/step/set_speed``. A step of a paused player is the Player's own step
(the pipeline re-infers the overlays on the frame stepped to, as with the window's ``.`` key);
``apply_control`` returns once that frame has been published to the feed.
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict, Mapping, Optional

from ..errors import VistreamError
from .feed import FrameFeed

ACTIONS = ("pause", "resume", "toggle", "seek", "step", "speed")

# How long a step waits for its frame before answering with the state as it is (a step at the
# last frame, or past the start, publishes nothing).
STEP_TIMEOUT = 5.0


class ControlError(VistreamError, ValueError):
    """A control message the player cannot take (unknown action, missing or bad value): HTTP 400."""


def _number(message: Mapping[str, Any], key: str) -> Optional[float]:
    value = message.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ControlError(f"{key!r} must be a finite number, got {value!r}")
    return value


def _integer(message: Mapping[str, Any], key: str) -> Optional[int]:
    value = _number(message, key)
    if value is not None and value != int(value):
        raise ControlError(f"{key!r} must be an integer, got {value!r}")
    return None if value is None else int(value)


def apply_control(player: Any, feed: FrameFeed, message: Mapping[str, Any]) -> None:
    """Carries out one control message (blocking: a step waits for its frame; call off the event loop).

    Raises ``ControlError`` for a message that is not understood, and lets the player's own
    errors through (``SourceError``: a live source cannot seek).
    """
    if not isinstance(message, Mapping):
        raise ControlError("a control message is a JSON object with an 'action'")
    action = message.get("action")
    if action not in ACTIONS:
        raise ControlError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if action == "pause":
        player.pause()
    elif action == "resume":
        player.resume()
    elif action == "toggle":
        player.resume() if player.paused else player.pause()
    elif action == "speed":
        speed = _number(message, "speed")
        if speed is None:
            raise ControlError("'speed' needs a 'speed' number")
        player.set_speed(float(speed))
    elif action == "seek":
        index, time = _integer(message, "index"), _number(message, "time")
        if (index is None) == (time is None):
            raise ControlError("'seek' needs exactly one of 'time' (seconds) or 'index' (frame)")
        before = feed.published
        if index is not None:
            player.seek(index=index)
        else:
            player.seek(time=float(time))
        if player.paused:  # the frame sought to is published once; a playing player goes on anyway
            feed.wait_for_publish(before, STEP_TIMEOUT)
    else:  # step
        frames = _integer(message, "frames")
        frames = 1 if frames is None else frames
        if frames == 0:
            raise ControlError("'frames' must not be 0")
        before = feed.published
        player.step(frames)
        feed.wait_for_publish(before, STEP_TIMEOUT)


def source_label(source: Any) -> str:
    """What the page calls a source: a local file's name (not its directory, which a remote
    viewer has no business seeing), a URL without its credentials (``user:pass@``) or query."""
    text = str(source)
    if "://" in text:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(text)
            host = parts.hostname or ""
            if parts.port is not None:
                host = f"{host}:{parts.port}"
            return f"{parts.scheme}://{host}{parts.path}"
        except ValueError:  # a malformed URL: only its scheme is safe to show
            return text.split("://", 1)[0] + "://"
    return os.path.basename(text.rstrip("/\\")) or text


def player_state(player: Any, feed: FrameFeed, info: Any = None) -> Dict[str, Any]:
    """The ``/api/state`` JSON: where the player is, how fast frames arrive, what was dropped.

    ``info``: the player's ``MediaInfo`` when the caller keeps it (it does not change during a run).
    """
    index, time, serial = feed.last
    info = info if info is not None else player.info
    stats = player.stats
    shape = feed.frame_shape
    width, height = (shape[1], shape[0]) if shape and len(shape) >= 2 else (info.width, info.height)
    return {
        "source": source_label(player.source),
        "index": index,
        "time": time,
        "duration": info.duration,
        "fps": round(feed.fps(), 2),
        "frames_shown": feed.published,
        "dropped": stats.frames_dropped,
        "paused": player.paused,
        "speed": player.speed,
        "mode": player.mode,
        "width": width,
        "height": height,
        "serial": serial,
        "frame_count": info.frame_count,
    }
