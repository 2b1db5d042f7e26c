"""The process worker of decoupled inference (``Pipeline(decoupled="process")``).

A detector written in pure Python holds the GIL while it runs: on a worker *thread* it competes
with the frame callback. Here it runs in a spawned process instead. The detector is pickled once,
at construction, and sent to the process; frames go through two shared-memory slots sized to the
frame (newest wins: nothing is queued); results come back as ``Detections`` over a pipe.

Threads and ownership (parent side):

- the run() thread calls ``offer``/``take``; the receiver thread (``vistream-inference-process``)
  waits for the worker's messages and for its exit. They share, under ``_lock``: the job in flight
  (its slot is the worker's until its result arrives), the pending job (written into the other
  slot, replaced by a newer offer, sent when the worker is free), the finished results and the
  error to raise.
- ``close`` stops the process (a clean stop, then terminate/kill after the deadline), joins the
  receiver and unlinks the shared memory.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
import traceback
from collections import deque
from multiprocessing import shared_memory
from multiprocessing.connection import Connection, wait
from time import perf_counter
from typing import Any, Deque, List, Optional, Tuple

import numpy as np

from .decoupled import CLOSE_TIMEOUT, _Job, _Result
from .errors import VistreamError

#: How much lower the worker process's CPU priority is than the player's (``os.nice``).
WORKER_NICENESS = 5
#: Seconds the Pipeline's construction waits for the worker process to load the detector.
READY_TIMEOUT = 60.0
#: Seconds ``close()`` waits after terminate() (SIGTERM) before kill() (SIGKILL).
TERMINATE_TIMEOUT = 2.0


class DetectorNotPicklableError(VistreamError, TypeError):
    """``decoupled="process"`` sends the detector to a worker process: it must be picklable."""


class InferenceProcessError(VistreamError, RuntimeError):
    """The worker process of ``decoupled="process"`` died (crashed, killed) or could not start."""


def _worker_main(conn: Connection, detector_bytes: bytes) -> None:
    """The worker process: unpickles the detector, then detects each frame it is told about."""
    # playback first: on a machine short of CPU the detector (whose results are best-effort by
    # design) yields to the player's decode, callback and encode rather than the other way round
    try:
        os.nice(WORKER_NICENESS)
    except OSError:  # not permitted (a restricted container): same priority as the player
        pass
    try:
        detector = pickle.loads(detector_bytes)
    except BaseException as error:  # reported to the parent, which raises it from run()
        _send_error(conn, error)
        return
    conn.send(("ready",))
    attached = {}  # slot -> SharedMemory, re-attached when the parent reallocates the slot
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if message is None:
            return
        job_id, slot, name, shape, dtype = message
        memory = attached.get(slot)
        if memory is None or memory.name != name:
            if memory is not None:
                memory.close()
            memory = attached[slot] = shared_memory.SharedMemory(name=name)
        # a private copy: the detector may keep the image, and the slot is the parent's again soon
        image = np.ndarray(shape, dtype=np.dtype(dtype), buffer=memory.buf).copy()
        started = perf_counter()
        try:
            detections = detector(image)
        except BaseException as error:
            _send_error(conn, error)
            return
        conn.send(("result", job_id, detections, (perf_counter() - started) * 1000.0))


def _send_error(conn: Connection, error: BaseException) -> None:
    text = "".join(traceback.format_exception(error))
    try:
        conn.send(("error", error, text))
    except Exception:  # the exception itself does not pickle: its type and message do
        conn.send(("error", None, text))


class ProcessInferenceWorker:
    """Runs ``detector(image)`` in a spawned process, on the newest job offered.

    Same interface as ``vistream.decoupled.InferenceWorker``: ``offer`` never blocks (the job
    replaces one still waiting), ``take`` returns finished results in order and raises the
    detector's exception (its own type, the worker's traceback as a note) or
    ``InferenceProcessError`` when the process died; ``close`` stops the process within a deadline.

    Args:
        detector: a picklable callable ``image -> Detections`` (or an array ``Detections.from_array``
            takes), given HxWxC uint8 numpy frames.
        check: applied to each result in the parent (the Pipeline's result check).
        name: the process's name.

    The constructor waits (up to ``READY_TIMEOUT``) for the process to have loaded the detector,
    so that its start-up does not compete with the start of playback.

    Raises:
        DetectorNotPicklableError: the detector does not pickle.
        InferenceProcessError: the worker process died or did not load it in time; an exception
            unpickling it in the worker is raised as it is (its traceback as a note).
    """

    def __init__(self, detector: Any, check: Any = None, name: str = "vistream-inference") -> None:
        # a function by its name, an object by its class's
        self._detector_name = getattr(detector, "__qualname__", None) or type(detector).__qualname__
        try:
            detector_bytes = pickle.dumps(detector)
        except Exception as error:
            raise DetectorNotPicklableError(
                f"Pipeline(decoupled=\"process\"): detector {self._detector_name!r} cannot be sent to a "
                f"worker process, it does not pickle ({type(error).__name__}: {error}); make it picklable "
                "(module-level class, no lambdas, open files or locks in its attributes) or use "
                "decoupled=\"thread\"") from error
        self._check = check
        context = multiprocessing.get_context("spawn")  # fork would copy the player's threads' state
        self._conn, child_conn = context.Pipe()
        self._slots: List[Optional[shared_memory.SharedMemory]] = [None, None]
        self._lock = threading.Lock()
        # protected by _lock
        self._in_flight: Optional[Tuple[int, _Job]] = None
        self.process = context.Process(target=_worker_main, args=(child_conn, detector_bytes), name=name,
                                       daemon=True)
        self.process.start()
        #: the worker process's id
        self.pid: int = self.process.pid
        child_conn.close()  # the parent's copy: EOF on our end once the child is gone
        self._await_ready()
        self._pending: Optional[Tuple[int, _Job]] = None
        self._done: Deque[_Result] = deque()
        self._error: Optional[BaseException] = None
        self._closing = False
        self._job_ids = 0
        self._receiver = threading.Thread(target=self._receive, name="vistream-inference-process", daemon=True)
        self._receiver.start()

    def _await_ready(self) -> None:
        """Waits for the worker to have imported and unpickled the detector, so that this cost (a
        second or more) is paid before playback starts, and an error unpickling it is raised here."""
        ready = wait([self._conn, self.process.sentinel], READY_TIMEOUT)
        message = None
        if self._conn in ready:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                pass
        if message is not None and message[0] == "ready":
            return
        error: BaseException
        if message is not None and message[0] == "error":
            _, error, text = message
            if error is None:
                error = InferenceProcessError(f"the worker process could not load detector "
                                              f"{self._detector_name!r}:\n{text}")
            else:
                error.add_note(f"raised in the decoupled worker process loading the detector:\n{text}")
        elif not ready:
            error = InferenceProcessError(f"Pipeline(decoupled=\"process\"): the worker process did not load detector "
                                          f"{self._detector_name!r} within {READY_TIMEOUT:g} s")
        else:
            self.process.join(TERMINATE_TIMEOUT)
            error = self._died_error()
        self.process.terminate()
        self.process.join(TERMINATE_TIMEOUT)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._conn.close()
        self.process.close()
        raise error

    @property
    def shared_memory_names(self) -> List[str]:
        """The shared-memory segments holding frame slots now (unlinked by ``close``)."""
        return [memory.name for memory in self._slots if memory is not None]

    # -- run() thread ---------------------------------------------------------------------
    def offer(self, job: _Job) -> bool:
        """Writes ``job``'s frame into the free slot and hands it to the worker (now, or when the
        detection under way ends); returns True when it replaced a job never started."""
        image = job.image
        if not isinstance(image, np.ndarray):
            raise TypeError("Pipeline(decoupled=\"process\") sends numpy frames to the worker process; "
                            f"the detector takes {type(image).__name__} (use decoupled=\"thread\")")
        with self._lock:
            if self._closing or self._error is not None:
                return False
            slot = 0 if self._in_flight is None else 1 - self._in_flight[0]
            memory = self._slots[slot]
            if memory is None or memory.size < image.nbytes:
                if memory is not None:
                    memory.close()
                    memory.unlink()
                memory = self._slots[slot] = shared_memory.SharedMemory(create=True, size=max(1, image.nbytes))
            np.ndarray(image.shape, dtype=image.dtype, buffer=memory.buf)[...] = image
            replaced = self._pending is not None
            self._pending = (slot, job)
            if self._in_flight is None:
                self._send_pending()
        return replaced

    def take(self) -> List[_Result]:
        """The results finished since the last call, oldest first."""
        with self._lock:
            if self._error is not None and not self._done:
                error, self._error = self._error, None
                self._closing = True  # nothing more is sent to a worker that failed
                raise error
            results = list(self._done)
            self._done.clear()
        return results

    def close(self, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Stops the worker process (a detection under way is finished first, its result dropped),
        terminating it when it has not ended after ``timeout`` seconds; unlinks the shared memory.
        Returns False when it had to be terminated."""
        with self._lock:
            self._closing = True
            self._pending = None
        try:
            self._conn.send(None)
        except (OSError, ValueError):  # already gone
            pass
        self.process.join(timeout)
        ended = not self.process.is_alive()
        if not ended:
            self.process.terminate()
            self.process.join(TERMINATE_TIMEOUT)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        self._receiver.join()
        self._conn.close()
        self.process.close()
        for slot, memory in enumerate(self._slots):
            if memory is not None:
                memory.close()
                memory.unlink()
                self._slots[slot] = None
        return ended

    # -- both threads, under _lock ------------------------------------------------------------
    def _send_pending(self) -> None:
        slot, job = self._pending
        self._pending = None
        self._job_ids += 1
        memory = self._slots[slot]
        try:
            self._conn.send((self._job_ids, slot, memory.name, job.image.shape, job.image.dtype.str))
        except (OSError, ValueError):  # the worker is gone: the receiver reports it
            return
        self._in_flight = (slot, job)

    # -- receiver thread ----------------------------------------------------------------------
    def _receive(self) -> None:
        sentinel = self.process.sentinel
        while True:
            ready = wait([self._conn, sentinel])
            if self._conn in ready:
                try:
                    message = self._conn.recv()
                except (EOFError, OSError):
                    message = None
                if message is not None and self._handle(message):
                    continue
            # the worker ended (or sent an error and ended): the end of the run when not asked for
            self.process.join(CLOSE_TIMEOUT)
            with self._lock:
                if not self._closing and self._error is None:
                    self._error = self._died_error()
            return

    def _handle(self, message: tuple) -> bool:
        """Applies one message; False when the worker reported an error (it then exits)."""
        kind = message[0]
        if kind == "ready":
            return True
        if kind == "error":
            _, error, text = message
            if error is None:
                error = InferenceProcessError(f"detector {self._detector_name!r} raised in the worker process "
                                              f"(the exception does not pickle):\n{text}")
            else:
                error.add_note(f"raised in the decoupled worker process:\n{text}")
            with self._lock:
                if self._error is None:
                    self._error = error
            return False
        _, job_id, detections, detect_ms = message
        with self._lock:
            slot, job = self._in_flight
            self._in_flight = None
            if self._pending is not None and not self._closing:
                self._send_pending()
            closing = self._closing
        if closing:
            return True
        try:
            checked = self._check(detections) if self._check is not None else detections
        except BaseException as error:
            with self._lock:
                self._error = error
            return True
        with self._lock:
            self._done.append(_Result(job, checked, detect_ms))
        return True

    def _died_error(self) -> InferenceProcessError:
        code = self.process.exitcode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        frame = f" while detecting frame {self._in_flight[1].index}" if self._in_flight is not None else ""
        return InferenceProcessError(f"Pipeline(decoupled=\"process\"): the worker process running detector "
                                     f"{self._detector_name!r} {how}{frame}")
