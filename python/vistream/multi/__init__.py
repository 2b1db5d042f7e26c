"""Many sources in one process: ``MultiPlayer`` hands Python synchronized batches of frames.

Example::

    import vistream
    from vistream.track import ByteTrack

    multi = vistream.MultiPlayer(
        {"gate": "rtsp://cam1/live", "yard": "rtsp://cam2/live", "archive": "day.mp4"},
        detector=vistream.OnnxDetector("yolov8n.onnx"),     # one network call per batch
        tracker=ByteTrack,                                  # one tracker per source
        outputs="out_{source}.mp4", results="out_{source}.jsonl",
        max_batch=8, max_wait=0.05)

    @multi.on_batch
    def show(frames):
        for frame in frames:
            print(frame.source, frame.index, len(frame.detections))

    stats = multi.run()
    print(stats.sources["gate"].frames, stats.sources["gate"].reconnects)

See docs/multi.md.
"""

from .batching import PerSourceDetector, detect_batch
from .mosaic import MosaicView
from .player import MultiFrame, MultiPlayer, MultiStats, SourceStats

__all__ = ["MultiPlayer", "MultiFrame", "MultiStats", "SourceStats", "PerSourceDetector", "detect_batch", "MosaicView"]
