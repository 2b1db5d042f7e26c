"""``WebView``: a Starlette app served by uvicorn on its own thread, showing and steering a Player."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time as _time
from pathlib import Path
from typing import Any, Dict, Optional

from .controls import ControlError, apply_control, player_state
from .feed import FrameFeed, publishing_callback
from .options import LOOPBACK, WebOptions, is_loopback
from .auth import BrowserGuard, TokenAuth, generate_token

log = logging.getLogger("vistream.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"

# How often the WebSocket sends the state (at least) and the panels (at most), seconds.
STATE_INTERVAL = 0.5
PANELS_INTERVAL = 0.25
# Threads for the blocking calls of the endpoints (controls, state, panels).
WORKER_THREADS = 4

_PLACEHOLDER = """<!doctype html>
<html><head><meta charset="utf-8"><title>vistream</title></head>
<body style="font-family: sans-serif; background: #111; color: #ddd">
<h1>vistream</h1>
<p>The page is not installed; the live frames are at <a href="stream.mjpg">stream.mjpg</a>,
the state at <a href="api/state">api/state</a>.</p>
<img id="video" src="stream.mjpg" alt="live video" style="max-width: 100%">
</body></html>
"""


def _websocket_protocol() -> str:
    """uvicorn's maintained WebSocket implementation on top of the ``websockets`` package."""
    try:
        import uvicorn.protocols.websockets.websockets_sansio_impl  # noqa: F401
        return "websockets-sansio"
    except ImportError:  # uvicorn before 0.35
        return "websockets"


def _bound_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(error.errno, f"the web view cannot listen on {host}:{port}: {error.strerror}") from None
    return sock  # not inheritable (Python's default): a child process never keeps the port open


class WebView:
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
        _require_web_packages()
        options = WebOptions(port=port, host=host, token=token, jpeg_quality=jpeg_quality, max_fps=max_fps)
        self.player = player
        self.pipeline = pipeline
        self.host = options.host
        self.generated_token = options.token is None and not is_loopback(options.host)
        #: the token every request needs, None when none is needed (loopback without one)
        self.token: Optional[str] = generate_token() if self.generated_token else options.token
        self.feed = FrameFeed(options.jpeg_quality, options.max_fps)
        self._requested_port = options.port
        self._port: Optional[int] = None
        self._server: Any = None
        self._thread: Optional[threading.Thread] = None
        self._socket: Optional[socket.socket] = None
        self._startup_error: Optional[BaseException] = None
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

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the free one picked for ``port=0``); known once started."""
        if self._port is None:
            raise RuntimeError("the WebView is not started")
        return self._port

    @property
    def url(self) -> str:
        """The page's address (with ``?token=`` when a token is required)."""
        host = self.host
        if host in ("0.0.0.0", "::"):
            host = socket.gethostname()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> "WebView":
        """Binds the port and starts serving; returns once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the WebView is already running")
        import uvicorn

        try:
            self._info = self.player.info
        except Exception:  # noqa: BLE001 - a player without info still serves frames
            self._info = None
        self._socket = _bound_socket(self.host, self._requested_port)
        self._port = self._socket.getsockname()[1]
        # log_config=None: uvicorn leaves the application's logging setup alone
        config = uvicorn.Config(self._build_app(), log_config=None, log_level="warning", access_log=False, lifespan="off",
                                ws=_websocket_protocol(), timeout_graceful_shutdown=2,
                                ws_ping_interval=10.0, ws_ping_timeout=10.0)
        self._server = uvicorn.Server(config)
        self._startup_error = None
        self.feed.start()
        self._thread = threading.Thread(target=self._serve, name="vistream-web", daemon=True)
        self._thread.start()
        deadline = _time.monotonic() + 10.0
        while not self._server.started and self._thread.is_alive() and _time.monotonic() < deadline:
            _time.sleep(0.01)
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"the web server did not start on {self.host}:{self._port}: {self._startup_error}")
        if self.generated_token:
            # the user cannot open the page without it: said at WARNING, shown even without logging set up
            log.warning("web view at %s (token generated for the non-loopback host %s)", self.url, self.host)
        return self

    async def _serve_forever(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        # Blocking work (player calls, a step's wait) runs on a few named threads of the loop's
        # default executor: bounded however many clients come and go, joined when asyncio.run ends.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="vistream-web-worker"))
        await self._server.serve(sockets=[self._socket])

    def _serve(self) -> None:
        try:
            asyncio.run(self._serve_forever())
        except BaseException as error:  # noqa: BLE001 - reported by start()/logged, never lost silently
            self._startup_error = error
            log.error("web server failed: %s", error)

    def stop(self) -> None:
        """Stops serving: clients are disconnected, the port is closed and the threads are gone."""
        if self._thread is None:
            return
        self.feed.close()  # ends every stream and WebSocket sender
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join()
        self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> "WebView":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- the app -------------------------------------------------------------------------------

    def refresh_if_stale(self) -> None:
        """A client connected to a paused player whose frame on screen was published with no client
        (so not kept): the player re-shows that frame (a seek to its index, the callback runs on it
        again), so the client sees the frame the state names, not an older one."""
        latest, published = self.feed.latest, self.feed.published
        if not published or (latest is not None and latest.sequence >= published) or not self.player.paused:
            return
        try:
            self.player.seek(index=self.feed.last[0])
        except Exception as error:  # noqa: BLE001 - a live source cannot seek: the client waits for the next frame
            log.debug("could not re-show the paused frame: %s", error)
            return
        if self.feed.wait_for_publish(published, 2.0):
            self.feed.wait_for_encoded(self.feed.published, 2.0)  # the client's first frame is that one

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

    def _build_app(self) -> Any:
        app = BrowserGuard(_build_app(self), check_host=self.token is None and is_loopback(self.host))
        return TokenAuth(app, self.token) if self.token else app


def _require_web_packages() -> None:
    missing = []
    for name in ("starlette", "uvicorn", "websockets"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(f"the web view needs {', '.join(missing)}: pip install 'vistream[web]'")


def _static_file(name: str) -> Optional[Path]:
    """The file ``name`` of the static directory; None for anything outside it (``..``, links out)."""
    if not name or "\x00" in name or name.startswith(("/", "\\")):
        return None
    try:
        path = (STATIC_DIR / name).resolve()
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(STATIC_DIR) or not path.is_file():
        return None
    return path


def _build_app(view: WebView) -> Any:
    from starlette.applications import Starlette

    async def run_in_threadpool(function: Any, *args: Any) -> Any:
        # the event loop's default executor: asyncio.run() joins its threads when the server ends
        return await asyncio.get_running_loop().run_in_executor(None, function, *args)
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
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
        page = _static_file("index.html")
        if page is not None:
            return FileResponse(page, headers={"cache-control": "no-cache"})
        return HTMLResponse(_PLACEHOLDER)

    async def static(request: Request) -> Response:
        path = _static_file(request.path_params["name"])
        if path is None:
            return error("no such file", 404)
        return FileResponse(path, headers={"cache-control": "no-cache"})

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
        return JSONResponse({"highlighted": track_id})

    async def mjpeg(request: Request) -> Response:
        boundary = "vistreamframe"

        async def parts():
            subscriber = view.feed.subscribe()
            try:
                await run_in_threadpool(view.refresh_if_stale)
                sent = 0
                while True:
                    frame = await view.feed.next_frame(subscriber, sent)
                    if frame is None:
                        return
                    sent = frame.sequence
                    yield (f"--{boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame.jpeg)}\r\n"
                           f"X-Frame-Index: {frame.index}\r\n\r\n").encode() + frame.jpeg + b"\r\n"
            finally:
                view.feed.unsubscribe(subscriber)

        return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; boundary={boundary}",
                                 headers={"cache-control": "no-cache, no-store"})

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
        Route("/static/{name:path}", static),
        Route("/api/state", state),
        Route("/api/control", control, methods=["POST"]),
        Route("/api/panels", panels),
        Route("/api/params", params, methods=["GET", "POST"]),
        Route("/api/highlight", highlight, methods=["POST"]),
        Route("/stream.mjpg", mjpeg),
        WebSocketRoute("/ws", websocket),
    ]
    return Starlette(routes=routes)
