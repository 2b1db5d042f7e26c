"""FFmpeg's log, forwarded to the Python logger ``vistream.ffmpeg``.

The engine queues FFmpeg's messages and hands them to ``logging`` on the calling thread, so
handlers never run on FFmpeg's worker threads. Messages less severe than the logger's level
are dropped inside the engine (no cost per message)::

    vistream.set_log_level(logging.INFO)   # e.g. to see which encoder was chosen
"""

from __future__ import annotations

import logging

from . import _core

logger = logging.getLogger("vistream.ffmpeg")

# Python logging level -> FFmpeg AV_LOG_* level.
_AV_LEVELS = [(logging.DEBUG, 48), (logging.INFO, 32), (logging.WARNING, 24), (logging.ERROR, 16), (logging.CRITICAL, 8)]


def set_log_level(level: int | str) -> None:
    """Sets the level of the ``vistream.ffmpeg`` logger and of FFmpeg's own filtering.

    Example::

        vistream.set_log_level("DEBUG")
    """
    if isinstance(level, str):
        numeric = logging.getLevelName(level.upper())
        if not isinstance(numeric, int):
            raise ValueError(f"unknown log level {level!r}")
        level = numeric
    logger.setLevel(level)
    av_level = 48
    for py_level, av in _AV_LEVELS:
        if level >= py_level:
            av_level = av
    _core.set_av_log_level(av_level)


def sync_level() -> None:
    """Matches FFmpeg's filtering to the logger's effective level (called when opening sources)."""
    effective = logger.getEffectiveLevel()
    av_level = 48
    for py_level, av in _AV_LEVELS:
        if effective >= py_level:
            av_level = av
    _core.set_av_log_level(av_level)

# A library does not print on its own: without logging configured by the application,
# FFmpeg's messages are dropped (errors still reach the caller as exceptions with FFmpeg's text).
logging.getLogger("vistream").addHandler(logging.NullHandler())
