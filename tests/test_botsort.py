"""BoT-SORT: camera-motion estimate, tracking through a shaky pan, appearance fusion, snapshots."""
from __future__ import annotations

import numpy as np
import pytest

import vistream
from vistream import Detections
from vistream.track import BoTSORT, ByteTrack, CameraMotion, KalmanFilterXYWH


@pytest.fixture(scope="module")
def street(test_mp4):
    """A real 1280x720 frame of the street clip: texture for the camera-motion estimate."""
    with vistream.Reader(test_mp4) as reader:
        return np.array(reader.frame_at(60).array)


def _pan(street: np.ndarray, offsets, size=(480, 800)):
    """Crops of ``street`` at the given (x, y) offsets: a camera moving over the scene."""
    h, w = size
    return [street[y:y + h, x:x + w] for x, y in offsets]


@pytest.mark.parametrize("method", ["sparse_flow", "ecc"])
def test_camera_motion_recovers_a_pan(street, method):
    offsets = [(200, 100), (206, 102), (197, 99), (215, 110), (215, 110)]
    motion = CameraMotion(method)
    warps = [motion.estimate(crop) for crop in _pan(street, offsets)]
    np.testing.assert_array_equal(warps[0], np.eye(2, 3))  # first frame: nothing to compare with
    for (x0, y0), (x1, y1), warp in zip(offsets, offsets[1:], warps[1:]):
        # the camera moved by (x1-x0, y1-y0): the scene moves the opposite way
        np.testing.assert_allclose(warp[:, 2], [x0 - x1, y0 - y1], atol=0.5)
        np.testing.assert_allclose(warp[:, :2], np.eye(2), atol=0.01)


def test_camera_motion_edge_cases(street):
    motion = CameraMotion("sparse_flow")
    flat = np.full((240, 320, 3), 128, np.uint8)
    assert np.array_equal(motion.estimate(flat), np.eye(2, 3))
    assert np.array_equal(motion.estimate(flat), np.eye(2, 3))  # no corners: identity, no error
    assert np.array_equal(motion.estimate(street[:400, :600]), np.eye(2, 3))  # size changed: restart
    strided = street[::1, 100:700]  # a non-contiguous view, like a player frame
    motion.reset()
    motion.estimate(strided[:400])
    warp = motion.estimate(street[5:405, 100:700])
    np.testing.assert_allclose(warp[:, 2], [0, -5], atol=0.5)
    assert np.array_equal(CameraMotion("none").estimate(street), np.eye(2, 3))
    with pytest.raises(ValueError, match="valid: sparse_flow, ecc, none"):
        CameraMotion("orb-slam")
    with pytest.raises(ValueError, match="uint8"):
        CameraMotion().estimate(street.astype(np.float32))


def _shaky_pan_scene(street, frames=40, seed=0):
    """Eight people standing still while a hand-held camera jerks by up to ±25 px a frame.

    Returns the crops and, per frame, the people's boxes in crop coordinates (detections).
    """
    rng = np.random.default_rng(seed)
    world = np.array([[x, y, x + 36, y + 90] for x, y in
                      [(300, 250), (380, 260), (470, 240), (560, 255), (640, 300), (720, 280),
                       (820, 260), (900, 290)]], np.float32)
    x, y, offsets = 150, 60, []
    for _ in range(frames):
        x = int(np.clip(x + rng.integers(-25, 26), 0, 300))
        y = int(np.clip(y + rng.integers(-12, 13), 0, 150))
        offsets.append((x, y))
    crops = _pan(street, offsets)
    boxes = [world - np.array([ox, oy, ox, oy], np.float32) for ox, oy in offsets]
    return crops, boxes


def _id_fragments(tracker, crops, boxes, use_frames=True) -> int:
    """How many distinct ids each person gets over the clip, summed (8 = perfect)."""
    ids = {}
    for crop, xyxy in zip(crops, boxes):
        out = tracker.update(Detections(xyxy=xyxy, confidence=np.full(len(xyxy), 0.9, np.float32)),
                             frame=crop if use_frames else None)
        for box, tid in zip(out.xyxy, out.tracker_id):
            person = int(np.argmin(np.abs(xyxy - box).sum(axis=1)))
            ids.setdefault(person, set()).add(int(tid))
    assert len(ids) == 8
    return sum(len(v) for v in ids.values())


def test_motion_compensation_keeps_ids_through_a_shaky_pan(street):
    crops, boxes = _shaky_pan_scene(street)
    assert _id_fragments(BoTSORT(frame_rate=30), crops, boxes) == 8
    assert _id_fragments(BoTSORT(frame_rate=30, gmc="ecc"), crops, boxes) == 8
    # the same scene without compensation breaks tracks: the test can fail
    assert _id_fragments(BoTSORT(frame_rate=30, gmc="none"), crops, boxes) > 12
    assert _id_fragments(ByteTrack(frame_rate=30), crops, boxes) > 12


def test_replay_with_cached_warps_equals_straight_run(street):
    crops, boxes = _shaky_pan_scene(street, frames=30, seed=3)
    dets = [Detections(xyxy=b, confidence=np.full(len(b), 0.9, np.float32)) for b in boxes]
    straight, warps, snapshot = [], [], None
    tracker = BoTSORT(frame_rate=30)
    for i, (crop, d) in enumerate(zip(crops, dets)):
        if i == 10:
            snapshot = tracker.state_dict()
        out = tracker.update(d, frame=crop)
        straight.append(out)
        warps.append(tracker.last_warp.copy())
    # restore the state before frame 10, replay 10..19 without images, then show frame 20 onward
    replay = BoTSORT()
    replay.load_state_dict(snapshot)
    for i in range(10, 20):
        replay.update(dets[i], warp=warps[i])
    for i in range(20, 30):
        out = replay.update(dets[i], frame=crops[i], warp=warps[i] if i == 20 else None)
        np.testing.assert_array_equal(out.tracker_id, straight[i].tracker_id)
        np.testing.assert_allclose(out.xyxy, straight[i].xyxy, atol=1e-4)
    assert replay.gmc == "sparse_flow" and replay.det_thresh == pytest.approx(0.25)
    with pytest.raises(ValueError, match="2x3"):
        replay.update(dets[0], warp=np.eye(3))


def _crossing(frames=24):
    """Two people side by side, overlapping, who swap places at frame 12 (as at a crossing)."""
    out = []
    for f in range(frames):
        a, b = (100.0, 115.0) if f < 12 else (115.0, 100.0)
        out.append(np.array([[a, 50, a + 50, 170], [b, 50, b + 50, 170]], np.float32))
    return out


def test_appearance_features_resolve_a_crossing():
    boxes = _crossing()
    person = [np.array([0, 1])] * len(boxes)  # row i of every frame's detections is person i
    looks = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

    def run(with_features: bool) -> list:
        tracker = BoTSORT(frame_rate=30, gmc="none")
        ids_per_person = {0: set(), 1: set()}
        for f, xyxy in enumerate(boxes):
            data = {"person": person[f]}
            if with_features:
                data["embedding"] = looks[person[f]]
            out = tracker.update(Detections(xyxy=xyxy, confidence=np.full(2, 0.9, np.float32), data=data))
            if f >= 1:
                for p, tid in zip(out.data["person"], out.tracker_id):
                    ids_per_person[int(p)].add(int(tid))
        return [len(ids_per_person[0]), len(ids_per_person[1])]

    assert run(with_features=False) != [1, 1]  # motion alone swaps (or loses) the two
    assert run(with_features=True) == [1, 1]   # appearance keeps each person's id


def test_reid_encoder_is_called_on_the_frame():
    """A real (if simple) encoder: mean colour of each box, computed from the image."""
    boxes = _crossing()
    colours = [(0, 0, 255), (255, 0, 0)]
    images, person = [], []
    for f, xyxy in enumerate(boxes):
        image = np.zeros((240, 320, 3), np.uint8)
        for p, box in enumerate(xyxy.astype(int)):  # row p is person p, in its own colour
            image[box[1]:box[3], box[0]:box[2]] = colours[p]
        images.append(image)
        person.append(np.array([0, 1]))
    calls = []

    def mean_colour(image, xyxy):
        calls.append(len(xyxy))
        return np.array([image[int(y0):int(y1), int(x0):int(x1)].reshape(-1, 3).mean(0) + 1
                         for x0, y0, x1, y1 in xyxy])

    tracker = BoTSORT(frame_rate=30, gmc="none", reid=mean_colour)
    ids = {0: set(), 1: set()}
    for f, xyxy in enumerate(boxes):
        out = tracker.update(Detections(xyxy=xyxy, confidence=np.full(2, 0.9, np.float32),
                                        data={"person": person[f]}), frame=images[f])
        if f >= 1:
            for p, tid in zip(out.data["person"], out.tracker_id):
                ids[int(p)].add(int(tid))
    assert calls == [2] * len(boxes)
    assert ids[0] != ids[1] and len(ids[0]) == len(ids[1]) == 1
    # features survive a snapshot
    state = tracker.state_dict()
    assert all(t["feature"] is not None for t in state["tracked"])
    clone = BoTSORT(reid=mean_colour)
    clone.load_state_dict(state)
    assert clone.reid is mean_colour and clone.state_dict() == state


def test_bad_arguments():
    with pytest.raises(TypeError, match="reid must be callable"):
        BoTSORT(reid="osnet")
    with pytest.raises(ValueError, match="appearance_thresh"):
        BoTSORT(appearance_thresh=2)
    tracker = BoTSORT(gmc="none")
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        tracker.update(Detections(xyxy=np.array([[0, 0, 10, 10]], np.float32), confidence=np.ones(1, np.float32),
                                  data={"embedding": np.ones(1)}))


def test_xywh_filter_follows_width():
    kf = KalmanFilterXYWH()
    mean, cov = kf.initiate(np.array([50.0, 60.0, 20.0, 40.0]))
    for width in np.linspace(22, 40, 10):
        mean, cov = kf.predict(mean, cov)
        mean, cov = kf.update(mean, cov, np.array([50.0, 60.0, width, 40.0]))
    assert mean[2] == pytest.approx(40.0, abs=2.0) and mean[6] > 0.5  # width and its growth rate
    np.testing.assert_allclose(kf.decode(mean[:4]), [50 - mean[2] / 2, 40, 50 + mean[2] / 2, 80], atol=1e-9)


# a real engine-side camera pan: the crop window wanders over the street clip
PAN = "crop=960:540:'160+120*sin(n/9)':'90+60*sin(n/7)'"


def _ids_and_boxes(pipeline):
    order = np.argsort(pipeline.last.tracker_id)
    return pipeline.last.tracker_id[order].tolist(), pipeline.last.xyxy[order].copy()


def _botsort_pipeline():
    from vistream.detect import MotionDetector

    return vistream.Pipeline(MotionDetector(), BoTSORT(frame_rate=30, track_thresh=0.5), snapshot_every=20)


def test_pipeline_replay_reuses_camera_motion(test_mp4):
    from test_pipeline import _ids_by_frame

    motion = []

    def record(pipeline):
        motion.append(pipeline.tracker.last_warp.copy())
        return _ids_and_boxes(pipeline)

    straight = _ids_by_frame(_botsort_pipeline, vistream, test_mp4, record=record, vfilter=PAN)
    moving = [w for w in motion if np.abs(w[:, 2]).max() > 1.0]
    assert len(moving) > 100  # the pan is real: replaying without the cached motion would differ
    visits = [("seek", {"index": 120}), ("step", -1), ("step", -3), ("seek", {"index": 47}), ("step", 1),
              ("seek", {"index": 200})]
    revisited = _ids_by_frame(_botsort_pipeline, vistream, test_mp4, visits, record=_ids_and_boxes, vfilter=PAN)
    assert set(revisited) == {120, 119, 116, 47, 48, 200}
    for index, (ids, boxes) in revisited.items():
        assert ids == straight[index][0], f"frame {index}"
        np.testing.assert_allclose(boxes, straight[index][1], atol=1e-3, err_msg=f"frame {index}")
    assert any(len(ids) >= 3 for ids, _ in revisited.values())
