"""Batch retrieval: ``Reader.frames_at``, ``Reader.frames_played_at`` and ``reader[...]``.

Ground truth is a plain sequential decode of the same file with the same Reader settings (md5 of
every frame) and, for times, ffprobe's frame timestamps. Besides ``python/test.mp4`` and the
suite's generated media, this module generates a 4 s B-frame clip with fixed 30-frame GOPs::

    ffmpeg -f lavfi -i testsrc2=size=320x240:rate=30:duration=4 -c:v libx264 -preset veryfast
           -pix_fmt yuv420p -bf 3 -g 30 -x264-params scenecut=0 -an gop30.mp4
    ffmpeg -i gop30.mp4 -c copy gop30.mkv        (same frames; mkv stores timestamps in whole ms)
"""
from __future__ import annotations

import bisect
import functools
import hashlib
import http.server
import random
import subprocess
import threading
import time
from collections.abc import Mapping

import numpy as np
import pytest

from conftest import TEST_MP4_FRAMES, ffprobe_frames, run_py_json

GOP = 30
GOP30_FRAMES = 120


@pytest.fixture(scope="module")
def gop30(tmp_path_factory):
    """The B-frame clip (mp4) and its mkv remux; see the module docstring."""
    directory = tmp_path_factory.mktemp("batch")
    mp4, mkv = directory / "gop30.mp4", directory / "gop30.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=320x240:rate=30:duration=4", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", "-bf", "3", "-g", str(GOP), "-x264-params", "scenecut=0", "-an",
                    str(mp4)], check=True, capture_output=True)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(mp4), "-c", "copy", str(mkv)],
                   check=True, capture_output=True)
    return {"mp4": mp4, "mkv": mkv}


def md5(array) -> str:
    return hashlib.md5(np.ascontiguousarray(array).tobytes()).hexdigest()


_sequential_cache: dict = {}


def sequential_md5s(vs, path, format="bgr24"):
    """md5 of every frame of a front-to-back decode (the reference every access must match)."""
    key = (str(path), format)
    if key not in _sequential_cache:
        with vs.Reader(path, format=format) as reader:
            frames = [(frame.index, md5(frame.array)) for frame in reader]
        assert [index for index, _ in frames] == list(range(len(frames)))
        _sequential_cache[key] = [digest for _, digest in frames]
    return _sequential_cache[key]


def seeks(reader) -> int:
    # Reader.stats is becoming a dataclass (issue 17's options work); read either form.
    stats = reader.stats
    return stats["seeks"] if isinstance(stats, Mapping) else stats.seeks


def frames_decoded(reader) -> int:
    stats = reader.stats
    return stats["frames_decoded"] if isinstance(stats, Mapping) else stats.frames_decoded


@pytest.fixture(params=["test.mp4", "gop30.mp4", "bframes", "opengop", "hevc", "vfr", "mpeg4", "mpeg2"])
def clip(request, test_mp4, gop30, media):
    """The street clip, the GOP-30 B-frame clip, and the suite's B-frame, open-GOP, HEVC, VFR, AVI and TS media."""
    if request.param == "test.mp4":
        return test_mp4
    if request.param == "gop30.mp4":
        return gop30["mp4"]
    return media[request.param]


def random_request(count: int, size: int, seed: int) -> list:
    """`size` indices in random order, with repeats and both ends of the video."""
    rng = random.Random(seed)
    picked = [rng.randrange(count) for _ in range(size - 6)] + [0, count - 1]
    picked += rng.sample(picked, 4)  # repeats
    rng.shuffle(picked)
    return picked


# --------------------------------------------------------------------------- frames_at

def test_frames_at_random_order_with_duplicates_matches_sequential_decode(vs, clip):
    expected = sequential_md5s(vs, clip)
    asked = random_request(len(expected), 40, seed=17)
    with vs.Reader(clip) as reader:
        frames = reader.frames_at(asked)
    assert [frame.index for frame in frames] == asked
    assert [md5(frame.array) for frame in frames] == [expected[i] for i in asked]
    # A repeated index is the same decoded frame, not a second decode.
    first = {}
    for index, frame in zip(asked, frames):
        assert first.setdefault(index, frame) is frame


def test_frames_at_stack_matches_sequential_decode(vs, clip):
    expected = sequential_md5s(vs, clip)
    asked = random_request(len(expected), 25, seed=4)
    with vs.Reader(clip) as reader:
        height, width = reader.info.height, reader.info.width
        batch = reader.frames_at(asked, stack=True)
    assert isinstance(batch, np.ndarray)
    assert batch.shape == (len(asked), height, width, 3) and batch.dtype == np.uint8
    assert batch.flags["C_CONTIGUOUS"] and batch.flags["WRITEABLE"]
    assert [md5(image) for image in batch] == [expected[i] for i in asked]


@pytest.mark.parametrize("format,frame_shape", [("gray", (240, 320)), ("rgba", (240, 320, 4)),
                                                ("yuv420p", (360, 320))])
def test_stack_has_the_layout_of_frame_array(vs, gop30, format, frame_shape):
    expected = sequential_md5s(vs, gop30["mp4"], format)
    asked = [77, 2, 2, 119]
    with vs.Reader(gop30["mp4"], format=format) as reader:
        batch = reader.frames_at(asked, stack=True)
        assert batch.shape == (len(asked),) + frame_shape
        assert reader[77].array.shape == frame_shape
    assert [md5(image) for image in batch] == [expected[i] for i in asked]


def test_frames_at_takes_numpy_indices_and_empty_requests(vs, gop30):
    expected = sequential_md5s(vs, gop30["mp4"])
    with vs.Reader(gop30["mp4"]) as reader:
        frames = reader.frames_at(np.array([9, 3, 9], dtype=np.int64))
        assert [md5(f.array) for f in frames] == [expected[9], expected[3], expected[9]]
        assert reader.frames_at([]) == []
        assert reader.frames_at([], stack=True).shape == (0, 240, 320, 3)


def test_iteration_continues_after_the_highest_index_fetched(vs, gop30):
    with vs.Reader(gop30["mp4"]) as reader:
        reader.frames_at([50, 12, 31])
        assert next(reader).index == 51


# --------------------------------------------------------------------------- seeks

def test_sorted_dense_indices_within_one_gop_seek_once(vs, gop30):
    """Frames 31..59 all follow keyframe 30: one seek, then decoding forward."""
    keyframes = [i for i, key in enumerate(ffprobe_frames(gop30["mp4"])["key"]) if key]
    assert keyframes == [0, 30, 60, 90], keyframes
    expected = sequential_md5s(vs, gop30["mp4"])
    with vs.Reader(gop30["mp4"]) as reader:
        before = seeks(reader)
        frames = reader.frames_at(range(31, 60))
        assert seeks(reader) - before <= 1
    assert [md5(f.array) for f in frames] == expected[31:60]


def test_strided_access_decodes_each_gop_once(vs, gop30):
    """Every 7th frame of the whole clip: at most one seek per GOP."""
    expected = sequential_md5s(vs, gop30["mp4"])
    with vs.Reader(gop30["mp4"]) as reader:
        before_seeks, before_decoded = seeks(reader), frames_decoded(reader)
        batch = reader.frames_at(range(0, GOP30_FRAMES, 7), stack=True)
        assert seeks(reader) - before_seeks <= GOP30_FRAMES // GOP
        # Each frame decoded at most once (seeks land on the keyframe that starts the target's
        # GOP, and frames are skipped, not decoded twice). One seek per wanted frame landing a
        # GOP early, as frame_at in a loop did, decoded over 600.
        assert frames_decoded(reader) - before_decoded <= GOP30_FRAMES
    assert [md5(image) for image in batch] == expected[0:GOP30_FRAMES:7]


def test_a_target_past_the_next_keyframe_is_sought_not_decoded_to(vs, gop30):
    """From frame 2, frame 95 is reached by seeking to keyframe 90, not by decoding 3..94."""
    with vs.Reader(gop30["mp4"]) as reader:
        before = frames_decoded(reader)
        reader.frames_at([2, 95])
        # Frame 2 of a fresh reader is decoded from the start (no seek); 95 is sought.
        assert seeks(reader) == 1
        assert frames_decoded(reader) - before < 60


# --------------------------------------------------------------------------- frames_played_at

def _times_to_probe(pts_times: list, seed: int) -> list:
    """Exact frame times, times inside frame intervals and times just before the next frame."""
    rng = random.Random(seed)
    times = []
    for _ in range(30):
        k = rng.randrange(len(pts_times) - 1)
        start, end = pts_times[k], pts_times[k + 1]
        times += [start, start + (end - start) * rng.uniform(0.05, 0.95), end - (end - start) * 0.02]
    return times


@pytest.mark.parametrize("name", ["test.mp4", "gop30.mp4", "vfr", "mpeg2"])
def test_frames_played_at_is_the_frame_whose_interval_holds_t(vs, test_mp4, gop30, media, name):
    path = {"test.mp4": test_mp4, "gop30.mp4": gop30["mp4"]}.get(name) or media[name]
    pts_times = ffprobe_frames(path)["pts_time"]
    expected = sequential_md5s(vs, path)
    assert len(pts_times) == len(expected)
    times = _times_to_probe(pts_times, seed=len(pts_times))
    on_screen = [bisect.bisect_right(pts_times, t) - 1 for t in times]
    with vs.Reader(path) as reader:
        frames = reader.frames_played_at(times)
        batch = reader.frames_played_at(times, stack=True)
    assert [f.index for f in frames] == on_screen
    assert [md5(f.array) for f in frames] == [expected[k] for k in on_screen]
    assert [md5(image) for image in batch] == [expected[k] for k in on_screen]


def test_frames_played_at_k_over_fps_is_frame_k_in_mkv(vs, gop30):
    """mkv rounds timestamps to whole ms (frame 122 is stored at 4.067 s, after 122/30 s)."""
    expected = sequential_md5s(vs, gop30["mkv"])
    with vs.Reader(gop30["mkv"]) as reader:
        frames = reader.frames_played_at([k / 30 for k in range(GOP30_FRAMES)])
    assert [f.index for f in frames] == list(range(GOP30_FRAMES))
    assert [md5(f.array) for f in frames] == expected


def test_the_last_frame_stays_on_screen_for_one_interval(vs, gop30):
    with vs.Reader(gop30["mp4"]) as reader:
        assert reader.frames_played_at([(GOP30_FRAMES - 0.5) / 30])[0].index == GOP30_FRAMES - 1
        with pytest.raises(vs.FrameIndexError):
            reader.frames_played_at([GOP30_FRAMES / 30 + 0.001])


# --------------------------------------------------------------------------- reader[...]

def test_indexing_and_slicing(vs, gop30):
    expected = sequential_md5s(vs, gop30["mp4"])
    n = len(expected)
    with vs.Reader(gop30["mp4"]) as reader:
        assert md5(reader[5].array) == expected[5]
        assert reader[-1].index == n - 1 and md5(reader[-1].array) == expected[-1]
        assert reader[-n].index == 0
        for key in (slice(None, None, 10), slice(40, 47), slice(-5, None), slice(100, 80, -3),
                    slice(None, None, -25), slice(200, 300)):
            frames = reader[key]
            assert isinstance(frames, list)
            assert [md5(f.array) for f in frames] == expected[key], key
        with pytest.raises(IndexError):
            reader[n]
        with pytest.raises(vs.FrameIndexError):
            reader[-n - 1]
        with pytest.raises(TypeError):
            reader[1.5]


def test_test_mp4_every_tenth_frame(vs, test_mp4):
    expected = sequential_md5s(vs, test_mp4)
    assert len(expected) == TEST_MP4_FRAMES
    with vs.Reader(test_mp4) as reader:
        frames = reader[::10]
        batch = reader.frames_at(range(0, TEST_MP4_FRAMES, 10), stack=True)
    assert [f.index for f in frames] == list(range(0, TEST_MP4_FRAMES, 10))
    assert [md5(f.array) for f in frames] == expected[::10]
    assert batch.shape == (TEST_MP4_FRAMES // 10, 720, 1280, 3)
    assert [md5(image) for image in batch] == expected[::10]


# --------------------------------------------------------------------------- DLPack

def test_stack_exports_through_dlpack(vs, gop30):
    import torch  # installed with the test dependencies; a missing torch is an environment failure

    expected = sequential_md5s(vs, gop30["mp4"])
    with vs.Reader(gop30["mp4"], format="rgb24") as reader:
        batch = reader.frames_at([3, 60, 3], stack=True)
    tensor = torch.from_dlpack(batch)
    assert tuple(tensor.shape) == (3, 240, 320, 3) and tensor.dtype == torch.uint8
    view = np.from_dlpack(batch)
    assert np.shares_memory(view, batch)
    tensor[1, 0, 0, 0] = 7  # one buffer: torch's writes show in numpy
    assert batch[1, 0, 0, 0] == 7 and view[1, 0, 0, 0] == 7
    del tensor, view
    rgb = sequential_md5s(vs, gop30["mp4"], "rgb24")
    assert md5(batch[0]) == rgb[3] and md5(batch[2]) == rgb[3]
    assert rgb[3] != expected[3]  # rgb24, not the default bgr24


# --------------------------------------------------------------------------- errors

def test_out_of_range_indices_raise_before_anything_moves(vs, gop30):
    with vs.Reader(gop30["mp4"]) as reader:
        for _ in range(3):
            next(reader)
        with pytest.raises(vs.FrameIndexError, match="out of range") as caught:
            reader.frames_at([0, GOP30_FRAMES])
        assert isinstance(caught.value, IndexError) and isinstance(caught.value, vs.VistreamError)
        with pytest.raises(IndexError):
            reader.frames_at([-GOP30_FRAMES - 1], stack=True)
        with pytest.raises(IndexError):
            reader.frames_at([2**70])
        assert next(reader).index == 3  # the failed requests did not move the reader


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_times_raise_value_error(vs, gop30, bad):
    with vs.Reader(gop30["mp4"]) as reader:
        with pytest.raises(ValueError):
            reader.frames_played_at([0.5, bad])
        with pytest.raises(ValueError):
            reader.frames_played_at(np.array([bad]), stack=True)


def test_times_outside_the_video_raise_frame_index_error(vs, gop30, media):
    with vs.Reader(gop30["mp4"]) as reader:
        with pytest.raises(vs.FrameIndexError):
            reader.frames_played_at([-0.1])
        with pytest.raises(vs.FrameIndexError):
            reader.frames_played_at([1e300])
    # The TS clip's clock starts at ~1.4 s: t=0 is before its first frame.
    with vs.Reader(media["mpeg2"]) as reader:
        first = next(reader).time
        assert first > 1.0
        with pytest.raises(vs.FrameIndexError):
            reader.frames_played_at([0.0])
        assert reader.frames_played_at([first])[0].index == 0


def test_bad_argument_types(vs, gop30):
    with vs.Reader(gop30["mp4"]) as reader:
        for bad in (3, "12", [1.0], [True], np.array([1.5]), np.zeros((2, 2), dtype=int)):
            with pytest.raises(TypeError):
                reader.frames_at(bad)
        for bad in (0.5, ["1"], [None]):
            with pytest.raises(TypeError):
                reader.frames_played_at(bad)
        with pytest.raises(TypeError):
            reader.frames_at([1], stack="yes")


def test_non_seekable_source_raises_source_error(vs, media):
    """Python's http.server ignores Range requests, so FFmpeg cannot seek the stream (the clip
    has its moov first, so it can still be read front to back)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(media["bframes"].parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{media['bframes'].name}"
        with vs.Reader(url) as reader:
            with pytest.raises(vs.SourceError, match="not seekable"):
                reader.frames_at([3])
            with pytest.raises(vs.SourceError, match="not seekable"):
                reader.frames_played_at([0.1], stack=True)
            with pytest.raises(vs.SourceError):
                reader[::2]
            assert next(reader).index == 0  # still readable from where it was
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- threads

def test_batch_releases_the_gil(vs, test_mp4):
    """Another Python thread keeps running while a batch decodes."""
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    with vs.Reader(test_mp4, format="gray") as reader:
        counter = threading.Thread(target=count)
        counter.start()
        try:
            # Batches until 0.3 s have passed (one batch of the clip took 0.2-0.3 s, too close
            # to tell on a fast run): each seeks back to the start and decodes every other frame.
            start = time.monotonic()
            batches = 0
            while batches < 2 or time.monotonic() - start < 0.3:
                reader.frames_at(range(batches % 2, TEST_MP4_FRAMES, 2), stack=True)
                batches += 1
            end = time.monotonic()
        finally:
            done.set()
            counter.join()
    during = [t for t in ticks if start < t < end]
    # Holding the GIL for the whole batch would leave the counter at a tick or two per batch.
    assert len(during) >= 20 + 2 * batches, (len(during), batches, end - start)


def test_concurrent_batches_and_close_from_another_thread(gop30):
    """Two threads fetch batches from one Reader, then a third closes it mid-batch. In a child:
    the failure guarded against is a crash or a hang."""
    result = run_py_json(f"""
        import hashlib, json, threading, time
        import numpy as np
        import vistream as vs
        path = {str(gop30["mp4"])!r}
        with vs.Reader(path, format="gray") as r:
            truth = [hashlib.md5(f.array.tobytes()).hexdigest() for f in r]
        reader = vs.Reader(path, format="gray")
        out = {{"wrong": 0, "errors": [], "batches": 0, "stopped_by_close": 0}}
        closed = threading.Event()

        def work(offset):
            round = 0
            while True:  # until close() ends it
                round += 1
                asked = list(range(offset + round % 7, {GOP30_FRAMES}, 9))[::-1]
                try:
                    batch = reader.frames_at(asked, stack=round % 2 == 0)
                except ValueError as error:
                    if closed.is_set() and "closed Reader" in str(error):
                        out["stopped_by_close"] += 1
                        return
                    out["errors"].append(repr(error))
                    return
                except Exception as error:
                    out["errors"].append(repr(error))
                    return
                got = [hashlib.md5(np.ascontiguousarray(f if isinstance(f, np.ndarray) else f.array).tobytes()).hexdigest()
                       for f in batch]
                out["wrong"] += sum(g != truth[i] for g, i in zip(got, asked))
                out["batches"] += 1

        threads = [threading.Thread(target=work, args=(k,)) for k in (0, 5)]
        for t in threads:
            t.start()
        time.sleep(3)
        closed.set()
        reader.close()
        for t in threads:
            t.join(30)
        out["ended"] = not any(t.is_alive() for t in threads)
        print(json.dumps(out))
    """, timeout=120)
    assert result["ended"], result
    assert result["errors"] == [] and result["wrong"] == 0, result
    assert result["batches"] >= 4 and result["stopped_by_close"] == 2, result


def test_batch_survives_reader_close(test_mp4):
    """A stacked batch and listed frames own their memory: usable after the Reader is gone."""
    result = run_py_json(f"""
        import gc, hashlib, json
        import numpy as np
        import vistream as vs
        reader = vs.Reader({str(test_mp4)!r}, format="gray")
        batch = reader.frames_at([100, 4], stack=True)
        frames = reader.frames_at([100, 4])
        copies = [batch.copy(), [f.array.copy() for f in frames]]
        reader.close()
        del reader
        gc.collect()
        with vs.Reader({str(test_mp4)!r}, format="gray") as other:  # churn the allocator
            junk = [f.array.copy() for f in other]
        ok = bool(np.array_equal(batch, copies[0])) and all(
            np.array_equal(f.array, c) for f, c in zip(frames, copies[1]))
        same = bool(np.array_equal(batch[0], frames[0].array))
        print(json.dumps({{"ok": ok, "same": same}}))
    """)
    assert result == {"ok": True, "same": True}


def test_a_frame_the_decoder_cannot_produce_is_a_decode_error(vs, media):
    """The corrupt clip lists frames its damaged packets cannot yield: asking for one is a
    DecodeError naming it, not another frame in its place; the others still match."""
    with vs.Reader(media["corrupt"]) as reader:
        decoded = {frame.index: md5(frame.array) for frame in reader}
        missing = sorted(set(range(len(reader))) - set(decoded))
        assert missing, "the corrupted clip should lose at least one frame"
        with pytest.raises(vs.DecodeError, match=f"frame {missing[0]} "):
            reader.frames_at([0, missing[0]])
        fine = sorted(decoded)[::4]
        assert [md5(f.array) for f in reader.frames_at(fine[::-1])] == [decoded[i] for i in fine[::-1]]


# --------------------------------------------------------------------------- targeted decoding

def packets_read(reader) -> int:
    return reader.stats.packets_read


def test_a_keyframe_target_costs_one_packet_and_one_decoded_frame(vs, gop30):
    """A keyframe reached by a jump is its own packet's decode: no frames in flight behind it
    (a frame-threaded decoder otherwise reads ~threads + reorder-delay packets before the
    keyframe comes out, and the next seek throws them away)."""
    expected = sequential_md5s(vs, gop30["mp4"])
    with vs.Reader(gop30["mp4"]) as reader:
        for keyframe in (90, 30, 60):
            before = (packets_read(reader), frames_decoded(reader))
            [frame] = reader.frames_at([keyframe])
            assert (packets_read(reader) - before[0], frames_decoded(reader) - before[1]) == (1, 1), keyframe
            assert md5(frame.array) == expected[keyframe]
        for keyframe in (90, 30):
            before = (packets_read(reader), frames_decoded(reader))
            frame = reader.frame_at(keyframe)
            assert (packets_read(reader) - before[0], frames_decoded(reader) - before[1]) == (1, 1), keyframe
            assert md5(frame.array) == expected[keyframe]


def test_reading_on_after_a_targeted_batch_yields_the_sequential_frames(vs, clip):
    """A batch skips non-targets and drains after its last target; reading on from there must
    still give every following frame, exactly."""
    expected = sequential_md5s(vs, clip)
    last = len(expected) - 1
    for asked in ([last // 2, 3], [last // 3], [min(last, 30)]):
        with vs.Reader(clip) as reader:
            reader.frames_at(asked)
            following = [(frame.index, md5(frame.array)) for _, frame in zip(range(6), reader)]
        start = max(asked) + 1
        assert following == [(i, expected[i]) for i in range(start, min(start + 6, last + 1))], asked


@pytest.fixture(scope="module")
def gop30_p_only(tmp_path_factory):
    """Like gop30.mp4 but without B-frames (I and P only), so the frames a batch must decode are
    exactly known: every frame from each target's keyframe up to the GOP's last target."""
    path = tmp_path_factory.mktemp("batch_p") / "gop30-p.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=320x240:rate=30:duration=4", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", "-bf", "0", "-g", str(GOP), "-x264-params", "scenecut=0", "-an",
                    str(path)], check=True, capture_output=True)
    return path


def test_clustered_runs_decode_each_gop_once_up_to_its_last_target(vs, gop30_p_only):
    """Runs of nearby frames asked in random order (a training sampler's clips): two runs share
    GOP 0, two share GOP 30. The batch decodes each GOP once, forward from its keyframe to its
    last target, never going back into a GOP it has decoded: 0..15, 30..53 and 90..104."""
    runs = [range(40, 45), range(3, 8), range(100, 105), range(50, 54), range(12, 16)]
    wanted = [i for run in runs for i in run]
    expected = sequential_md5s(vs, gop30_p_only)
    with vs.Reader(gop30_p_only) as reader:
        before_seeks, before_decoded = seeks(reader), frames_decoded(reader)
        frames = reader.frames_at(wanted)
        assert frames_decoded(reader) - before_decoded == 16 + 24 + 15
        assert seeks(reader) - before_seeks <= 3  # GOP 0 may be read from the start without one
    assert [md5(f.array) for f in frames] == [expected[i] for i in wanted]


def test_a_stream_that_changes_size_keeps_each_frames_size_and_refuses_to_stack_them(vs, tmp_path):
    # Two MPEG-TS segments of different sizes, one after the other (as a camera that changes its
    # resolution, or a spliced broadcast, sends them): 10 frames of 64x48, then 10 of 96x64.
    parts = []
    for number, (size, offset) in enumerate((("64x48", 0), ("96x64", 1))):
        part = tmp_path / f"part{number}.ts"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
                        "-i", f"testsrc2=size={size}:rate=10:duration=1", "-c:v", "libx264", "-preset", "ultrafast",
                        "-g", "5", "-output_ts_offset", str(offset), "-f", "mpegts", str(part)], check=True)
        parts.append(part.read_bytes())
    spliced = tmp_path / "spliced.ts"
    spliced.write_bytes(b"".join(parts))
    with vs.Reader(spliced, format="rgb24") as reader:
        assert (reader.info.width, reader.info.height) == (64, 48)  # as the stream opens
        sizes = [(frame.index, frame.width, frame.height, frame.array.shape) for frame in reader]
        assert [s[0] for s in sizes] == list(range(20))
        assert all(s[1:] == (64, 48, (48, 64, 3)) for s in sizes[:10]), sizes
        assert all(s[1:] == (96, 64, (64, 96, 3)) for s in sizes[10:]), sizes
        frames = reader.frames_at([15, 2])
        assert [f.array.shape for f in frames] == [(64, 96, 3), (48, 64, 3)]
        with pytest.raises(vs.FrameSizeMismatchError, match="different sizes") as raised:
            reader.frames_at([2, 15], stack=True)
        assert isinstance(raised.value, ValueError)
        assert reader.frames_at([12, 15, 19], stack=True).shape == (3, 64, 96, 3)


def test_a_batch_that_cannot_fit_in_memory_is_refused_before_decoding(vs, test_mp4):
    from vistream.reader import _check_batch_fits

    with vs.Reader(test_mp4) as reader:
        next(reader)
        # a million slots of 1280x720 bgr24 (2.7 TB): refused at once, naming a size that fits
        with pytest.raises(MemoryError, match=r"1000000 frames of 1280x720 bgr24 need .* GiB.* at a time"):
            reader.frames_at([5] * 1_000_000, stack=True)
        assert next(reader).index == 1, "nothing was fetched: a batch moves iteration past its highest index"
        # a list holds each distinct frame once: the same repeated index is one frame
        assert len(reader.frames_at([5] * 1000)) == 1000
        info = reader.info
    frame_bytes = 1280 * 720 * 3
    _check_batch_fits(info, 100, "frames_at", available=100 * frame_bytes)  # fits exactly
    with pytest.raises(MemoryError, match="101 frames"):
        _check_batch_fits(info, 101, "frames_at", available=100 * frame_bytes)
