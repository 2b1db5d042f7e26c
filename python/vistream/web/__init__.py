"""The web view: watch and steer a running Player/Pipeline from a browser (docs/web.md).

Needs the ``web`` extra (``pip install 'vistream[web]'``: starlette, uvicorn, websockets);
``import vistream`` never imports it.
"""

from __future__ import annotations

from .options import WebOptions

__all__ = ["WebOptions", "WebView"]


def __getattr__(name: str):
    if name == "WebView":  # starlette and uvicorn are imported when a view is built, not before
        from .server import WebView

        return WebView
    raise AttributeError(f"module 'vistream.web' has no attribute {name!r}")
