"""Token authentication for every HTTP request and WebSocket handshake (pure ASGI middleware)."""

from __future__ import annotations

import hmac
import json
import secrets
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs

COOKIE = "vistream_token"

Scope = Dict[str, Any]
Receive = Callable[[], Awaitable[Dict[str, Any]]]
Send = Callable[[Dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def generate_token() -> str:
    """A fresh random token (URL-safe, 128 bits)."""
    return secrets.token_urlsafe(16)


def _header(scope: Scope, name: bytes) -> Optional[str]:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def presented_tokens(scope: Scope) -> List[Tuple[str, str]]:
    """The tokens a request carries, with where: ("query"|"bearer"|"cookie", token)."""
    found: List[Tuple[str, str]] = []
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    for value in query.get("token", ()):
        found.append(("query", value))
    authorization = _header(scope, b"authorization")
    if authorization and authorization[:7].lower() == "bearer ":
        found.append(("bearer", authorization[7:].strip()))
    cookie_header = _header(scope, b"cookie")
    if cookie_header:
        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(cookie_header)
        except Exception:  # noqa: BLE001 - a malformed cookie header carries no token
            cookies = SimpleCookie()
        if COOKIE in cookies:
            found.append(("cookie", cookies[COOKIE].value))
    return found


class TokenAuth:
    """Refuses every HTTP request and WebSocket handshake that lacks ``token`` (401).

    The token may come as ``?token=T``, ``Authorization: Bearer T`` or the ``vistream_token``
    cookie; a request authenticated by the query string gets the cookie set (so the page's own
    requests need no token in their URLs). Comparisons are constant-time.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    def _matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        matched = [where for where, value in presented_tokens(scope) if self._matches(value)]
        if not matched:
            if scope["type"] == "http":
                await _send_401(send)
            else:
                await _refuse_websocket(scope, receive, send)
            return
        if scope["type"] == "http" and "query" in matched and "cookie" not in matched:
            send = _with_cookie(send, self._token.decode())
        await self.app(scope, receive, send)


_UNAUTHORIZED = json.dumps({"error": "a token is required: add ?token=... to the URL printed at start"}).encode()


async def _send_401(send: Send) -> None:
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(_UNAUTHORIZED)).encode()),
                            (b"www-authenticate", b'Bearer realm="vistream"')]})
    await send({"type": "http.response.body", "body": _UNAUTHORIZED})


async def _refuse_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()  # websocket.connect
    if message.get("type") != "websocket.connect":
        return
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(_UNAUTHORIZED)).encode())]})
        await send({"type": "websocket.http.response.body", "body": _UNAUTHORIZED})
    else:  # a server without the extension refuses the handshake with 403
        await send({"type": "websocket.close", "code": 1008})


def _with_cookie(send: Send, token: str) -> Send:
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict".encode("latin-1")

    async def send_with_cookie(message: Dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = [*message.get("headers", ()), (b"set-cookie", cookie)]
        await send(message)

    return send_with_cookie


_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


def _host_name(value: str) -> str:
    """``host[:port]`` without the port (an IPv6 literal keeps its brackets)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class BrowserGuard:
    """What a token cannot cover on a loopback view without one, against other web sites in the
    user's own browser:

    - ``check_host``: the ``Host`` header must name loopback (a DNS-rebinding page reaches
      127.0.0.1 under its own name and would otherwise read the frames and drive the player);
    - a WebSocket handshake whose ``Origin`` is another site's is refused (cross-site WebSocket);
    - a POST must be ``Content-Type: application/json`` (a form or ``text/plain`` POST from
      another site needs no CORS preflight; JSON does, and the view answers none).

    Refusals are 403 (415 for the content type), before the app sees the request.
    """

    def __init__(self, app: ASGIApp, check_host: bool) -> None:
        self.app = app
        self.check_host = check_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host") or ""
        problem: Optional[Tuple[int, str]] = None
        if self.check_host and _host_name(host) not in _LOOPBACK_NAMES:
            problem = (403, f"Host {host!r} is not this machine's loopback address")
        elif scope["type"] == "websocket":
            origin = _header(scope, b"origin")
            if origin and origin.split("://", 1)[-1].rstrip("/").lower() != host.lower():
                problem = (403, f"WebSocket from another origin ({origin}) refused")
        elif scope.get("method") == "POST":
            content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
            if content_type != "application/json":
                problem = (415, "POST bodies are JSON: send Content-Type: application/json")
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, message = problem
        body = json.dumps({"error": message}).encode()
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        if (await receive()).get("type") != "websocket.connect":
            return
        if "websocket.http.response" in (scope.get("extensions") or {}):
            await send({"type": "websocket.http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})
