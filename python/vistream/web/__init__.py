"""The web view: watch and steer a running Player/Pipeline from a browser (docs/web.md).

Needs the ``web`` extra (``pip install 'vistream[web]'``: starlette, uvicorn, websockets);
``import vistream`` never imports it.
"""

from __future__ import annotations

from .options import WebOptions

__all__ = ["MultiWebView", "WebOptions", "WebView"]


def __getattr__(name: str):
    # starlette and uvicorn are imported when a view is built, not before
    if name == "WebView":
        from .server import WebView

        return WebView
    if name == "MultiWebView":
        from .multi_view import MultiWebView

        return MultiWebView
    raise AttributeError(f"module 'vistream.web' has no attribute {name!r}")
