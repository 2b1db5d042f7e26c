"""Live sources that drop and come back: the events ``Reader``/``Player`` report while reconnecting.

A live source (a network URL or a capture device) that fails to read, stalls past its read
timeout or ends is reopened with exponential backoff (``reconnect=`` and the ``reconnect_*``
keywords of ``Reader``/``Player``; see "Live sources: reconnect" in docs/api.md). Three
keywords take a callable that gets one ``ConnectionEvent``:

- ``on_disconnect``: the source was lost (``reason`` says why); reconnecting starts.
- ``on_error``: one reconnect attempt failed (``reason`` is its error, ``attempt`` its number).
- ``on_reconnect``: the source delivers again (``attempt``: how many it took, ``downtime``).

They run on the thread that met the event: the one iterating a Reader, the Player's source
thread (not the ``on_frame`` thread; keep them short, ``player.stop()`` is fine). An exception
raised in one ends the iteration or ``run()`` with that exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional


@dataclass(frozen=True)
class ConnectionEvent:
    """A live source lost, a reconnect attempt failed, or the source restored."""

    #: "disconnect", "error" or "reconnect"
    kind: str
    #: why the source was lost ("disconnect", "reconnect") or why the attempt failed ("error")
    reason: str
    #: attempt number within this outage (1-based; 0 for "disconnect")
    attempt: int
    #: seconds since the source was lost
    downtime: float
    #: "reconnect": frames the source would have sent meanwhile (downtime x frame rate, an estimate)
    frames_lost: int = 0


ConnectionCallback = Callable[[ConnectionEvent], object]


def connection_dispatcher(on_disconnect: Optional[ConnectionCallback], on_reconnect: Optional[ConnectionCallback],
                          on_error: Optional[ConnectionCallback]) -> Optional[Callable[..., None]]:
    """The one callable the engine calls (kind, reason, attempt, downtime, frames_lost), or None
    when no event keyword was given. TypeError when one is not callable."""
    handlers: Dict[str, ConnectionCallback] = {}
    for kind, name, callback in (("disconnect", "on_disconnect", on_disconnect),
                                 ("reconnect", "on_reconnect", on_reconnect), ("error", "on_error", on_error)):
        if callback is None:
            continue
        if not callable(callback):
            raise TypeError(f"{name} must be a callable taking a ConnectionEvent, not {type(callback).__name__}")
        handlers[kind] = callback
    if not handlers:
        return None

    def dispatch(kind: str, reason: str, attempt: int, downtime: float, frames_lost: int) -> None:
        handler = handlers.get(kind)
        if handler is not None:
            handler(ConnectionEvent(kind, reason, attempt, downtime, frames_lost))

    return dispatch


__all__ = ["ConnectionEvent", "ConnectionCallback"]
