"""A vfilter that changes the timeline (issue 10): with ``vfilter="fps=10"`` the 240-frame test clip
gives 80 frames, and len(), indexes, index/time seeks and batch retrieval must all follow those 80
frames (before: len() said 240 and seek(index=20) landed at 0.7 s instead of 2.0 s). A filter that
drops frames by their content cannot be indexed ahead: it raises FilterError, iteration still works.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest


def _md5(frame) -> str:
    return hashlib.md5(np.ascontiguousarray(frame.array).tobytes()).hexdigest()


def _sequential(vs, path, vfilter):
    with vs.Reader(path, vfilter=vfilter) as reader:
        return [(frame.index, round(frame.time, 6), _md5(frame)) for frame in reader]


@pytest.fixture(scope="module")
def fps10(vs, test_mp4):
    return _sequential(vs, test_mp4, "fps=10")


def test_len_and_indexes_follow_the_filtered_frames(vs, test_mp4, fps10):
    assert [index for index, _, _ in fps10] == list(range(80))
    with vs.Reader(test_mp4, vfilter="fps=10") as reader:
        assert len(reader) == 80
        assert reader.info.frame_count == 80


def test_seeks_land_on_the_filtered_frame(vs, test_mp4, fps10):
    with vs.Reader(test_mp4, vfilter="fps=10") as reader:
        reader.seek(index=20)
        frame = next(reader)
        assert (frame.index, round(frame.time, 6), _md5(frame)) == fps10[20]
        assert frame.time == pytest.approx(2.0)
        reader.seek(time=4.05)
        assert next(reader).index == 40
        # Backward, forward within reach, far forward, the last one, then reading on.
        for k in (5, 7, 63, 79, 0, 41):
            frame = reader.frame_at(k)
            assert (frame.index, round(frame.time, 6), _md5(frame)) == fps10[k], k
        following = [(f.index, round(f.time, 6), _md5(f)) for _, f in zip(range(3), reader)]
        assert following == fps10[42:45]
        reader.seek(index=80)
        with pytest.raises(StopIteration):
            next(reader)


def test_batches_follow_the_filtered_frames(vs, test_mp4, fps10):
    asked = [50, 3, 79, 3, 21]
    with vs.Reader(test_mp4, vfilter="fps=10") as reader:
        frames = reader.frames_at(asked)
        assert [(f.index, round(f.time, 6), _md5(f)) for f in frames] == [fps10[k] for k in asked]
        assert [f.index for f in reader.frames_played_at([0.0, 2.05, 7.95])] == [0, 20, 79]
        assert [f.index for f in reader[70::4]] == [70, 74, 78]
        with pytest.raises(IndexError):
            reader.frames_at([80])


def test_a_frame_counting_filter_is_still_exact(vs, test_mp4):
    """select on n counts from the start: restarting at a keyframe would pick other frames; the
    seek notices and filters from the start."""
    expected = _sequential(vs, test_mp4, "select='not(mod(n\\,3))'")
    assert len(expected) == 80
    with vs.Reader(test_mp4, vfilter="select='not(mod(n\\,3))'") as reader:
        assert len(reader) == 80
        for k in (61, 2, 40):
            frame = reader.frame_at(k)
            assert (frame.index, round(frame.time, 6), _md5(frame)) == expected[k], k


def test_a_content_dependent_filter_cannot_be_indexed(vs, test_mp4):
    with vs.Reader(test_mp4, vfilter="mpdecimate") as reader:
        with pytest.raises(vs.FilterError, match="content"):
            len(reader)
        with pytest.raises(vs.FilterError, match="content"):
            reader.seek(index=3)
        assert sum(1 for _ in reader) > 0


def test_a_timeline_preserving_filter_keeps_the_stream_index(vs, test_mp4):
    with vs.Reader(test_mp4, vfilter="hflip") as reader:
        assert len(reader) == 240
        assert reader.frame_at(100).index == 100


def _open_cpu_seconds(vs, path, vfilter) -> float:
    """CPU time of this process for opening a Reader (the timeline probe runs at open)."""
    import resource

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    before = cpu()
    with vs.Reader(path, vfilter=vfilter) as reader:
        len(reader)
        return cpu() - before


def test_the_timeline_probe_skips_frame_for_frame_filters(vs, test_mp4, fps10):
    # The probe runs the filter once per frame of the video: a 1080p lanczos scale in front of
    # fps= took ~2 ms per frame (seconds per minute of video) at every open, for a timeline the
    # fps filter alone decides. Now the probe leaves scale (and other frame-for-frame filters)
    # out; CPU time (not wall time) so that a loaded machine does not decide the outcome.
    chain = "scale=1920:1080:flags=lanczos,fps=10,drawbox=x=10:y=10:w=50:h=50"
    plain = min(_open_cpu_seconds(vs, test_mp4, "fps=10") for _ in range(2))
    scaled = min(_open_cpu_seconds(vs, test_mp4, chain) for _ in range(2))
    assert scaled < plain + 0.15, (plain, scaled)
    # ...and the timeline, seeks and batches are still the filtered frames'.
    with vs.Reader(test_mp4, vfilter=chain) as reader:
        assert len(reader) == 80
        assert [(f.index, round(f.time, 6)) for f in reader.frames_at([20, 79, 3])] == \
            [fps10[k][:2] for k in (20, 79, 3)]


def test_quoted_commas_stay_inside_their_filter(vs, test_mp4):
    # select's expression holds commas inside quotes: they do not split the chain in the probe.
    vfilter = "scale=160:120,select='between(t,1,2)+between(t,5,5.5)',setpts=N/(30*TB)"
    sequential = _sequential(vs, test_mp4, vfilter)
    assert 40 <= len(sequential) <= 47  # frames within [1, 2] s and [5, 5.5] s of the clip
    with vs.Reader(test_mp4, vfilter=vfilter) as reader:
        assert len(reader) == len(sequential)
        frames = reader.frames_at([40, 0, 31])
        assert [(f.index, round(f.time, 6), _md5(f)) for f in frames] == [sequential[k] for k in (40, 0, 31)]
