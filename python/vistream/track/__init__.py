"""Multi-object trackers that turn per-frame ``Detections`` into tracks with ``tracker_id``.

Example::

    from vistream.track import ByteTrack
    tracker = ByteTrack(frame_rate=30)
    tracked = tracker.update(detections)   # tracked.tracker_id is filled
"""

from .byte_track import ByteTrack
from .iou_tracker import IoUTracker
from .kalman_filter import KalmanFilterXYAH
from .matching import iou_matrix, linear_assignment

__all__ = ["ByteTrack", "IoUTracker", "KalmanFilterXYAH", "iou_matrix", "linear_assignment"]
