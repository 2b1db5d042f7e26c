"""Multi-object trackers that turn per-frame ``Detections`` into tracks with ``tracker_id``.

Example::

    from vistream.track import ByteTrack, BoTSORT
    tracker = ByteTrack(frame_rate=30)
    tracked = tracker.update(detections)   # tracked.tracker_id is filled

    tracker = BoTSORT(frame_rate=30)       # + camera-motion compensation from the frame
    tracked = tracker.update(detections, frame=image)

    tracker = OCSORT(frame_rate=30)        # observation-centric: keeps ids through occlusions

    # raw detector output works too: (N, 5) [x1, y1, x2, y2, score] or (N, 6) [..., class_id]
    tracked = ByteTrack().update(np.array([[10, 20, 50, 80, 0.9, 0]]))
"""

from ..detections import as_detections
from .bot_sort import BoTSORT
from .byte_track import ByteTrack
from .camera_motion import CameraMotion
from .iou_tracker import IoUTracker
from .kalman_filter import KalmanFilterXYAH, KalmanFilterXYWH
from .matching import iou_matrix, linear_assignment
from .oc_sort import OCSORT

__all__ = ["ByteTrack", "BoTSORT", "OCSORT", "IoUTracker", "CameraMotion", "KalmanFilterXYAH", "KalmanFilterXYWH",
           "iou_matrix", "linear_assignment", "as_detections"]
