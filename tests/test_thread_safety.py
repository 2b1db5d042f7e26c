"""Engine objects used from several threads, and what a failed run leaves behind.

Each scenario runs in a child interpreter: the failure being guarded against is a crash
(SIGABRT/SIGSEGV inside FFmpeg), a hang or a leak of native threads, none of which pytest
itself could report.
"""
from __future__ import annotations

from conftest import TEST_MP4_FRAMES, run_py, run_py_json


def test_reader_seeked_while_another_thread_iterates_never_crashes(test_mp4):
    """One thread iterates, one seeks at random for 30 s, then a third closes the Reader."""
    p = run_py(f"""
        import json, random, threading, time
        import vistream as vs
        reader = vs.Reader({str(test_mp4)!r}, format="gray")
        stop = threading.Event()
        closed = threading.Event()
        result = {{"frames": 0, "seeks": 0, "bad_index": 0, "errors": []}}

        def record(error):
            # After close() every call must fail cleanly with "closed Reader"; before it, nothing.
            if not (closed.is_set() and "closed Reader" in str(error)):
                result["errors"].append(repr(error))

        def iterate():
            while not stop.is_set():
                try:
                    for frame in reader:
                        result["frames"] += 1
                        if not 0 <= frame.index < {TEST_MP4_FRAMES} or frame.array.shape != (720, 1280):
                            result["bad_index"] += 1
                        if stop.is_set():
                            return
                except Exception as error:
                    record(error)
                    return

        def seek():
            rng = random.Random(9)
            while not stop.is_set():
                try:
                    if rng.random() < 0.5:
                        reader.seek(index=rng.randrange(0, {TEST_MP4_FRAMES} + 5))
                    else:
                        reader.seek(time=rng.uniform(0, 8.5))
                    result["seeks"] += 1
                except Exception as error:
                    record(error)
                    return

        threads = [threading.Thread(target=iterate), threading.Thread(target=seek)]
        for t in threads:
            t.start()
        time.sleep(30)
        closed.set()  # from now on the other threads may see "closed Reader"
        closer = threading.Thread(target=reader.close)
        closer.start()
        closer.join(20)
        result["close_returned"] = not closer.is_alive()
        stop.set()
        for t in threads:
            t.join(20)
        result["threads_ended"] = not any(t.is_alive() for t in threads)
        print(json.dumps(result))
    """, timeout=120)
    assert p.returncode == 0, (f"child died with status {p.returncode} (negative = signal: -6 abort, "
                               f"-11 segfault)\nstderr:\n{p.stderr[-3000:]}")
    result = __import__("json").loads(p.stdout.strip().splitlines()[-1])
    assert result["close_returned"] and result["threads_ended"], result
    assert result["errors"] == [], result
    assert result["bad_index"] == 0, result
    assert result["frames"] > 20 and result["seeks"] > 20, result


def test_two_threads_iterating_one_reader_share_its_frames(media):
    """Each frame goes to exactly one of the threads; nothing raises (no FilterError)."""
    res = run_py_json(f"""
        import json, threading
        import vistream as vs
        reader = vs.Reader({str(media['bframes'])!r})
        got = [[], []]
        errors = []
        def take(slot):
            try:
                for frame in reader:
                    got[slot].append(frame.index)
                    frame.array[0, 0] = 0   # touch the pixels too
            except Exception as error:
                errors.append(repr(error))
        threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        reader.close()
        print(json.dumps({{"got": got, "errors": errors}}))
    """)
    assert res["errors"] == []
    every = sorted(res["got"][0] + res["got"][1])
    assert every == list(range(60)), "each of the 60 frames must be delivered exactly once"
    for indices in res["got"]:
        assert indices == sorted(indices), "each thread sees frames in display order"


def test_frame_at_is_atomic_against_a_concurrent_iteration(media):
    """frame_at(i) always returns frame i, even while another thread pulls frames."""
    res = run_py_json(f"""
        import json, random, threading
        import vistream as vs
        reader = vs.Reader({str(media['bframes'])!r}, format="gray")
        stop = threading.Event()
        def drain():
            while not stop.is_set():
                for _ in reader:
                    if stop.is_set():
                        break
        t = threading.Thread(target=drain)
        t.start()
        rng = random.Random(3)
        wrong = []
        for _ in range(60):
            i = rng.randrange(60)
            frame = reader.frame_at(i)
            if frame.index != i:
                wrong.append((i, frame.index))
        stop.set()
        t.join()
        reader.close()
        print(json.dumps({{"wrong": wrong}}))
    """, timeout=120)
    assert res["wrong"] == []


def test_players_whose_callback_raised_are_fully_released(test_mp4, tmp_path):
    """50 Players at 720p with an output file, each stopped by an exception from its callback.

    Before: each leaked ~100 MB, 10 threads and an fd (the stored exception's traceback held the
    Player). Tolerance: RSS after the warm-up runs moves by +-30 MB from glibc arena reuse
    (measured); one leaked Player alone holds ~100 MB (decoder and encoder frame pools at 720p),
    so 50 MB of growth over 45 runs is the line between noise and even a single leak.
    """
    res = run_py_json(f"""
        import gc, json, os
        import vistream as vs
        page = os.sysconf("SC_PAGE_SIZE")
        def rss_mb():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * page / 2**20
        def threads():
            return len(os.listdir("/proc/self/task"))
        def fds():
            return len(os.listdir("/proc/self/fd"))
        def once(i):
            player = vs.Player({str(test_mp4)!r}, output={str(tmp_path)!r} + f"/out{{i % 2}}.mp4")
            @player.on_frame
            def draw(frame):
                frame.array[:20] = 0
                if frame.index == 8:
                    player.pause  # the closure references its Player, as callbacks often do
                    raise RuntimeError("callback failed")
            try:
                player.run()
            except RuntimeError:
                pass
            else:
                raise AssertionError("the callback's exception was not re-raised")
        samples = []
        for i in range(50):
            once(i)
            gc.collect()
            samples.append((rss_mb(), threads(), fds()))
            if samples[-1][1] > samples[0][1] + 30:
                break  # leaking threads: enough evidence, do not exhaust the machine
        print(json.dumps(samples))
    """, timeout=600)
    assert len(res) == 50, f"threads grew run after run: {[s[1] for s in res]}"
    rss = [s[0] for s in res]
    threads = [s[1] for s in res]
    fds = [s[2] for s in res]
    assert max(threads[5:]) <= threads[4], f"native threads left behind: {threads}"
    assert max(fds[5:]) <= fds[4], f"file descriptors left open: {fds}"
    assert max(rss[5:]) - max(rss[:5]) < 50, f"RSS grew (MB): {[round(r) for r in rss]}"


def test_player_and_callback_referencing_each_other_are_collected(media, tmp_path):
    """A callback closing over its Player (p.stop()) forms a cycle through native code; the
    garbage collector must still free it, whether or not the Player ever ran."""
    res = run_py_json(f"""
        import gc, json, weakref
        import vistream as vs
        def make(run):
            player = vs.Player({str(media['noaudio'])!r}, output={str(tmp_path)!r} + "/cycle.mp4")
            @player.on_frame
            def draw(frame):
                if frame.index == 3:
                    player.stop()
            @player.on_key
            def key(name):
                return player.paused
            if run:
                player.run()
            return weakref.ref(player), weakref.ref(draw)
        refs = [make(False), make(True)]
        gc.collect()
        print(json.dumps([[r() is None for r in pair] for pair in refs]))
    """)
    assert res == [[True, True], [True, True]]


def test_kept_frame_timestamps_never_change_while_encoding(test_mp4, tmp_path):
    """With start= the encoder shifts timestamps; it must do so on its own frame reference, not
    on the frame Python (and the display) still hold."""
    res = run_py_json(f"""
        import json, time
        import vistream as vs
        player = vs.Player({str(test_mp4)!r}, output={str(tmp_path)!r} + "/trim.mp4", start=2.0,
                           end=4.0, audio=False)
        kept = []
        changed = []
        @player.on_frame
        def watch(frame):
            kept.append((frame, frame.pts))
            # While this callback runs, the encoder works on the previous frames.
            deadline = time.perf_counter() + 0.01
            while time.perf_counter() < deadline:
                for old, pts in kept[-3:]:
                    if old.pts != pts:
                        changed.append((old.index, pts, old.pts))
        stats = player.run()
        changed += [(f.index, pts, f.pts) for f, pts in kept if f.pts != pts]
        print(json.dumps({{"changed": changed[:5], "encoded": stats.frames_encoded}}))
    """, timeout=180)
    assert res["encoded"] > 30
    assert res["changed"] == [], "a frame's pts changed under Python while it was encoded"
