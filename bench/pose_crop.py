"""Per-frame pose time against the analysed area (BENCHMARKS.md, "pose").

Two models, both made here without downloads:
- a DeepLabCut ``resnet_50``-style config with ``model_name: resnet18`` (4 bodyparts, stride 8,
  random weights from vistream's own builder), run on python/test.mp4 frames scaled to 640x360,
  on the whole frame and on centred static crops of 1/2, 1/4 and 1/10 of its area;
- the train-free marker model (vistream.pose.synthetic) on its generated clip, whole frame vs
  dynamic cropping (threshold 0.5, margin 40 px).

Usage: python bench/pose_crop.py [--frames N]   (prints Markdown rows)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

import vistream as vs
from vistream.pose.network import DLCNetwork
from vistream.pose.synthetic import write_marker_clip, write_marker_model

ROOT = Path(__file__).resolve().parents[1]


def resnet18_model(folder: Path) -> Path:
    head = {"type": "HeatmapHead",
            "predictor": {"type": "HeatmapPredictor", "apply_sigmoid": False, "clip_scores": True,
                          "location_refinement": True, "locref_std": 7.2801},
            "heatmap_config": {"channels": [512, 4], "kernel_size": [3], "strides": [2]},
            "locref_config": {"channels": [512, 8], "kernel_size": [3], "strides": [2]}}
    config = {"method": "bu", "net_type": "resnet_50",
              "metadata": {"bodyparts": ["snout", "left_ear", "right_ear", "tailbase"], "individuals": ["a"]},
              "data": {"inference": {"normalize_images": True}},
              "model": {"backbone": {"type": "ResNet", "model_name": "resnet18", "output_stride": 16},
                        "heads": {"bodypart": head}}}
    torch.manual_seed(0)
    path = folder / "resnet18.pt"
    torch.save({"config": config, "pose": DLCNetwork(config["model"]).state_dict()}, path)
    return path


def median_ms(estimator, images):
    """Median wall ms and median CPU ms (all threads of this process: the work, whatever the load)."""
    estimator.estimate(images[0])  # warm-up
    wall, cpu = [], []
    for image in images:
        started = time.process_time()
        wall.append(estimator.estimate(image).inference_seconds)
        cpu.append(time.process_time() - started)
    return 1000 * statistics.median(wall), 1000 * statistics.median(cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args(argv)
    # one thread: CPU time is then the work done (OpenMP workers spin-wait under contention)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with vs.Reader(ROOT / "python" / "test.mp4") as reader:
            images = [cv2.resize(reader.frame_at(i).array, (640, 360), interpolation=cv2.INTER_AREA)
                      for i in range(args.frames)]
        model = resnet18_model(folder)
        print(f"load average at start: {', '.join(f'{v:.1f}' for v in __import__('os').getloadavg())}")
        print("| model | input | analysed area | area ratio | median wall ms/frame | wall ratio | "
              "median CPU ms/frame | CPU ratio |")
        print("|---|---|---|---|---|---|---|---|")
        base = None
        for fraction in (1.0, 0.5, 0.25, 0.1):
            w, h = int(round(640 * fraction ** 0.5)), int(round(360 * fraction ** 0.5))
            x1, y1 = (640 - w) // 2, (360 - h) // 2
            estimator = vs.DLCPoseEstimator(model, cropping=(x1, y1, x1 + w, y1 + h))
            ms, cpu = median_ms(estimator, images)
            base = base or (ms, cpu)
            print(f"| DLC resnet18 (torch, CPU) | 640x360 | {w}x{h} (static crop) | {w * h / (640 * 360):.2f} | "
                  f"{ms:.1f} | {ms / base[0]:.2f} | {cpu:.1f} | {cpu / base[1]:.2f} |")
        onnx = write_marker_model(folder / "marker.onnx")
        clip = write_marker_clip(folder / "markers.mp4", width=640, height=360, seconds=2.0)
        with vs.Reader(clip) as reader:
            frames = [frame.array.copy() for frame in reader]
        full_ms, full_cpu = median_ms(vs.DLCPoseEstimator(onnx, runtime="onnx"), frames)
        cropper = vs.DLCPoseEstimator(onnx, runtime="onnx", dynamic=(True, 0.5, 40))
        cropper.estimate(frames[0])
        wall, cpu, areas = [], [], []
        for image in frames[1:]:
            started = time.process_time()
            pose = cropper.estimate(image)
            cpu.append(time.process_time() - started)
            wall.append(pose.inference_seconds)
            areas.append((pose.crop[2] - pose.crop[0]) * (pose.crop[3] - pose.crop[1]) / (640 * 360))
        crop_ms, crop_cpu = 1000 * statistics.median(wall), 1000 * statistics.median(cpu)
        print(f"| marker model (ONNX Runtime, CPU) | 640x360 | whole frame | 1.00 | {full_ms:.2f} | 1.00 | "
              f"{full_cpu:.2f} | 1.00 |")
        print(f"| marker model (ONNX Runtime, CPU) | 640x360 | dynamic crop (margin 40) | {np.mean(areas):.3f} | "
              f"{crop_ms:.2f} | {crop_ms / full_ms:.3f} | {crop_cpu:.2f} | {crop_cpu / full_cpu:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
