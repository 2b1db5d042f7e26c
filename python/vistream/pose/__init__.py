"""DeepLabCut-live style pose estimation: DeepLabCut 3.0 models, dynamic cropping, processors, export.

Example::

    import vistream as vs
    from vistream.annotate import KeypointAnnotator

    estimator = vs.DLCPoseEstimator("exported-models-pytorch/DLC_mouse_resnet_50_iteration-0_shuffle-1",
                                    pcutoff=0.6, dynamic=(True, 0.5, 40))
    annotator = KeypointAnnotator(names=estimator.bodyparts, pcutoff=0.6, skeleton=[("nose", "tailbase")])
    with vs.Reader("mouse.mp4") as reader, vs.PoseWriter(estimator.bodyparts, csv="poses.csv") as out:
        for frame in reader:
            pose = estimator.estimate(frame)
            out.process(pose)

See docs/pose.md.
"""

from .estimator import DLCPoseEstimator, Pose, decode_heatmaps
from .export import PoseWriter, poses_to_dataframe
from .processor import Processor, RegionEvent, RegionTrigger

__all__ = ["DLCPoseEstimator", "Pose", "decode_heatmaps", "PoseWriter", "poses_to_dataframe",
           "Processor", "RegionEvent", "RegionTrigger"]
