"""Multi-object trackers that turn per-frame ``Detections`` into tracks with ``tracker_id``.

Example::

    from vistream.track import ByteTrack, BoTSORT
    tracker = ByteTrack(frame_rate=30)
    tracked = tracker.update(detections)   # tracked.tracker_id is filled

    tracker = BoTSORT(frame_rate=30)       # + camera-motion compensation from the frame
    tracked = tracker.update(detections, frame=image)
"""

from .bot_sort import BoTSORT
from .byte_track import ByteTrack
from .camera_motion import CameraMotion
from .iou_tracker import IoUTracker
from .kalman_filter import KalmanFilterXYAH, KalmanFilterXYWH
from .matching import iou_matrix, linear_assignment

__all__ = ["ByteTrack", "BoTSORT", "IoUTracker", "CameraMotion", "KalmanFilterXYAH", "KalmanFilterXYWH",
           "iou_matrix", "linear_assignment"]
