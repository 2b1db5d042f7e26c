"""``WebOptions``: how ``Player(..., web=...)`` and ``Pipeline.serve`` serve the web view."""

from __future__ import annotations

import dataclasses
from typing import Optional

LOOPBACK = "127.0.0.1"


@dataclasses.dataclass(frozen=True)
class WebOptions:
    """Where and how the web view listens.

    Args:
        port: TCP port; 0 picks a free one (read it back from ``WebView.port``).
        host: address to bind. The default, loopback, is reachable from this machine only; any
            other address requires a token (one is generated and printed when none is given).
        token: the secret every request must carry (``?token=``, ``Authorization: Bearer``, or
            the ``vistream_token`` cookie the page gets). None: none on loopback, generated otherwise.
        jpeg_quality: JPEG quality of the frames sent to the browser (1-100).
        max_fps: at most this many frames per second are encoded for the browser (None: every
            frame the pipeline publishes).
    """

    port: int = 8000
    host: str = LOOPBACK
    token: Optional[str] = None
    jpeg_quality: int = 80
    max_fps: Optional[float] = None

    def __post_init__(self) -> None:
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise TypeError("port must be an int")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")
        if not isinstance(self.host, str) or not self.host:
            raise TypeError("host must be a non-empty str")
        if self.token is not None and (not isinstance(self.token, str) or not self.token):
            raise TypeError("token must be a non-empty str or None")
        if isinstance(self.jpeg_quality, bool) or not isinstance(self.jpeg_quality, int):
            raise TypeError("jpeg_quality must be an int")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in [1, 100], got {self.jpeg_quality}")
        if self.max_fps is not None and not (isinstance(self.max_fps, (int, float)) and self.max_fps > 0):
            raise ValueError("max_fps must be a positive number or None")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere, so it needs a token


def web_options_of(web: "int | WebOptions | None") -> Optional[WebOptions]:
    """A ``web=`` argument as ``WebOptions`` (None: no web view); a port alone serves on loopback."""
    if web is None or isinstance(web, WebOptions):
        return web
    if isinstance(web, bool) or not isinstance(web, int):
        raise TypeError(f"web must be a port (int) or vistream.web.WebOptions, got {type(web).__name__}")
    return WebOptions(port=web)
