"""``WebView``: a Starlette app served by uvicorn on its own thread, showing and steering a Player."""

from __future__ import annotations

import asyncio
import json
import logging
import time as _time
from typing import Any, Dict, List, Optional

from .controls import ControlError, apply_control, player_state
from .feed import FrameFeed, publishing_callback
from .options import LOOPBACK, WebOptions
from .serving import ServedApp, mjpeg_response, run_in_threadpool, static_file, static_route

log = logging.getLogger("vistream.web")

# How often the WebSocket sends the state (at least) and the panels (at most), seconds.
STATE_INTERVAL = 0.5
PANELS_INTERVAL = 0.25

_PLACEHOLDER = """<!doctype html>
<html><head><meta charset="utf-8"><title>vistream</title></head>
<body style="font-family: sans-serif; background: #111; color: #ddd">
<h1>vistream</h1>
<p>The page is not installed; the live frames are at <a href="stream.mjpg">stream.mjpg</a>,
the state at <a href="api/state">api/state</a>.</p>
<img id="video" src="stream.mjpg" alt="live video" style="max-width: 100%">
</body></html>
"""


class WebView(ServedApp):
    """A web page showing ``player``'s annotated frames live, with its controls and the pipeline's panels.

    ``start()`` binds the port (``port=0``: a free one, see ``port``) and serves on a thread of its
    own; ``stop()`` returns once the port is closed and the server's threads are gone. Also a
    context manager. The Player's callback must publish its frames to ``feed`` (``Player(web=)``,
    ``Pipeline.serve`` and ``vistream serve`` do; ``install()`` does it for a Player you built).

    Args:
        player: the ``vistream.Player`` to show and control.
        pipeline: the ``Pipeline`` whose dashboard, tunables and highlight the page shows (optional).
        host / port / token / jpeg_quality / max_fps: see ``WebOptions``. A non-loopback ``host``
            always requires a token: without one, one is generated and printed with the URL.
    """

    def __init__(self, player: Any, pipeline: Any = None, *, host: str = LOOPBACK, port: int = 8000,
                 token: Optional[str] = None, jpeg_quality: int = 80, max_fps: Optional[float] = None) -> None:
        options = WebOptions(port=port, host=host, token=token, jpeg_quality=jpeg_quality, max_fps=max_fps)
        super().__init__(options)
        self.player = player
        self.pipeline = pipeline
        self.feed = FrameFeed(options.jpeg_quality, options.max_fps)
        self._info: Any = None

    @classmethod
    def from_options(cls, player: Any, options: "WebOptions | int", pipeline: Any = None) -> "WebView":
        if not isinstance(options, WebOptions):
            options = WebOptions(port=options)
        return cls(player, pipeline, host=options.host, port=options.port, token=options.token,
                   jpeg_quality=options.jpeg_quality, max_fps=options.max_fps)

    # -- wiring --------------------------------------------------------------------------------

    def install(self) -> None:
        """Makes ``player``'s callback publish each annotated frame to this view (after the
        callback already registered, e.g. the pipeline)."""
        core = self.player._core
        core.set_callback(publishing_callback(self.feed, getattr(self.player, "_callback", None), core.paused))

    # -- the served app -----------------------------------------------------------------------

    def feeds(self) -> List[FrameFeed]:
        return [self.feed]

    def _before_start(self) -> None:
        try:
            self._info = self.player.info
        except Exception:  # noqa: BLE001 - a player without info still serves frames
            self._info = None

    def _routes(self) -> list:
        return _routes(self)

    # -- the app -------------------------------------------------------------------------------

    def refresh_if_stale(self) -> None:
        """A client connected to a paused player whose frame on screen was published with no client
        (so not kept): the player re-shows that frame (a seek to its index, the callback runs on it
        again), so the client sees the frame the state names, not an older one."""
        latest, published = self.feed.latest, self.feed.published
        if not published or (latest is not None and latest.sequence >= published):
            return
        self.reshow_paused_frame()

    def reshow_paused_frame(self) -> None:
        """A paused player shows its frame again (a seek to its index: the pipeline runs on it once
        more), so a change that alters the drawing (a highlight, a parameter) shows at once rather
        than at the next frame; returns once that frame's JPEG is ready. Playing: nothing to do."""
        published = self.feed.published
        if not published or not self.player.paused:
            return
        try:
            self.player.seek(index=self.feed.last[0])
        except Exception as error:  # noqa: BLE001 - a live source cannot seek: the next frame shows it
            log.debug("could not re-show the paused frame: %s", error)
            return
        if self.feed.wait_for_publish(published, 2.0) and self.feed.wanted:
            self.feed.wait_for_encoded(self.feed.published, 2.0)  # the client's next frame is that one

    def state(self) -> Dict[str, Any]:
        return player_state(self.player, self.feed, self._info)

    def snapshot(self) -> Any:
        """The pipeline's latest ``DashboardSnapshot`` (None without a pipeline or before a frame)."""
        dashboard = getattr(self.pipeline, "dashboard", None)
        return dashboard() if callable(dashboard) else None

    def panels(self) -> Dict[str, Any]:
        snapshot = self.snapshot()
        return snapshot.to_json() if snapshot is not None else {}

    def params(self) -> list:
        tunables = getattr(self.pipeline, "tunables", None)
        return [value.to_json() for value in tunables()] if callable(tunables) else []


def _routes(view: WebView) -> list:
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    def error(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def json_body(request: Request) -> Any:
        try:
            return json.loads(await request.body() or b"null")
        except ValueError as bad:
            raise ControlError(f"the body is not JSON: {bad}") from None

    async def index(request: Request) -> Response:
        page = static_file("index.html")
        if page is not None:
            return FileResponse(page, headers={"cache-control": "no-cache"})
        return HTMLResponse(_PLACEHOLDER)

    async def state(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(view.state))

    async def control(request: Request) -> Response:
        try:
            message = await json_body(request)
            await run_in_threadpool(apply_control, view.player, view.feed, message)
        except (ControlError, ValueError, TypeError) as bad:
            return error(str(bad))
        except Exception as failed:  # noqa: BLE001 - e.g. SourceError: a live source cannot seek
            return error(str(failed), 409)
        return JSONResponse(await run_in_threadpool(view.state))

    async def panels(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(view.panels))

    async def params(request: Request) -> Response:
        if request.method == "POST":
            setter = getattr(view.pipeline, "set_tunable", None)
            if not callable(setter):
                return error("this view has no pipeline with tunable parameters", 404)
            try:
                body = await json_body(request)
                if not isinstance(body, dict) or not {"plugin", "name", "value"} <= body.keys():
                    raise ControlError("a parameter change is {\"plugin\", \"name\", \"value\"}")
                await run_in_threadpool(setter, body["plugin"], body["name"], body["value"])
            except (KeyError, ValueError, TypeError) as bad:
                return error(str(bad.args[0]) if isinstance(bad, KeyError) and bad.args else str(bad))
            await run_in_threadpool(view.reshow_paused_frame)  # paused: the frame re-inferred with it
        return JSONResponse(await run_in_threadpool(view.params))

    async def highlight(request: Request) -> Response:
        setter = getattr(view.pipeline, "highlight", None)
        if not callable(setter):
            return error("this view has no pipeline to highlight tracks in", 404)
        try:
            body = await json_body(request)
            track_id = body.get("track_id") if isinstance(body, dict) else None
            if track_id is not None and (isinstance(track_id, bool) or not isinstance(track_id, int)):
                raise ControlError("'track_id' must be an integer or null")
            await run_in_threadpool(setter, track_id)
        except (ValueError, TypeError) as bad:
            return error(str(bad))
        await run_in_threadpool(view.reshow_paused_frame)  # paused: the frame redrawn with it
        return JSONResponse({"highlighted": track_id})

    async def mjpeg(request: Request) -> Response:
        return mjpeg_response(view.feed, prepare=view.refresh_if_stale)

    async def websocket(socket_: WebSocket) -> None:
        await socket_.accept()
        subscriber = view.feed.subscribe()
        send_lock = asyncio.Lock()
        state_wanted = asyncio.Event()

        async def send_json(message: Dict[str, Any]) -> None:
            async with send_lock:
                subscriber.waiting = False  # a client that stopped reading blocks here too: no encoding for it
                await socket_.send_text(json.dumps(message))
                view.feed.waiting_for_frame(subscriber)

        async def receive_controls() -> None:
            while True:
                text = await socket_.receive_text()
                try:
                    await run_in_threadpool(apply_control, view.player, view.feed, json.loads(text))
                except Exception as bad:  # noqa: BLE001 - the client hears why, the socket stays open
                    await send_json({"type": "error", "error": str(bad)})
                state_wanted.set()
                subscriber.wake()

        async def send_updates() -> None:
            sent = 0
            last_state: Optional[Dict[str, Any]] = None
            last_snapshot: Any = None
            state_at = panels_at = 0.0
            while not view.feed.closed:
                frame = view.feed.latest
                if frame is not None and frame.sequence > sent:
                    sent = frame.sequence
                    subscriber.waiting = False
                    async with send_lock:  # the header and its JPEG stay together
                        await socket_.send_text(json.dumps(frame.header()))
                        await socket_.send_bytes(frame.jpeg)
                    view.feed.waiting_for_frame(subscriber)  # sent (not held up by a client that stopped reading)
                now = _time.monotonic()
                if state_wanted.is_set() or now - state_at >= STATE_INTERVAL:
                    state_wanted.clear()
                    current = await run_in_threadpool(view.state)
                    moved = {k: v for k, v in current.items() if k != "fps"}
                    if last_state is None or moved != last_state or now - state_at >= STATE_INTERVAL:
                        await send_json({"type": "state", **current})
                        last_state, state_at = moved, now
                if view.pipeline is not None and now - panels_at >= PANELS_INTERVAL:
                    panels_at = now
                    snapshot = view.snapshot()  # one reference read; immutable once published
                    if snapshot is not None and snapshot is not last_snapshot:  # paused: nothing new
                        last_snapshot = snapshot
                        await send_json({"type": "panels", **(await run_in_threadpool(snapshot.to_json))})
                subscriber.event.clear()
                if view.feed.latest is not None and view.feed.latest.sequence > sent:
                    continue
                try:
                    await asyncio.wait_for(subscriber.event.wait(), timeout=PANELS_INTERVAL)
                except asyncio.TimeoutError:
                    pass

        tasks: list = []
        try:
            await run_in_threadpool(view.refresh_if_stale)
            tasks = [asyncio.ensure_future(receive_controls()), asyncio.ensure_future(send_updates())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            view.feed.unsubscribe(subscriber)
            try:
                await socket_.close()
            except Exception:  # noqa: BLE001 - already closed by the client or the server's shutdown
                pass

    routes = [
        Route("/", index),
        static_route(),
        Route("/api/state", state),
        Route("/api/control", control, methods=["POST"]),
        Route("/api/panels", panels),
        Route("/api/params", params, methods=["GET", "POST"]),
        Route("/api/highlight", highlight, methods=["POST"]),
        Route("/stream.mjpg", mjpeg),
        WebSocketRoute("/ws", websocket),
    ]
    return routes
