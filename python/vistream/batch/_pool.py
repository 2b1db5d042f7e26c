"""The process pool of ``vistream.batch.run``: N long-lived worker processes (``spawn``), one
source per task, each worker connected to the driver by its own pipe.

Why not ``concurrent.futures.ProcessPoolExecutor``: a worker that dies (a crash in a decoder, the
OOM killer) breaks that pool as a whole and every pending future fails with it, without saying
which source was running. Here the driver knows which task each worker holds: a dead worker's
source is retried (``max_retries``) or recorded as failed, a new worker takes its place, and the
other sources go on. Stopping is explicit too: the driver sends SIGTERM to its workers, which
abandon their source (nothing promoted) and exit.

Workers ignore SIGINT (a terminal's Ctrl-C reaches the whole process group: the driver decides)
and ask Linux to send them SIGKILL when the driver dies (``PR_SET_PDEATHSIG``), so a killed
driver leaves no worker writing into the output directory.
"""

from __future__ import annotations

import collections
import ctypes
import multiprocessing
import os
import signal
import sys
import traceback
from multiprocessing.connection import Connection, wait
from typing import Any, Deque, Dict, List, Optional, Sequence

from ._worker import SourceTask, run_source

#: seconds the driver waits for stopped workers before killing them
STOP_TIMEOUT = 10.0


class Events:
    """What the pool tells its caller (the driver's bookkeeping); all calls on the driver's thread."""

    def started(self, task: SourceTask) -> None: ...

    def progress(self, task: SourceTask, frames: int, total: Optional[int]) -> None: ...

    def finished(self, task: SourceTask, outcome: Any) -> None: ...

    def failed(self, task: SourceTask, error: str) -> None: ...

    def retrying(self, task: SourceTask, error: str) -> None: ...

    def tick(self) -> None:
        """Called about once a second (deferred bookkeeping)."""


class _Stop(BaseException):
    """SIGTERM in a worker: abandon the source (its scratch is removed, nothing promoted)."""


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _worker_main(connection: Connection) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def stop(signum, frame):
        raise _Stop()

    signal.signal(signal.SIGTERM, stop)
    if os.getppid() == 1:  # the driver died before the death signal was armed
        return
    try:
        while True:
            task = connection.recv()
            if task is None:
                return

            def report(frames: int, total: Optional[int], task: SourceTask = task) -> None:
                connection.send(("progress", task.index, frames, total))

            try:
                outcome = run_source(task, report)
            except (_Stop, BrokenPipeError, EOFError):
                return
            except BaseException as error:  # noqa: BLE001 - recorded for this source, the worker goes on
                text = f"{type(error).__name__}: {error}"
                connection.send(("failed", task.index, text, traceback.format_exc()))
            else:
                connection.send(("done", task.index, outcome))
    except (_Stop, EOFError, BrokenPipeError, KeyboardInterrupt):
        return


class _Worker:
    def __init__(self, context: Any) -> None:
        self.connection, child = context.Pipe(duplex=True)
        self.process = context.Process(target=_worker_main, args=(child,), name="vistream-batch-worker", daemon=True)
        self.process.start()
        child.close()
        self.task: Optional[SourceTask] = None

    def give(self, task: SourceTask) -> None:
        self.task = task
        self.connection.send(task)


def run_pool(tasks: Sequence[SourceTask], workers: int, events: Events, max_retries: int = 1) -> None:
    """Runs every task on ``workers`` processes; reports through ``events``. Returns when all
    are finished or failed. An exception in the driver (KeyboardInterrupt, SIGTERM's) stops the
    workers (their sources are abandoned) and propagates."""
    context = multiprocessing.get_context("spawn")
    pending: Deque[SourceTask] = collections.deque(tasks)
    attempts: Dict[int, int] = collections.Counter()
    pool: List[_Worker] = []
    try:
        for _ in range(min(workers, len(pending))):
            pool.append(_Worker(context))
        for worker in pool:
            if pending:
                _assign(worker, pending.popleft(), events)
        while any(worker.task is not None for worker in pool):
            by_handle: Dict[Any, _Worker] = {}
            for worker in pool:
                by_handle[worker.connection] = worker
                by_handle[worker.process.sentinel] = worker
            events.tick()
            for handle in wait(list(by_handle), timeout=1.0):
                worker = by_handle[handle]
                if worker not in pool:
                    continue  # replaced while handling its other handle
                if handle is worker.connection:
                    message = _receive(worker)
                    if message is not None:
                        _handle(message, worker, events)
                        if worker.task is None and pending:
                            _assign(worker, pending.popleft(), events)
                        continue
                # the process ended (or its pipe did): take what it sent before, then whatever
                # it still held is lost
                while worker.task is not None and _poll(worker):
                    message = _receive(worker)
                    if message is None:
                        break
                    _handle(message, worker, events)
                worker.process.join(timeout=5)
                task = worker.task
                pool.remove(worker)
                worker.connection.close()
                if task is not None:
                    code = worker.process.exitcode
                    cause = (f"signal {signal.Signals(-code).name}" if code is not None and code < 0
                             else f"exit code {code}")
                    error = f"WorkerCrashedError: the worker process running it died ({cause})"
                    attempts[task.index] += 1
                    if attempts[task.index] <= max_retries:
                        events.retrying(task, error)
                        pending.appendleft(task)
                    else:
                        events.failed(task, error)
                if pending:
                    replacement = _Worker(context)
                    pool.append(replacement)
                    _assign(replacement, pending.popleft(), events)
    finally:
        _shut_down(pool)


def _assign(worker: _Worker, task: SourceTask, events: Events) -> None:
    worker.give(task)
    events.started(task)


def _receive(worker: _Worker) -> Optional[tuple]:
    try:
        return worker.connection.recv()
    except (EOFError, OSError):
        return None


def _poll(worker: _Worker) -> bool:
    try:
        return worker.connection.poll()
    except (EOFError, OSError):
        return False


def _handle(message: tuple, worker: _Worker, events: Events) -> None:
    kind = message[0]
    task = worker.task
    if task is None:
        return
    if kind == "progress":
        events.progress(task, message[2], message[3])
    elif kind == "done":
        worker.task = None
        events.finished(task, message[2])
    elif kind == "failed":
        worker.task = None
        events.failed(task, message[2])


def _shut_down(pool: List[_Worker]) -> None:
    """Idle workers are told to exit; busy ones (an interrupted run) get SIGTERM and abandon
    their source; any still alive after ``STOP_TIMEOUT`` are killed."""
    for worker in pool:
        try:
            if worker.task is None:
                worker.connection.send(None)
            elif worker.process.pid is not None and worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass
    for worker in pool:
        worker.process.join(timeout=STOP_TIMEOUT)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout=5)
        worker.connection.close()
