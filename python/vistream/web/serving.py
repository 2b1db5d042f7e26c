"""``ServedApp``: the lifecycle every web view shares: a port bound at start, a Starlette app
served by uvicorn on a thread of its own, token/browser guards around it, a clean stop.

``WebView`` (one Player) and ``MultiWebView`` (a MultiPlayer's sources) build their own routes on
it; what they share (binding, threads, auth wrapping, the static files) lives here once.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time as _time
from pathlib import Path
from typing import Any, Callable, List, Optional

from .auth import BrowserGuard, TokenAuth, generate_token
from .feed import FrameFeed
from .options import LOOPBACK, WebOptions, is_loopback

log = logging.getLogger("vistream.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Threads for the blocking calls of the endpoints (controls, state, panels).
WORKER_THREADS = 4


def websocket_protocol() -> str:
    """uvicorn's maintained WebSocket implementation on top of the ``websockets`` package."""
    try:
        import uvicorn.protocols.websockets.websockets_sansio_impl  # noqa: F401
        return "websockets-sansio"
    except ImportError:  # uvicorn before 0.35
        return "websockets"


def bound_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(error.errno, f"the web view cannot listen on {host}:{port}: {error.strerror}") from None
    return sock  # not inheritable (Python's default): a child process never keeps the port open


def require_web_packages() -> None:
    missing = []
    for name in ("starlette", "uvicorn", "websockets"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(f"the web view needs {', '.join(missing)}: pip install 'vistream[web]'")


def static_file(name: str) -> Optional[Path]:
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


async def run_in_threadpool(function: Any, *args: Any) -> Any:
    """``function(*args)`` on the event loop's default executor (the server's bounded worker
    threads: asyncio.run() joins them when the server ends)."""
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


def mjpeg_response(feed: FrameFeed, prepare: Optional[Callable[[], None]] = None) -> Any:
    """A ``multipart/x-mixed-replace`` response streaming ``feed``'s newest JPEGs (a slow client
    skips frames). ``prepare()`` runs on a worker thread once the client is subscribed."""
    from starlette.responses import StreamingResponse

    boundary = "vistreamframe"

    async def parts():
        subscriber = feed.subscribe()
        try:
            if prepare is not None:
                await run_in_threadpool(prepare)
            sent = 0
            while True:
                frame = await feed.next_frame(subscriber, sent)
                if frame is None:
                    return
                sent = frame.sequence
                yield (f"--{boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame.jpeg)}\r\n"
                       f"X-Frame-Index: {frame.index}\r\n\r\n").encode() + frame.jpeg + b"\r\n"
        finally:
            feed.unsubscribe(subscriber)

    return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; boundary={boundary}",
                             headers={"cache-control": "no-cache, no-store"})


def static_route() -> Any:
    """``GET /static/<name>``: the files of the package's static folder, nothing outside it."""
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Route

    async def static(request: Any) -> Any:
        path = static_file(request.path_params["name"])
        if path is None:
            return JSONResponse({"error": "no such file"}, status_code=404)
        return FileResponse(path, headers={"cache-control": "no-cache"})

    return Route("/static/{name:path}", static)


class ServedApp:
    """Binds, serves and stops one Starlette app on a thread of its own.

    Subclasses give ``_routes()`` and the ``feeds()`` they publish to; the token and the
    loopback browser guard wrap every route. ``start()`` returns once the server accepts
    connections; ``stop()`` once the port is closed and the server's threads are gone.
    """

    def __init__(self, options: WebOptions) -> None:
        require_web_packages()
        self.host = options.host
        self.generated_token = options.token is None and not is_loopback(options.host)
        #: the token every request needs, None when none is needed (loopback without one)
        self.token: Optional[str] = generate_token() if self.generated_token else options.token
        self._requested_port = options.port
        self._port: Optional[int] = None
        self._server: Any = None
        self._thread: Optional[threading.Thread] = None
        self._socket: Optional[socket.socket] = None
        self._startup_error: Optional[BaseException] = None

    # -- what a view provides ------------------------------------------------------------------

    def feeds(self) -> List[FrameFeed]:
        """The frame feeds this view serves (started and closed with the server)."""
        raise NotImplementedError

    def _routes(self) -> list:
        raise NotImplementedError

    def _before_start(self) -> None:
        """Called by ``start()`` before the port is bound (e.g. to read what does not change)."""

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the free one picked for ``port=0``); known once started."""
        if self._port is None:
            raise RuntimeError(f"the {type(self).__name__} is not started")
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

    def start(self) -> "ServedApp":
        """Binds the port and starts serving; returns once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError(f"the {type(self).__name__} is already running")
        import uvicorn

        self._before_start()
        self._socket = bound_socket(self.host, self._requested_port)
        self._port = self._socket.getsockname()[1]
        # log_config=None: uvicorn leaves the application's logging setup alone
        config = uvicorn.Config(self._build_app(), log_config=None, log_level="warning", access_log=False, lifespan="off",
                                ws=websocket_protocol(), timeout_graceful_shutdown=2,
                                ws_ping_interval=10.0, ws_ping_timeout=10.0)
        self._server = uvicorn.Server(config)
        self._startup_error = None
        for feed in self.feeds():
            feed.start()
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
        for feed in self.feeds():
            feed.close()  # ends every stream and WebSocket sender
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join()
        self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> "ServedApp":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _build_app(self) -> Any:
        from starlette.applications import Starlette

        app = BrowserGuard(Starlette(routes=self._routes()), check_host=self.token is None and is_loopback(self.host))
        return TokenAuth(app, self.token) if self.token else app
