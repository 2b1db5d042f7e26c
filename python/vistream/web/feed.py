"""The frame feed: the pipeline publishes its annotated frames, the web clients get JPEGs.

Cost to the pipeline: ``publish`` only records the frame's index/time when no client is
connected; with a client it copies the pixels into one newest-wins slot (the pipeline goes on
at once, never waiting for the encoder or a client). The feed's own thread encodes the newest
slot to JPEG, at most once per published frame and only while a client can take a frame (a
client that stopped reading costs no encoding). Each client
is woken when a new JPEG is ready and takes the newest one when it is ready to send: a slow
client skips frames, it never queues them.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import os
import sys
import threading
import time as _time
from typing import Any, Callable, Deque, List, Optional, Tuple

import numpy as np


@dataclasses.dataclass(frozen=True)
class EncodedFrame:
    """One JPEG of a published frame and where it belongs on the timeline."""

    jpeg: bytes
    index: int
    time: float
    serial: Optional[int]
    #: server ``time.time()`` when the pipeline published the frame
    published_at: float
    #: the feed's count of published frames when this one was published (1 = the first)
    sequence: int

    def header(self) -> dict:
        return {"type": "frame", "index": self.index, "time": self.time, "serial": self.serial,
                "published_at": self.published_at}


class _Subscriber:
    """One client's wake-up: an asyncio event set from the feed's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.event = asyncio.Event()
        #: the client waits for a frame newer than the latest JPEG (it sent all it took); the encoder
        #: encodes only while one does, so a client that stopped reading costs no encoding
        self.waiting = True

    def wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.event.set)
        except RuntimeError:
            pass  # the loop closed: the client is gone


class FrameFeed:
    """Newest-wins frame slot between the pipeline thread and the web clients.

    Shared state, all protected by ``_lock``: the pending frame (pipeline thread writes, feed
    thread takes), the latest JPEG (feed thread writes, clients read), the subscriber list and the
    published-frame counters. The pixel copy in the slot is never touched again by the pipeline.
    """

    def __init__(self, jpeg_quality: int = 80, max_fps: Optional[float] = None) -> None:
        self.jpeg_quality = jpeg_quality
        self._min_interval = 1.0 / max_fps if max_fps else 0.0
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._pending: Optional[Tuple[np.ndarray, int, float, Optional[int], float, int]] = None
        self._latest: Optional[EncodedFrame] = None
        self._subscribers: List[_Subscriber] = []
        self._published = 0
        self._last_index = -1
        self._last_time = 0.0
        self._last_serial: Optional[int] = None
        self._last_shape: Optional[Tuple[int, ...]] = None
        self._publish_times: Deque[float] = collections.deque(maxlen=512)
        self._last_encoded_at = 0.0
        self._closed = False
        self._thread: Optional[threading.Thread] = None
        self.frames_encoded = 0

    # -- pipeline side -------------------------------------------------------------------------

    @property
    def wanted(self) -> bool:
        """Whether a client is connected (the pixels of a published frame are wanted)."""
        return bool(self._subscribers)

    def publish(self, array: Any, index: int, time: float, serial: Optional[int], *, retain: bool = False) -> None:
        """Hands the frame the window/encoder get to the web clients (pipeline thread).

        Copies the pixels only while a client is connected, or when ``retain`` (a paused player's
        stepped frame: a page opened later must show it); never blocks on the encoder.
        """
        now = _time.time()
        with self._lock:
            self._published += 1
            self._last_index, self._last_time, self._last_serial = int(index), float(time), serial
            self._publish_times.append(_time.monotonic())
            if array is not None:
                self._last_shape = tuple(np.shape(array))
            if (self._subscribers or retain) and array is not None and not self._closed:
                # np.array copies: the engine reuses the frame's buffer once the callback returns
                self._pending = (np.array(array, copy=True), int(index), float(time), serial, now, self._published)
            self._wakeup.notify_all()  # the encoder thread and wait_for_publish() waiters

    # -- counters ------------------------------------------------------------------------------

    @property
    def published(self) -> int:
        """Frames published so far."""
        return self._published

    @property
    def last(self) -> Tuple[int, float, Optional[int]]:
        """(index, time, serial) of the last published frame (index -1 before any)."""
        with self._lock:
            return self._last_index, self._last_time, self._last_serial

    @property
    def frame_shape(self) -> Optional[Tuple[int, ...]]:
        return self._last_shape

    def fps(self, window: float = 1.0) -> float:
        """Frames published per second over the last ``window`` seconds (0 while none)."""
        now = _time.monotonic()
        with self._lock:
            recent = [t for t in self._publish_times if now - t <= window]
        if len(recent) < 2:
            return 0.0
        # over the window when frames keep coming, over the frames' span when they just stopped
        return len(recent) / window if now - recent[-1] < 0.5 else 0.0

    def wait_for_publish(self, after: int, timeout: float) -> bool:
        """Waits until more than ``after`` frames were published; False on timeout or close."""
        deadline = _time.monotonic() + timeout
        with self._lock:
            while self._published <= after and not self._closed:
                left = deadline - _time.monotonic()
                if left <= 0:
                    return False
                self._wakeup.wait(left)
            return self._published > after

    def wait_for_encoded(self, sequence: int, timeout: float) -> bool:
        """Waits until the latest JPEG is of published frame ``sequence`` or newer; False on timeout."""
        deadline = _time.monotonic() + timeout
        with self._lock:
            while (self._latest is None or self._latest.sequence < sequence) and not self._closed:
                left = deadline - _time.monotonic()
                if left <= 0:
                    return False
                self._wakeup.wait(left)
            return self._latest is not None and self._latest.sequence >= sequence

    # -- client side ---------------------------------------------------------------------------

    @property
    def latest(self) -> Optional[EncodedFrame]:
        return self._latest

    @property
    def closed(self) -> bool:
        return self._closed

    def subscribe(self) -> _Subscriber:
        """Registers a client of the running event loop; call ``unsubscribe`` when it leaves."""
        subscriber = _Subscriber(asyncio.get_running_loop())
        with self._lock:
            self._subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: _Subscriber) -> None:
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)
            # a frame held back while this client was busy is still encoded (no client left: at once,
            # then freed), so the latest JPEG is the frame on screen for a page opened later (paused)
            self._wakeup.notify_all()

    def waiting_for_frame(self, subscriber: _Subscriber) -> None:
        """The client has sent what it took and waits for a newer frame: wakes the encoder for it."""
        with self._lock:
            subscriber.waiting = True
            self._wakeup.notify_all()

    async def next_frame(self, subscriber: _Subscriber, after: int) -> Optional[EncodedFrame]:
        """The newest JPEG with a sequence above ``after``; waits for one. None once the feed closes."""
        while not self._closed:
            frame = self._latest
            if frame is not None and frame.sequence > after:
                subscriber.waiting = False
                return frame
            subscriber.event.clear()
            self.waiting_for_frame(subscriber)
            frame = self._latest  # encoded between the check and the clear
            if frame is not None and frame.sequence > after:
                subscriber.waiting = False
                return frame
            await subscriber.event.wait()
        return None

    # -- the encoder thread --------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._closed = False
        self._thread = threading.Thread(target=self._encode_loop, name="vistream-web-jpeg", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stops the encoder thread and wakes every waiting client (they end)."""
        with self._lock:
            self._closed = True
            self._pending = None
            subscribers = list(self._subscribers)
            self._wakeup.notify_all()
        for subscriber in subscribers:
            subscriber.wake()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _encode_loop(self) -> None:
        import cv2

        _lower_this_threads_priority()
        while True:
            with self._lock:
                # with clients, encode only while one can take a frame; without any, a retained
                # (paused) frame is encoded at once so that a page opened later shows it first
                while (self._pending is None or (self._subscribers and not any(s.waiting for s in self._subscribers))) \
                        and not self._closed:
                    self._wakeup.wait()
                if self._closed:
                    return
                pixels, index, time, serial, published_at, sequence = self._pending
                self._pending = None
            if self._min_interval:
                wait = self._last_encoded_at + self._min_interval - _time.monotonic()
                if wait > 0:
                    _time.sleep(wait)  # a newer frame may land meanwhile: take that one instead
                    with self._lock:
                        if self._pending is not None:
                            pixels, index, time, serial, published_at, sequence = self._pending
                            self._pending = None
            jpeg = _encode_jpeg(cv2, pixels, self.jpeg_quality)
            del pixels
            if jpeg is None:
                continue
            self._last_encoded_at = _time.monotonic()
            self.frames_encoded += 1
            frame = EncodedFrame(jpeg, index, time, serial, published_at, sequence)
            with self._lock:
                self._latest = frame
                subscribers = list(self._subscribers)
                self._wakeup.notify_all()  # wait_for_encoded() waiters
            for subscriber in subscribers:
                subscriber.wake()


def _lower_this_threads_priority(step: int = 10) -> None:
    """The JPEG encoder yields the CPU to the pipeline when they compete (Linux: per-thread nice)."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere PRIO_PROCESS with a thread id would name a process
    try:
        thread_id = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread_id, min(19, os.getpriority(os.PRIO_PROCESS, thread_id) + step))
    except OSError:
        pass  # not allowed here: the encoder runs at the process's priority


def _encode_jpeg(cv2: Any, pixels: np.ndarray, quality: int) -> Optional[bytes]:
    """BGR (or gray, or BGRA) pixels as JPEG bytes; None for a layout JPEG cannot hold."""
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        return None
    ok, encoded = cv2.imencode(".jpg", pixels, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    return encoded.tobytes() if ok else None


def host_pixels(frame: Any, result: Any) -> Any:
    """The picture the window and encoder get, in host memory: the callback's returned array, or
    the frame's own pixels (a device frame is downloaded once)."""
    if isinstance(result, np.ndarray):
        return result
    if result is not None and hasattr(result, "__dlpack__"):  # a CUDA tensor returned by the callback
        try:
            return result.detach().cpu().numpy()
        except AttributeError:
            pass
    if getattr(frame, "device", "cpu") not in ("cpu", None):
        host = frame.download()  # device frames: nv12 on the host, one copy
        array = host.array
        if array.ndim == 2:  # nv12 as one (H*3/2, W) plane
            import cv2

            return cv2.cvtColor(array, cv2.COLOR_YUV2BGR_NV12)
        return array
    return frame.array


def publishing_callback(feed: FrameFeed, callback: Optional[Callable[[Any], Any]],
                        paused: Callable[[], bool] = lambda: False) -> Callable[[Any], Any]:
    """``callback`` followed by ``feed.publish`` of the frame it annotated (the Player's callback).

    ``paused()``: whether the player is paused; a paused player's frames (steps, seeks) are kept
    for the clients that connect later, since no other frame will come to replace them.
    """

    def publish_after(frame: Any) -> Any:
        result = callback(frame) if callback is not None else None
        retain = not feed.wanted and paused()
        pixels = host_pixels(frame, result) if feed.wanted or retain else None
        feed.publish(pixels, frame.index, frame.time, frame.serial, retain=retain)
        return result

    bind = getattr(callback, "_bind_player", None)
    if callable(bind):
        publish_after._bind_player = bind  # type: ignore[attr-defined]
    return publish_after
