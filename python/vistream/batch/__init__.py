"""``vistream.batch``: a pipeline over many files, on a process pool (the default) or a Ray
cluster, resumable. See docs/batch.md.

Example::

    from vistream import batch

    results = batch.run(["a.mp4", "b.mp4"], pipeline="pipeline.yaml", output_dir="out")
    for result in results:
        print(result.source, result.frames, result.outputs, result.error)

The output directory gets, per source, the config's ``results`` (JSONL) and ``outputs``
(annotated video) files, plus ``manifest.json`` (every source's status, frames and files) and
``results.parquet`` (every detection of every finished source, with a ``source`` column).
A re-run skips the sources the manifest lists as done with the same config and an unchanged
source file, and redoes the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import IO, Dict, List, Optional, Sequence, Tuple, Union

from .._output_file import is_url
from ..errors import VistreamError
from ..pipeline_config import PipelineConfig, pattern_fields
from ._pool import Events, run_pool
from ._store import OutputStore
from ._worker import SourceOutcome, SourceTask, run_source

MANIFEST = "manifest.json"
#: seconds between rewrites of the manifest while a batch runs (also written when it ends)
MANIFEST_INTERVAL = 1.0
PARQUET = "results.parquet"
_MANIFEST_VERSION = 1
_log = logging.getLogger("vistream.batch")


@dataclass(frozen=True)
class BatchResult:
    """What became of one source (``run`` returns one per source, in the sources' order; the
    same for the process pool and Ray)."""

    #: the source as given (local paths made absolute)
    source: str
    #: frames processed (0 when it failed)
    frames: int
    #: paths or URLs of the files written for it: the annotated video (if any), the results JSONL
    outputs: Tuple[str, ...]
    #: None, or "ErrorType: message" of what stopped it (a crashed worker: "WorkerCrashedError: ...")
    error: Optional[str] = None
    #: True when it was done by an earlier run (found in the manifest) and not redone
    skipped: bool = False
    #: its name in the output directory (``{key}`` of the name patterns)
    key: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


class BatchError(VistreamError, ValueError):
    """A batch that cannot start: no sources, a source given twice, an output directory that
    another ``vistream batch`` is writing."""


def machine_cores() -> int:
    """Cores this process may use (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def plan_workers(sources: int, workers: Optional[int] = None, threads: Optional[int] = None,
                 cores: Optional[int] = None) -> Tuple[int, int]:
    """``(workers, decoder threads per worker)`` for ``sources`` sources on ``cores`` cores.

    The rule: ``workers × threads ≤ cores``. By default there are as many workers as cores
    (never more than there are sources) and the cores left over are shared out as decoder
    threads: one source per core scales best, since a decoder's own threads do not scale as
    well as separate sources. ``workers`` given: ``threads = cores // workers`` (at least 1);
    ``threads`` given: ``workers = cores // threads`` (at least 1). Both given: used as given
    (a warning when they oversubscribe the cores).
    """
    cores = cores or machine_cores()
    sources = max(1, sources)
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1 (or None: sized to the machine), got {workers}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 (or None: sized to the machine), got {threads}")
    if workers is None and threads is None:
        workers = min(cores, sources)
        return workers, max(1, cores // workers)
    if workers is None:
        return max(1, min(sources, cores // threads)), threads
    if threads is None:
        return workers, max(1, cores // workers)
    if workers * threads > cores:
        _log.warning("%d workers x %d threads oversubscribe the %d cores", workers, threads, cores)
    return workers, threads


def source_keys(sources: Sequence[str]) -> List[str]:
    """Each source's name in the output directory: its file stem, or, when two sources share a
    stem, the stem and a hash of the source (so keys never depend on the order given)."""
    stems = [_safe(pattern_fields(source, "", i)["stem"]) for i, source in enumerate(sources)]
    counts: Dict[str, int] = {}
    for stem in stems:
        counts[stem] = counts.get(stem, 0) + 1
    return [stem if counts[stem] == 1 else f"{stem}-{hashlib.sha1(source.encode()).hexdigest()[:8]}"
            for stem, source in zip(stems, sources)]


def _safe(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip(".")
    return cleaned or "source"


def _source_fingerprint(source: str) -> Optional[List[int]]:
    """Size and mtime of a local file (a changed file is redone); None for URLs."""
    if is_url(source):
        return None
    try:
        stat = os.stat(source)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


class _Bookkeeping(Events):
    """The driver's side: the manifest (rewritten atomically as sources start and finish) and
    the progress display."""

    def __init__(self, store: OutputStore, manifest: dict, config: PipelineConfig,
                 shown: Optional["_Progress"]) -> None:
        self.store = store
        self.manifest = manifest
        self.config = config
        self.shown = shown
        self.outcomes: Dict[int, Tuple[Optional[SourceOutcome], Optional[str]]] = {}
        self._saved = 0.0
        self._dirty = False

    def _entry(self, task: SourceTask) -> dict:
        return self.manifest["sources"].setdefault(task.source, {"key": task.key})

    def _save(self, force: bool = False) -> None:
        # At most once a second: the manifest holds every source, and rewriting it whole after each
        # of thousands of short sources would cost more than the sources. A source finished but not
        # yet saved when the driver is killed is merely redone.
        self._dirty = True
        if force or time.monotonic() - self._saved >= MANIFEST_INTERVAL:
            self.manifest["updated"] = time.time()
            self.store.write_json(MANIFEST, self.manifest)
            self._saved, self._dirty = time.monotonic(), False

    def tick(self) -> None:
        if self._dirty:
            self._save()

    def started(self, task: SourceTask) -> None:
        self._entry(task).update(status="running", key=task.key, error=None)
        self._save()
        if self.shown is not None:
            self.shown.started(task)

    def progress(self, task: SourceTask, frames: int, total: Optional[int]) -> None:
        if self.shown is not None:
            self.shown.frames(task, frames, total)

    def finished(self, task: SourceTask, outcome: SourceOutcome) -> None:
        self.outcomes[task.index] = (outcome, None)
        self._entry(task).update(status="done", key=task.key, frames=outcome.frames, outputs=list(outcome.outputs),
                                 error=None, config=self.config.fingerprint(),
                                 source_fingerprint=_source_fingerprint(task.source), finished=time.time(),
                                 seconds=round(outcome.seconds, 3))
        self._save()
        if self.shown is not None:
            self.shown.finished(task, outcome.frames, None)

    def failed(self, task: SourceTask, error: str) -> None:
        self.outcomes[task.index] = (None, error)
        self._entry(task).update(status="failed", key=task.key, frames=0, outputs=[], error=error,
                                 finished=time.time())
        self._save()
        if self.shown is not None:
            self.shown.finished(task, 0, error)

    def retrying(self, task: SourceTask, error: str) -> None:
        _log.warning("%s: %s; retrying it", task.source, error)


class _Progress:
    """Progress over all sources: a tqdm bar of frames on a terminal (sources done / running /
    failed beside it), else a line every few seconds."""

    LINE_INTERVAL = 5.0

    def __init__(self, total_sources: int, skipped: int, stream: Optional[IO[str]] = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total_sources = total_sources
        self.done = skipped
        self.failed = 0
        self.running: Dict[int, Tuple[int, Optional[int]]] = {}
        self.frames_done = 0
        self.frames_total = 0
        self._finished_frames = 0
        self._finished_total = 0
        self._terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar = None
        self._last_line = 0.0
        self._started = time.monotonic()
        if self._terminal:
            from tqdm import tqdm

            from .._progress import _terminal_columns

            # a terminal that reports no size gets no bar from tqdm: assume 80x24 there (as `play`)
            sized = _terminal_columns(self.stream) > 0
            self._bar = tqdm(total=None, unit="frame", file=self.stream, desc="vistream batch", leave=True,
                             dynamic_ncols=sized, ncols=None if sized else 80, nrows=None if sized else 24)

    def started(self, task: SourceTask) -> None:
        self.running[task.index] = (0, None)
        self._show()

    def frames(self, task: SourceTask, frames: int, total: Optional[int]) -> None:
        self.running[task.index] = (frames, total)
        self._show()

    def finished(self, task: SourceTask, frames: int, error: Optional[str]) -> None:
        _, total = self.running.pop(task.index, (0, None))
        self._finished_frames += frames
        self._finished_total += frames or total or 0
        if error is None:
            self.done += 1
        else:
            self.failed += 1
            print(f"vistream batch: {task.source}: failed: {error}", file=self.stream, flush=True)
        self._show(force=True)

    def _counts(self) -> Tuple[int, int]:
        done = self._finished_frames + sum(frames for frames, _ in self.running.values())
        known = self._finished_total + sum(total or frames for frames, total in self.running.values())
        return done, known

    def _status(self) -> str:
        return (f"sources {self.done}/{self.total_sources} done, {len(self.running)} running, "
                f"{self.failed} failed")

    def _show(self, force: bool = False) -> None:
        done, known = self._counts()
        if self._bar is not None:
            self._bar.total = known or None
            self._bar.n = done
            self._bar.set_postfix_str(self._status(), refresh=False)
            self._bar.refresh()
            return
        now = time.monotonic()
        if force or now - self._last_line >= self.LINE_INTERVAL:
            self._last_line = now
            elapsed = max(now - self._started, 1e-6)
            print(f"vistream batch: {self._status()}; frames {done}/{known} of the sources started, "
                  f"{done / elapsed:.1f} fps", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._show()
            self._bar.close()


def _load_config(pipeline: "PipelineConfig | str | os.PathLike[str] | dict | None") -> PipelineConfig:
    if isinstance(pipeline, PipelineConfig):
        return pipeline
    if pipeline is None:
        return PipelineConfig()
    if isinstance(pipeline, dict):
        return PipelineConfig.from_dict(pipeline)
    return PipelineConfig.from_yaml(pipeline)


def _lock(store: OutputStore) -> Optional[IO[str]]:
    """An exclusive lock on a local output directory for the run (released when the process
    ends, also by SIGKILL): two batches writing one directory would redo each other's work."""
    if not store.is_local:
        return None
    import fcntl  # POSIX; imported here so that importing vistream does not need it

    handle = open(os.path.join(store.location, ".vistream-batch.lock"), "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise BatchError(f"{store.location}: another vistream batch is writing this directory") from None
    return handle


def _done_before(entry: Optional[dict], source: str, config: PipelineConfig, store: OutputStore) -> bool:
    if not entry or entry.get("status") != "done":
        return False
    if entry.get("config") != config.fingerprint():
        return False
    if entry.get("source_fingerprint") != _source_fingerprint(source):
        return False
    return all(store.exists(name) for name in entry.get("outputs", ()))


def run(sources: Sequence["str | os.PathLike[str]"], pipeline: "PipelineConfig | str | os.PathLike[str] | dict | None" = None,
        output_dir: "str | os.PathLike[str]" = "batch-output", *, workers: Optional[int] = None,
        threads: Optional[int] = None, ray: Union[bool, str] = False, num_cpus: float = 1, num_gpus: float = 0,
        max_retries: int = 1, progress: Optional[bool] = None, parquet: bool = True,
        ray_runtime_env: Optional[dict] = None) -> List[BatchResult]:
    """Runs ``pipeline`` over every source, one source per task; returns one ``BatchResult`` per
    source, in the sources' order (the config's own ``sources`` first).

    Args:
        sources: files or URLs (local paths are made absolute).
        pipeline: a ``PipelineConfig``, the path of its YAML file, or its dict.
        output_dir: local directory or fsspec URL (``file://``, ``s3://``...; not ``memory://``
            with worker processes: each process has its own memory) for the per-source files,
            ``manifest.json`` and ``results.parquet``.
        workers: worker processes; None: sized to the machine (``plan_workers``); 0: every
            source in this process, one after the other (no pool; a debugger's friend).
        threads: decoder threads per source (None: ``plan_workers``'s, or the config's
            ``player.threads``).
        ray: False: the process pool. True: Ray (the runtime already initialised, else
            ``RAY_ADDRESS``'s cluster or a new local one); a string: a cluster address
            (``"ray://head:10001"``, ``"auto"``). One Ray task per source with ``num_cpus``/
            ``num_gpus``; a task whose worker dies is retried ``max_retries`` times.
        max_retries: retries of a source whose worker process died (pool and Ray); a Python
            exception in the pipeline is recorded in ``BatchResult.error``, not retried.
        progress: show progress on stderr (None: unless logging is quieter than WARNING).
        parquet: write ``results.parquet`` (needs pyarrow).

    A failing source never stops the others. Interrupted (Ctrl-C, SIGTERM in the CLI), the run
    stops its workers, keeps what finished (listed in the manifest) and re-raises; running
    sources leave no file under a final name. Raises ``BatchError`` when it cannot start,
    ``PipelineConfigError`` for a bad config.
    """
    config = _load_config(pipeline)
    given = [os.fspath(s) for s in (*config.sources, *sources)]
    if not given:
        raise BatchError("no sources: give files or URLs (or list them under sources: in the config)")
    resolved = [s if is_url(s) else os.path.abspath(os.path.expanduser(s)) for s in given]
    seen: Dict[str, int] = {}
    for source in resolved:
        if source in seen:
            raise BatchError(f"{source} is given twice")
        seen[source] = 1
    keys = source_keys(resolved)
    names = {config.output_name(p, s, k, i) for i, (s, k) in enumerate(zip(resolved, keys))
             for p in ((config.results,) + ((config.outputs,) if config.outputs else ()))}
    if len(names) < len(resolved) * (2 if config.outputs else 1):
        raise BatchError("two sources get the same output file name: use {key} (unique per source) in the "
                         "outputs/results patterns")
    store = OutputStore(output_dir)
    store.create()
    lock = _lock(store)
    try:
        return _run_locked(config, resolved, keys, store, workers=workers, threads=threads, ray=ray,
                           num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries, progress=progress,
                           parquet=parquet, ray_runtime_env=ray_runtime_env)
    finally:
        if lock is not None:
            lock.close()


def _run_locked(config: PipelineConfig, sources: List[str], keys: List[str], store: OutputStore, *,
                workers: Optional[int], threads: Optional[int], ray: Union[bool, str], num_cpus: float,
                num_gpus: float, max_retries: int, progress: Optional[bool], parquet: bool,
                ray_runtime_env: Optional[dict]) -> List[BatchResult]:
    text = store.read_text(MANIFEST)
    manifest: dict = json.loads(text) if text else {}
    if manifest.get("version") != _MANIFEST_VERSION:
        manifest = {"version": _MANIFEST_VERSION, "sources": {}}
    store.clear_scratch()
    skipped: Dict[int, BatchResult] = {}
    tasks: List[SourceTask] = []
    todo = [i for i, source in enumerate(sources)
            if not _done_before(manifest["sources"].get(source), source, config, store)]
    planned_workers, planned_threads = plan_workers(len(todo), workers or None, threads)
    if threads is None and "threads" in config.player:
        planned_threads = None  # the config's player.threads
    for i, (source, key) in enumerate(zip(sources, keys)):
        if i not in todo:
            entry = manifest["sources"][source]
            skipped[i] = BatchResult(source, int(entry["frames"]), tuple(store.url(n) for n in entry["outputs"]),
                                     None, True, key)
        else:
            tasks.append(SourceTask(source, key, i, config, store, planned_threads))
    if progress is None:
        progress = _log.getEffectiveLevel() <= logging.WARNING
    shown = _Progress(len(sources), len(skipped)) if progress else None
    book = _Bookkeeping(store, manifest, config, shown)
    if skipped and shown is not None:
        print(f"vistream batch: {len(skipped)} of {len(sources)} sources done by an earlier run: skipped",
              file=shown.stream, flush=True)
    try:
        if not tasks:
            pass
        elif ray:
            from ._ray import run_ray

            run_ray(tasks, book, address=ray, num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries,
                    runtime_env=ray_runtime_env)
        elif workers == 0:
            for task in tasks:
                book.started(task)
                try:
                    outcome = run_source(task, lambda f, t, task=task: book.progress(task, f, t))
                except Exception as error:  # noqa: BLE001 - recorded for this source, the others go on
                    book.failed(task, f"{type(error).__name__}: {error}")
                else:
                    book.finished(task, outcome)
        else:
            run_pool(tasks, planned_workers, book, max_retries=max_retries)
    finally:
        # what was running when an interrupt came is not done: the manifest must not say "running"
        for entry in manifest["sources"].values():
            if entry.get("status") == "running":
                entry["status"] = "interrupted"
        store.write_json(MANIFEST, {**manifest, "updated": time.time()})
        if shown is not None:
            shown.close()
    results: List[BatchResult] = []
    for i, (source, key) in enumerate(zip(sources, keys)):
        if i in skipped:
            results.append(skipped[i])
            continue
        outcome, error = book.outcomes.get(i, (None, "not run"))
        if outcome is None:
            results.append(BatchResult(source, 0, (), error, False, key))
        else:
            results.append(BatchResult(source, outcome.frames, tuple(store.url(n) for n in outcome.outputs),
                                       None, False, key))
    if parquet:
        _write_parquet(store, config, results)
    return results


def _write_parquet(store: OutputStore, config: PipelineConfig, results: Sequence[BatchResult]) -> None:
    from ._table import write_results_table

    try:
        write_results_table(store, config, results, PARQUET)
    except ImportError:
        _log.warning("%s not written: it needs pyarrow (pip install 'vistream[batch]')", store.url(PARQUET))


from .live import LiveSource  # noqa: E402

__all__ = ["run", "BatchResult", "LiveSource", "BatchError", "plan_workers", "machine_cores", "source_keys", "MANIFEST", "PARQUET"]
