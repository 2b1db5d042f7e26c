"""``LiveSource``: one live stream through a config's pipeline, run in the background with
health checks: a long-running Ray actor (``ray.remote(LiveSource)``) or a plain object.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from typing import Any, Dict, Mapping, Optional

from ..pipeline_config import PipelineConfig
from ._store import OutputStore
from ._worker import SourceTask, output_names

#: states ``status()["state"]`` reports
STATES = ("created", "starting", "running", "finished", "stopped", "failed")


class LiveSource:
    """Runs ``pipeline`` over one (live) source until ``stop()``, in a background thread.

    Args:
        source: URL (rtsp://, srt://, udp://...) or file.
        pipeline: a ``PipelineConfig``, the path of its YAML file, or its dict.
        output_dir: directory or fsspec URL; the outputs (results JSONL, annotated video) are made
            in a local scratch folder and promoted under their final names when the run ends
            (stopped, or the stream ended), so they are always whole.
        key: the ``{key}`` of the name patterns (default: the source's stem).
        player_options: Player keywords over the config's ``player:`` (e.g. ``reconnect=True``,
            ``timeout=10``, ``mode="realtime"``).

    Example (a Ray actor per camera)::

        Camera = ray.remote(num_cpus=1, max_restarts=-1)(LiveSource)
        camera = Camera.remote("rtsp://cam1/stream", "pipeline.yaml", "s3://bucket/live")
        ray.get(camera.start.remote())
        ray.get(camera.status.remote())["state"]     # "running"
        result = ray.get(camera.stop.remote())       # a BatchResult
    """

    def __init__(self, source: str, pipeline: Any, output_dir: "str | os.PathLike[str]", *,
                 key: Optional[str] = None, player_options: Optional[Mapping[str, Any]] = None) -> None:
        from . import _load_config, source_keys

        self.config: PipelineConfig = _load_config(pipeline)
        self.source = source
        self.key = key or source_keys([source])[0]
        self.store = OutputStore(output_dir)
        self.player_options = dict(player_options or {})
        self._lock = threading.Lock()
        self._state = "created"
        self._error: Optional[str] = None
        self._player: Any = None
        self._frames = 0
        self._last_frame: Optional[float] = None
        self._started: Optional[float] = None
        self._outputs: tuple = ()
        self._thread: Optional[threading.Thread] = None
        self._stop_asked = False

    def start(self) -> None:
        """Starts the run in a background thread (returns at once; ``status()`` tells how it goes).
        Starting twice raises RuntimeError."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError(f"LiveSource {self.source!r} was started already (state {self._state})")
            self._state, self._started = "starting", time.monotonic()
            self._thread = threading.Thread(target=self._run, name=f"vistream-live-{self.key}", daemon=True)
            self._thread.start()

    def status(self) -> Dict[str, Any]:
        """The health check: ``state`` (one of ``STATES``), ``frames``, ``fps`` (since start),
        ``reconnects``, ``seconds_since_frame`` (None before the first frame), ``error``."""
        with self._lock:
            player, state, frames, error = self._player, self._state, self._frames, self._error
            last, started = self._last_frame, self._started
        now = time.monotonic()
        reconnects = 0
        if player is not None:
            try:
                reconnects = player.stats.reconnects
            except Exception:  # noqa: BLE001 - a health check must answer, whatever the player's state
                pass
        elapsed = now - started if started is not None else 0.0
        return {"source": self.source, "key": self.key, "state": state, "frames": frames,
                "fps": round(frames / elapsed, 2) if elapsed > 0 else 0.0, "reconnects": reconnects,
                "seconds_since_frame": None if last is None else round(now - last, 3), "error": error,
                "outputs": list(self._outputs)}

    def stop(self, timeout: float = 30.0):
        """Stops the run (the outputs are finalized and promoted) and returns its ``BatchResult``."""
        from . import BatchResult

        with self._lock:
            player, thread = self._player, self._thread
            self._stop_asked = True
            if thread is None or player is None:
                self._state = "stopped"
        if player is not None:
            player.stop()
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"LiveSource {self.source!r} did not stop within {timeout} s")
        with self._lock:
            return BatchResult(self.source, self._frames, tuple(self.store.url(n) for n in self._outputs),
                               self._error, False, self.key)

    def _on_frame(self, pipeline) -> Any:
        def callback(frame) -> None:
            pipeline(frame)
            with self._lock:
                self._frames += 1
                self._last_frame = time.monotonic()
                if self._state == "starting":
                    self._state = "running"
        return callback

    def _run(self) -> None:
        from ..player import Player

        task = SourceTask(self.source, self.key, 0, self.config, self.store)
        names = output_names(task)
        scratch = self.store.scratch_dir(self.key)
        pipeline = None
        try:
            options = {**self.config.player, **self.player_options}
            options.setdefault("display", False)
            player = Player(self.source, output=os.path.join(scratch, names["video"]) if names["video"] else None,
                            **options)
            with self._lock:
                self._player = player
                stopping = self._stop_asked
            if stopping:  # stop() came while the source was opening
                return
            pipeline = self.config.build_pipeline(player.info.fps, results=os.path.join(scratch, names["results"]))
            player.on_frame(self._on_frame(pipeline))
            player.run()
            pipeline.close()
            pipeline = None
            promoted = []
            for name in (names["video"], names["results"]):
                if name is not None and os.path.exists(os.path.join(scratch, name)):
                    self.store.promote(os.path.join(scratch, name), name)
                    promoted.append(name)
            with self._lock:
                self._outputs = tuple(promoted)
                # the stream ended on its own unless stop() was called
                self._state = "stopped" if self._stop_asked else "finished"
        except Exception as error:  # noqa: BLE001 - reported by status() and stop()
            if pipeline is not None:
                pipeline.close(error)
            with self._lock:
                self._state, self._error = "failed", f"{type(error).__name__}: {error}"
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

