"""``results.parquet``: every detection of every finished source in one table (pyarrow).

One row per detection (frames without detections have no row; the manifest and the JSONL
files keep the frame counts): ``source, key, frame, time, tracker_id, class_id, class_name,
confidence, x1, y1, x2, y2``. Masks, keypoints and plugin values stay in the JSONL files.
"""

from __future__ import annotations

import os
import tempfile
from typing import Dict, List, Sequence

from ..pipeline_config import PipelineConfig
from ..results import read_results
from ._store import OutputStore, make_readable

COLUMNS = ("source", "key", "frame", "time", "tracker_id", "class_id", "class_name", "confidence",
           "x1", "y1", "x2", "y2")


def results_table(store: OutputStore, config: PipelineConfig, results: Sequence) -> "object":
    """The pyarrow Table over the finished sources of ``results`` (``BatchResult``s)."""
    import pyarrow as pa

    columns: Dict[str, List] = {name: [] for name in COLUMNS}
    for index, result in enumerate(results):
        if result.error is not None:
            continue
        name = config.output_name(config.results, result.source, result.key, index)
        local = store.open_local(name)
        try:
            for frame, time, detections in read_results(local):
                count = len(detections)
                if not count:
                    continue
                ids = detections.tracker_id
                names = detections.class_names or {}
                columns["source"] += [result.source] * count
                columns["key"] += [result.key] * count
                columns["frame"] += [frame] * count
                columns["time"] += [time] * count
                columns["tracker_id"] += [None] * count if ids is None else [int(i) for i in ids]
                columns["class_id"] += [int(c) for c in detections.class_id]
                columns["class_name"] += [names.get(int(c)) for c in detections.class_id]
                columns["confidence"] += [float(c) for c in detections.confidence]
                for column, values in zip(("x1", "y1", "x2", "y2"), detections.xyxy.T):
                    columns[column] += [float(v) for v in values]
        finally:
            if not store.is_local:
                os.unlink(local)
    schema = pa.schema([("source", pa.string()), ("key", pa.string()), ("frame", pa.int64()), ("time", pa.float64()),
                        ("tracker_id", pa.int64()), ("class_id", pa.int64()), ("class_name", pa.string()),
                        ("confidence", pa.float64()), ("x1", pa.float64()), ("y1", pa.float64()),
                        ("x2", pa.float64()), ("y2", pa.float64())])
    return pa.table(columns, schema=schema)


def write_results_table(store: OutputStore, config: PipelineConfig, results: Sequence, name: str) -> str:
    """Writes the table under ``name`` atomically; returns its path or URL."""
    import pyarrow.parquet as pq

    table = results_table(store, config, results)
    handle, path = tempfile.mkstemp(prefix=".vistream-", suffix=".parquet",
                                    dir=store.location if store.is_local else None)
    os.close(handle)
    try:
        pq.write_table(table, path)
        make_readable(path)
        return store.promote(path, name)
    finally:
        if os.path.exists(path):
            os.unlink(path)
