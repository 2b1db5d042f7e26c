"""Poses to files in DeepLabCut's layout, so DeepLabCut's tools (and users' scripts) read them.

DeepLabCut's ``analyze_videos`` writes a pandas DataFrame whose columns are a 3-level MultiIndex
(``scorer``, ``bodyparts``, ``coords`` with ``x``, ``y``, ``likelihood`` per bodypart) and whose index
is the frame number, as HDF5 (key ``"df_with_missing"``) and optionally CSV. The CSV is therefore
three header rows and one row per frame::

    scorer,DLC_vistream,DLC_vistream,DLC_vistream,...
    bodyparts,nose,nose,nose,...
    coords,x,y,likelihood,...
    0,412.5,188.25,0.97,...

and reads back with ``pandas.read_csv(path, header=[0, 1, 2], index_col=0)``.
"""

from __future__ import annotations

import csv
import threading
from pathlib import Path
from typing import TYPE_CHECKING, List, Sequence, Tuple, Union

import numpy as np

from ..errors import MissingDependencyError

if TYPE_CHECKING:
    from .estimator import Pose

__all__ = ["PoseWriter", "poses_to_dataframe"]

HDF_KEY = "df_with_missing"


def poses_to_dataframe(indices: Sequence[int], keypoints: Sequence[np.ndarray], bodyparts: Sequence[str],
                       scorer: str = "DLC_vistream"):
    """The poses as DeepLabCut's DataFrame (needs pandas): MultiIndex columns scorer/bodyparts/coords."""
    try:
        import pandas as pd
    except ImportError as error:
        raise MissingDependencyError("pose DataFrames need pandas: pip install pandas") from error
    columns = pd.MultiIndex.from_product([[scorer], list(bodyparts), ["x", "y", "likelihood"]],
                                         names=["scorer", "bodyparts", "coords"])
    values = (np.stack([np.asarray(k, np.float64).reshape(-1) for k in keypoints])
              if len(keypoints) else np.zeros((0, len(columns))))
    return pd.DataFrame(values, columns=columns, index=list(indices))


class PoseWriter:
    """Writes poses as DeepLabCut does: CSV rows as they come, and HDF5 when closed.

    It is also a :class:`~vistream.pose.Processor`: pass it as ``processor=`` (or call
    :meth:`process`) and every pose is written. Use it as a context manager, or call :meth:`close`:
    the CSV is flushed per row (a crash keeps what was written); the HDF5 file is written at close.

    Args:
        bodyparts: the keypoint names (``estimator.bodyparts``).
        csv: path of the CSV file, or None.
        h5: path of the HDF5 file (needs pandas and PyTables: ``pip install tables``), or None.
        scorer: the first header row (DeepLabCut puts the network's name there).

    Raises:
        MissingDependencyError: ``h5`` asked for without pandas/PyTables (raised at construction,
            before any frame is analysed).
    """

    def __init__(self, bodyparts: Sequence[str], *, csv: Union[None, str, Path] = None,
                 h5: Union[None, str, Path] = None, scorer: str = "DLC_vistream") -> None:
        if csv is None and h5 is None:
            raise ValueError("PoseWriter needs csv= and/or h5=")
        if h5 is not None:
            try:
                import pandas  # noqa: F401
                import tables  # noqa: F401
            except ImportError as error:
                raise MissingDependencyError("HDF5 pose files need pandas and PyTables: pip install pandas tables"
                                             ) from error
        self.bodyparts: Tuple[str, ...] = tuple(bodyparts)
        self.scorer = scorer
        self.csv_path = None if csv is None else Path(csv)
        self.h5_path = None if h5 is None else Path(h5)
        self._indices: List[int] = []
        self._rows: List[np.ndarray] = []
        self._lock = threading.Lock()
        self._closed = False
        self._csv_file = None
        self._csv = None
        if self.csv_path is not None:
            self._csv_file = open(self.csv_path, "w", newline="", encoding="utf-8")
            self._csv = _csv_writer(self._csv_file)
            count = len(self.bodyparts)
            self._csv.writerow(["scorer"] + [scorer] * 3 * count)
            self._csv.writerow(["bodyparts"] + [name for name in self.bodyparts for _ in range(3)])
            self._csv.writerow(["coords"] + ["x", "y", "likelihood"] * count)
            self._csv_file.flush()

    def write(self, index: int, keypoints: np.ndarray) -> None:
        """Adds frame ``index``'s (K, 3) keypoints."""
        points = np.asarray(keypoints, np.float64)
        if points.shape != (len(self.bodyparts), 3):
            raise ValueError(f"keypoints must have shape ({len(self.bodyparts)}, 3), got {points.shape}")
        with self._lock:
            if self._closed:
                raise ValueError("PoseWriter is closed")
            if self._csv is not None:
                self._csv.writerow([int(index)] + [repr(float(v)) for v in points.reshape(-1)])
                self._csv_file.flush()
            if self.h5_path is not None:
                self._indices.append(int(index))
                self._rows.append(points.reshape(-1))

    def process(self, pose: "Pose") -> None:
        """Processor hook: writes the pose under its frame index."""
        self.write(pose.index, pose.keypoints)

    def close(self) -> None:
        """Closes the CSV and writes the HDF5 file (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._csv_file is not None:
                self._csv_file.close()
            if self.h5_path is not None:
                frame = poses_to_dataframe(self._indices, self._rows, self.bodyparts, self.scorer)
                frame.to_hdf(self.h5_path, key=HDF_KEY, mode="w", format="table")

    def __enter__(self) -> "PoseWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _csv_writer(handle):
    return csv.writer(handle, lineterminator="\n")
