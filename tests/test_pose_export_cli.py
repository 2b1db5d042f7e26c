"""Poses to DeepLabCut's CSV/HDF5 layout, and ``vistream pose`` end to end on a generated clip.

The clip and the model are the marker ones of tests/test_pose_cropping.py (see its docstring):
``write_marker_clip`` (two discs circling, encoded by the ffmpeg CLI) and the train-free ONNX
``write_marker_model``.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import vistream as vs
from vistream.pose import PoseWriter
from vistream.pose.synthetic import marker_positions, write_marker_clip

W, H = 480, 270


@pytest.fixture(scope="module")
def marker_clip(tmp_path_factory):
    return write_marker_clip(tmp_path_factory.mktemp("clip") / "markers.mp4", width=W, height=H, seconds=1.0)


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "vistream", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_csv_and_hdf5_read_back_like_deeplabcut_reads_them(tmp_path):
    bodyparts = ["snout", "tailbase"]
    rows = {0: np.array([[10.5, 20.25, 0.9], [30.0, 40.0, 0.1]], np.float32),
            1: np.array([[11.5, 21.25, 0.8], [31.0, 41.0, 0.2]], np.float32)}
    with PoseWriter(bodyparts, csv=tmp_path / "p.csv", h5=tmp_path / "p.h5", scorer="DLC_test") as writer:
        for index, points in rows.items():
            writer.write(index, points)
    for frame in (pd.read_csv(tmp_path / "p.csv", header=[0, 1, 2], index_col=0),
                  pd.read_hdf(tmp_path / "p.h5", "df_with_missing")):
        assert list(frame.columns.names) == ["scorer", "bodyparts", "coords"]
        assert list(frame.columns) == [("DLC_test", b, c) for b in bodyparts for c in ("x", "y", "likelihood")]
        assert list(frame.index) == [0, 1]
        np.testing.assert_allclose(frame.loc[1, ("DLC_test", "snout", "y")], 21.25)
        np.testing.assert_allclose(frame.to_numpy(), np.stack([r.reshape(-1) for r in rows.values()]), atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        PoseWriter(bodyparts, csv=tmp_path / "q.csv").write(0, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="csv"):
        PoseWriter(bodyparts)


def test_pose_cli_writes_annotated_video_and_deeplabcut_csv(marker_model, marker_clip, tmp_path):
    result = _cli("pose", marker_clip, "--model", marker_model, "--output", "annotated.mp4", "--csv", "poses.csv",
                  "--h5", "poses.h5", "--dynamic", "0.5,40", "--pcutoff", "0.6", "--skeleton", "red-blue",
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "30 frames" in result.stderr and "29 on a dynamic crop" in result.stderr
    poses = pd.read_csv(tmp_path / "poses.csv", header=[0, 1, 2], index_col=0)
    assert list(poses.index) == list(range(30))
    assert poses.columns.get_level_values("bodyparts").unique().tolist() == ["red", "blue"]
    scorer = poses.columns.get_level_values("scorer")[0]
    for index in (0, 15, 29):
        truth = marker_positions(index / 30, W, H)
        x, y = poses.loc[index, (scorer, "red", "x")], poses.loc[index, (scorer, "red", "y")]
        assert np.hypot(x - truth["red"][0], y - truth["red"][1]) < 0.75
    pd.testing.assert_frame_equal(pd.read_hdf(tmp_path / "poses.h5", "df_with_missing"), poses, check_names=False,
                                  check_dtype=False, atol=1e-4)
    with vs.Reader(tmp_path / "annotated.mp4") as reader:
        frames = list(reader)
        assert len(frames) == 30
        image = frames[15].array
        truth = marker_positions(15 / 30, W, H)
        # the skeleton line between the two keypoints is drawn over the grey background
        mid = np.round((np.array(truth["red"]) + np.array(truth["blue"])) / 2).astype(int)
        assert np.abs(image[mid[1] - 1:mid[1] + 2, mid[0] - 1:mid[0] + 2].astype(int) - 128).max() > 60


def test_pose_cli_refuses_bad_arguments_clearly(marker_model, marker_clip, tmp_path):
    bad = _cli("pose", marker_clip, "--model", marker_model, "--csv", "p.csv", "--dynamic", "fast", cwd=tmp_path)
    assert bad.returncode == 2 and "--dynamic" in bad.stderr
    missing = _cli("pose", marker_clip, "--model", tmp_path / "nothing", "--csv", "p.csv", cwd=tmp_path)
    assert missing.returncode == 1 and "no DeepLabCut model" in missing.stderr
    nothing = _cli("pose", marker_clip, "--model", marker_model, cwd=tmp_path)
    assert nothing.returncode == 1 and "--output" in nothing.stderr
