"""Scale-out over Ray (``pip install 'vistream[ray]'``): one Ray task per source.

Each task asks for ``num_cpus``/``num_gpus``; Ray retries a task whose worker died
(``max_retries``: a crash, a lost node), while an exception in the pipeline is an answer, not a
crash: it is returned and recorded for that source (retrying it would fail the same way). The
driver gathers the results as tasks finish and reports them in the sources' order.
"""

from __future__ import annotations

import traceback
from typing import Any, Optional, Sequence, Tuple, Union

from ..errors import MissingDependencyError
from ._pool import Events
from ._worker import SourceOutcome, SourceTask, run_source


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("ray=... needs Ray: pip install 'vistream[ray]'") from None
    return ray


def connect(address: Union[bool, str]) -> Any:
    """Ray, initialised: an already initialised runtime is used as it is; ``True`` joins the
    cluster of ``RAY_ADDRESS`` or starts a local one; a string is a cluster address
    (``"auto"``, ``"ray://head:10001"``)."""
    ray = import_ray()
    if not ray.is_initialized():
        if address is True:
            ray.init(log_to_driver=False)
        else:
            ray.init(address=str(address), log_to_driver=False)
    return ray


def _task(task: SourceTask) -> Tuple[str, Any]:
    # Runs in a Ray worker. Python exceptions are returned, not raised: Ray would retry them only
    # with retry_exceptions, and the pool records them the same way.
    try:
        return "done", run_source(task)
    except Exception as error:  # noqa: BLE001 - this source's failure, recorded by the driver
        return "failed", (f"{type(error).__name__}: {error}", traceback.format_exc())


def run_ray(tasks: Sequence[SourceTask], events: Events, address: Union[bool, str] = True,
            num_cpus: float = 1, num_gpus: float = 0, max_retries: int = 1,
            runtime_env: Optional[dict] = None) -> None:
    """Runs every task as a Ray task; reports through ``events`` as they finish. An exception in
    the driver (KeyboardInterrupt) cancels the tasks still running and propagates."""
    ray = connect(address)
    options: dict = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_retries": max_retries}
    if runtime_env:
        options["runtime_env"] = runtime_env
    remote = ray.remote(_task).options(**options)
    by_ref = {}
    for task in tasks:
        by_ref[remote.remote(task)] = task
        events.started(task)
    waiting = list(by_ref)
    try:
        while waiting:
            events.tick()
            ready, waiting = ray.wait(waiting, num_returns=1, timeout=1.0)
            for ref in ready:
                task = by_ref[ref]
                try:
                    kind, payload = ray.get(ref)
                except Exception as error:  # noqa: BLE001 - a crashed worker, retries used up
                    events.failed(task, f"{type(error).__name__}: {_first_line(error)}")
                    continue
                if kind == "done":
                    outcome: SourceOutcome = payload
                    events.progress(task, outcome.frames, outcome.frames)
                    events.finished(task, outcome)
                else:
                    events.failed(task, payload[0])
    finally:
        for ref in waiting:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort: the task may have just finished
                pass


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
