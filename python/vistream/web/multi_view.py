"""``MultiWebView``: every source of a ``MultiPlayer`` live on one page, each with its state and
its current detections.

The page (``static/multi.html``) tiles the sources; a click on a tile shows that source alone
with its detections table, class counts and counts over time (a chart). Each source has its own ``FrameFeed`` (newest-wins,
encoded on the feed's thread, only while a client of that source waits), so a slow browser or a
source nobody watches costs the MultiPlayer's consumer nothing but a counter update.

Endpoints (all behind the same token / loopback guard as ``WebView``):

- ``GET /api/sources``: the run (``running``, ``frames``, ``fps``) and one entry per source.
- ``GET /api/sources/{n}``: source ``n`` (its position) with its current detections and its
  counts over time (``series``).
- ``GET /stream/{n}.mjpg``: source ``n``'s frames as MJPEG.
- ``WS /ws/{n}``: source ``n``'s frames (a JSON header, then the JPEG), its state twice a second
  and its detections with the counts series when they change.
- ``POST /api/stop``: ends the run (``MultiPlayer.stop()``).
"""

from __future__ import annotations

import asyncio
import json
import time as _time
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..dashboard import SERIES_LENGTH, CountSeries, class_counts, detection_rows, series_json
from .controls import source_label
from .feed import FrameFeed
from .options import WebOptions
from .serving import ServedApp, mjpeg_response, run_in_threadpool, static_file, static_route

# How often a source's WebSocket sends its state (at least) and its detections (at most), seconds.
STATE_INTERVAL = 0.5
DETECTIONS_INTERVAL = 0.25


class _SourceSlot:
    """What the page shows of one source: its feed, its latest frame's detections and its counts
    over time.

    ``latest`` is replaced by one reference assignment on the consumer's thread and read as a
    whole by the server's threads (an immutable tuple: no lock needed). ``counts`` is written by
    the consumer's thread only; the ``(columns, end)`` pair in ``latest`` is a consistent view of
    it (``CountSeries`` copies a column before it changes a point that view holds).
    """

    def __init__(self, key: Any, position: int, url: str, options: WebOptions) -> None:
        self.key = key
        self.position = position
        self.label = source_label(url)
        self.feed = FrameFeed(options.jpeg_quality, options.max_fps)
        #: (index, time, detections or None, counts columns, counts end) of the source's last
        #: published frame
        self.latest: Optional[Tuple[int, float, Any, Any, int]] = None
        self.counts = CountSeries()
        #: how many frames were published when ``latest`` was set (changes tell a client to resend)
        self.version = 0


class MultiWebView(ServedApp):
    """A web page with every source of ``multi`` live (``MultiPlayer(web=PORT)`` starts one with
    ``run()`` and stops it at the end).

    Args:
        multi: the ``vistream.MultiPlayer`` to show.
        options: ``WebOptions`` (host, port, token, jpeg_quality, max_fps per source) or a port.

    Example::

        multi = vistream.MultiPlayer({"north": "rtsp://cam1/live", "south": "rtsp://cam2/live"},
                                     detector=PerSourceDetector(MotionDetector), realtime=True, web=8000)
        multi.run()   # open http://127.0.0.1:8000/ while it runs
    """

    def __init__(self, multi: Any, options: "WebOptions | int" = 8000) -> None:
        if not isinstance(options, WebOptions):
            options = WebOptions(port=options)
        super().__init__(options)
        self.multi = multi
        self._slots: List[_SourceSlot] = [
            _SourceSlot(key, position, url, options) for position, (key, url) in enumerate(multi._source_urls())]
        self._by_key: Dict[Any, _SourceSlot] = {slot.key: slot for slot in self._slots}

    # -- the consumer's side -------------------------------------------------------------------

    def publish(self, batch: List[Any]) -> None:
        """Hands a processed batch to the page (the MultiPlayer's consumer thread, after
        ``on_batch``: its drawings show). Copies pixels only for sources a client watches."""
        for item in batch:
            slot = self._by_key.get(item.source)
            if slot is None:
                continue
            pixels = item.array if slot.feed.wanted else None
            slot.feed.publish(pixels, item.index, item.time, None)
            detections = item.detections
            by_class = class_counts(detections) if detections is not None else {}
            columns, end = slot.counts.add(item.time, len(detections) if detections is not None else 0, by_class, {})
            slot.latest = (item.index, item.time, detections, columns, end)
            slot.version += 1

    # -- the served app ------------------------------------------------------------------------

    def feeds(self) -> List[FrameFeed]:
        return [slot.feed for slot in self._slots]

    def _routes(self) -> list:
        return _routes(self)

    # -- what the endpoints answer -------------------------------------------------------------

    def slot(self, position: int) -> _SourceSlot:
        if not 0 <= position < len(self._slots):
            raise KeyError(f"no source {position}: there are {len(self._slots)}")
        return self._slots[position]

    def sources(self) -> Dict[str, Any]:
        """The ``/api/sources`` JSON: the run and each source's state."""
        stats = self.multi.stats
        return {"running": not self.multi.stopping, "frames": stats.frames, "fps": round(stats.fps, 2),
                "batches": stats.batches, "elapsed": round(stats.elapsed, 2),
                "sources": [self._source_state(slot, stats) for slot in self._slots]}

    def source(self, position: int, with_detections: bool = True) -> Dict[str, Any]:
        """One source's state (``/api/sources/{n}``), with its current detections' rows and its
        counts over time (``series``: ``{"time", "total", "by_class"}``, the last
        ``SERIES_LENGTH`` frames)."""
        slot = self.slot(position)
        state = self._source_state(slot, self.multi.stats)
        if with_detections:
            message = self.detections_message(slot)
            state.update(detections=message["detections"], series=message["series"])
        return state

    @staticmethod
    def detections_message(slot: _SourceSlot) -> Dict[str, Any]:
        """The source's latest frame (``index``, ``time``), its detections' rows and its counts
        series up to it, all from one published frame."""
        latest = slot.latest
        if latest is None:
            return {"index": -1, "time": 0.0, "detections": [],
                    "series": {"time": [], "total": [], "by_class": {}}}
        index, time, detections, columns, end = latest
        series = series_json(columns, end, SERIES_LENGTH)
        del series["zones"]  # a MultiPlayer runs no zone plugins
        return {"index": index, "time": time, "series": series,
                "detections": detection_rows(detections) if detections is not None else []}

    def _source_state(self, slot: _SourceSlot, stats: Any) -> Dict[str, Any]:
        source = stats.sources[slot.key]
        latest = slot.latest
        detections = latest[2] if latest is not None else None
        return {
            "position": slot.position,
            "name": str(slot.key),
            "label": slot.label,
            "state": source.state,
            "index": latest[0] if latest is not None else -1,
            "time": latest[1] if latest is not None else 0.0,
            "frames": source.frames,
            "drops": source.drops,
            "reconnects": source.reconnects,
            "fps": round(slot.feed.fps(), 2),
            "latency_ms": round(source.latency * 1000.0, 1),
            "error": source.error,
            "count": len(detections) if detections is not None else 0,
            "counts": class_counts(detections) if detections is not None else {},
        }


def _routes(view: MultiWebView) -> list:
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    def error(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def position_of(params: Mapping[str, Any]) -> Optional[int]:
        try:
            position = int(params["n"])
            view.slot(position)
            return position
        except (KeyError, ValueError):
            return None

    async def index(request: Request) -> Response:
        page = static_file("multi.html")
        if page is None:
            return error("the page is not installed; the sources are at api/sources", 404)
        return FileResponse(page, headers={"cache-control": "no-cache"})

    async def sources(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(view.sources))

    async def source(request: Request) -> Response:
        position = position_of(request.path_params)
        if position is None:
            return error("no such source", 404)
        return JSONResponse(await run_in_threadpool(view.source, position))

    async def stop(request: Request) -> Response:
        await run_in_threadpool(view.multi.stop)
        return JSONResponse({"stopping": True})

    async def mjpeg(request: Request) -> Response:
        position = position_of(request.path_params)
        if position is None:
            return error("no such source", 404)
        return mjpeg_response(view.slot(position).feed)

    async def websocket(socket_: WebSocket) -> None:
        position = position_of(socket_.path_params)
        if position is None:
            await socket_.close(code=4404)
            return
        await socket_.accept()
        slot = view.slot(position)
        feed = slot.feed
        subscriber = feed.subscribe()

        async def send_json(message: Dict[str, Any]) -> None:
            subscriber.waiting = False  # a client that stopped reading blocks here: no encoding for it
            await socket_.send_text(json.dumps(message))
            feed.waiting_for_frame(subscriber)

        async def send_updates() -> None:
            sent = 0
            state_at = detections_at = 0.0
            detections_version = -1
            while not feed.closed:
                frame = feed.latest
                if frame is not None and frame.sequence > sent:
                    sent = frame.sequence
                    subscriber.waiting = False
                    await socket_.send_text(json.dumps(frame.header()))
                    await socket_.send_bytes(frame.jpeg)
                    feed.waiting_for_frame(subscriber)
                now = _time.monotonic()
                if now - state_at >= STATE_INTERVAL:
                    state_at = now
                    await send_json({"type": "state", **(await run_in_threadpool(view.source, position, False))})
                if slot.version != detections_version and now - detections_at >= DETECTIONS_INTERVAL:
                    detections_at, detections_version = now, slot.version
                    if slot.latest is not None:
                        message = await run_in_threadpool(view.detections_message, slot)
                        await send_json({"type": "detections", "index": message["index"], "time": message["time"],
                                         "rows": message["detections"], "series": message["series"]})
                subscriber.event.clear()
                if feed.latest is not None and feed.latest.sequence > sent:
                    continue
                try:
                    await asyncio.wait_for(subscriber.event.wait(), timeout=DETECTIONS_INTERVAL)
                except asyncio.TimeoutError:
                    pass

        async def receive() -> None:
            while True:  # the page sends nothing; this notices the client leaving
                await socket_.receive_text()

        tasks: list = []
        try:
            tasks = [asyncio.ensure_future(receive()), asyncio.ensure_future(send_updates())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            feed.unsubscribe(subscriber)
            try:
                await socket_.close()
            except Exception:  # noqa: BLE001 - already closed by the client or the server's shutdown
                pass

    return [
        Route("/", index),
        static_route(),
        Route("/api/sources", sources),
        Route("/api/sources/{n}", source),
        Route("/api/stop", stop, methods=["POST"]),
        Route("/stream/{n}.mjpg", mjpeg),
        WebSocketRoute("/ws/{n}", websocket),
    ]
