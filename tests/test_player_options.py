"""Options travel as one typed struct, checked once by the engine; stats come back as dataclasses.

The rules (ranges, spellings, defaults, whether sound is played) live in C++
(src/player_options.cpp): the same error, naming the option, whether the options come from
``vistream.Player(...)`` or are built on ``vistream._core`` directly.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import warnings

import pytest

from conftest import TEST_MP4_FRAMES
from vistream.stats import CacheStats

# (Player keyword, value, where the option lives in _core.PlayerOptions, name the error starts with)
OUT_OF_RANGE = [
    ("speed", 100.0, "speed", "speed"),
    ("speed", 0.0, "speed", "speed"),
    ("start", -1.0, "start", "start"),
    ("end", -2.0, "end", "end"),
    ("threads", -1, "source.threads", "threads"),
    ("format", "xyz", "source.format", "format"),
    ("cache_bytes", -1, "source.cache_bytes", "cache_bytes"),
    ("timeout", 0, "source.open_timeout", "open_timeout"),
    ("timeout", math.nan, "source.open_timeout", "open_timeout"),
    ("crf", -3, "encoder.crf", "crf"),
    ("gop", -2, "encoder.gop", "gop"),
    ("bitrate", -1, "encoder.bitrate", "bitrate"),
    ("encoder", "", "encoder.encoder", "encoder"),
    ("mode", "fastest", "mode", "mode"),
]


def _set(options, path: str, value) -> None:
    *parents, name = path.split(".")
    target = options
    for parent in parents:
        target = getattr(target, parent)
    setattr(target, name, value)


@pytest.mark.parametrize("keyword, value, path, name", OUT_OF_RANGE, ids=lambda v: str(v))
def test_an_option_out_of_range_is_refused_by_the_engine_naming_it(vs, tmp_path, keyword, value, path, name):
    # A source that does not exist: the options are refused before anything is opened.
    missing = str(tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match=rf"^{name}\b") as from_player:
        vs.Player(missing, **{keyword: value})
    with pytest.raises(ValueError, match=rf"^{name}\b") as from_core:
        options = vs._core.PlayerOptions()
        _set(options, path, value)
        vs._core.Player(missing, options)
    assert str(from_player.value) == str(from_core.value), "one rule, one message"


@pytest.mark.parametrize("keyword, value, name", [
    ("speed", "fast", "speed"), ("speed", True, "speed"), ("threads", 1.5, "threads"),
    ("start", "0", "start"), ("play_audio", "yes", "play_audio"), ("title", 3, "title"),
    ("timeout", "10", "open_timeout"),
])
def test_a_value_of_the_wrong_type_is_a_type_error_naming_the_option(vs, test_mp4, keyword, value, name):
    with pytest.raises(TypeError, match=rf"^{name} must be"):
        vs.Player(test_mp4, **{keyword: value})


def test_core_options_are_keyword_built_typed_structs(vs):
    core = vs._core
    options = core.PlayerOptions(speed=2, end=1.5, source=core.SourceOptions(format="rgb24", threads=2))
    assert options.speed == 2.0 and isinstance(options.speed, float)
    assert options.end == 1.5 and options.start == 0.0
    assert options.source.format == "rgb24" and options.source.threads == 2
    options.encoder.crf = 18  # nested options are edited in place
    assert options.encoder.crf == 18
    assert "speed=2.0" in repr(options)
    with pytest.raises(TypeError, match="unexpected keyword argument 'sped'"):
        core.PlayerOptions(sped=2)
    with pytest.raises(TypeError, match="^source must be a SourceOptions"):
        core.PlayerOptions(source={"format": "rgb24"})


def test_player_defaults_are_the_engines(vs):
    """Every default of vistream.Player's signature is read from the engine's PlayerOptions."""
    defaults = vs._core.PlayerOptions()
    where = {
        "vfilter": "source.vfilter", "hwaccel": "source.hwaccel", "format": "source.format",
        "threads": "source.threads", "cache_bytes": "source.cache_bytes", "afilter": "afilter",
        "encoder": "encoder.encoder", "codec": "encoder.codec", "bitrate": "encoder.bitrate",
        "crf": "encoder.crf", "preset": "encoder.preset", "gop": "encoder.gop", "mode": "mode",
        "audio": "audio", "start": "start", "end": "end", "speed": "speed", "paused": "paused",
        "exit_at_end": "exit_at_end", "loop": "loop", "play_audio": "play_audio", "display": "display",
        "fullscreen": "display_options.fullscreen", "osd": "display_options.osd", "title": "display_options.title",
    }
    parameters = inspect.signature(vs.Player).parameters
    for keyword, path in where.items():
        value = defaults
        for part in path.split("."):
            value = getattr(value, part)
        assert parameters[keyword].default == value, keyword
    # The decoded-frame cache: on by default for a Player (one constant in C++), off for a Reader.
    assert defaults.source.cache_bytes == 256 << 20
    assert vs._core.SourceOptions().cache_bytes == 0
    reader_parameters = inspect.signature(vs.Reader).parameters
    assert reader_parameters["format"].default == vs._core.SourceOptions().format


@pytest.mark.parametrize("options, plays", [
    ({}, False),                                              # offline, headless: not paced
    ({"play_audio": True}, False),                            # asked, but nothing paces it
    ({"mode": "realtime"}, True),                             # paced: sound by default
    ({"mode": "realtime", "audio": False}, False),            # audio off turns the default off
    ({"mode": "realtime", "audio": False, "play_audio": True}, True),
    ({"mode": "realtime", "play_audio": False}, False),
    ({"display": True}, True),                                # a window paces offline mode
])
def test_whether_sound_is_played_is_decided_once_by_the_engine(vs, options, plays):
    assert vs._core.PlayerOptions(**options).plays_audio is plays


def test_a_core_player_plays_the_sound_without_python_deciding(vs, test_mp4):
    """Built on _core with nothing but mode=realtime: the engine's default plays the sound
    (before, Python computed play_audio and the engine's default was off)."""
    player = vs._core.Player(str(test_mp4), vs._core.PlayerOptions(mode="realtime", end=0.3))
    player.run()
    assert player._stats()["audio_device"] == "dummy"
    quiet = vs._core.Player(str(test_mp4), vs._core.PlayerOptions(mode="realtime", end=0.3, audio=False))
    quiet.run()
    assert quiet._stats()["audio_device"] is None


PLAYER_FIELDS = {
    "frames_decoded": int, "frames_processed": int, "frames_encoded": int, "frames_dropped": int,
    "decode_errors": int, "read_errors": int, "seeks": int, "elapsed": float, "fps": float,
    "encoder": str, "audio": str, "hwaccel": str, "audio_device": type(None), "av_drift_max": float,
    "av_drift_samples": int, "display_fps": float, "cache": CacheStats, "output": str,
    # A file has no capture moment: no latency (live sources: floats and a clock name).
    "latency_p50": type(None), "latency_p95": type(None), "latency_max": type(None), "latency_samples": int,
    "latency_clock": type(None),
    "frames_dropped_timestamps": int, "timestamps_filled": int, "outputs": tuple,
    # live sources (reconnect=)
    "reconnects": int, "downtime": float, "frames_lost": int,
    # live sources in real time: frames skipped to catch up with the stream
    "frames_late": int,
    # device= (issue 11): where frames lived, how they reached the encoder, their downloads
    "device": str, "encode_path": str, "device_to_host_bytes": int, "device_to_host_copies": int,
}


def test_run_and_stats_are_frozen_dataclasses_with_the_documented_fields(vs, test_mp4, tmp_path):
    player = vs.Player(test_mp4, output=str(tmp_path / "out.mp4"), end=0.5)
    result = player.run()
    assert isinstance(result, vs.PlayerStats) and dataclasses.is_dataclass(result)
    assert [field.name for field in dataclasses.fields(result)] == list(PLAYER_FIELDS)
    for name, kind in PLAYER_FIELDS.items():
        assert isinstance(getattr(result, name), kind), (name, getattr(result, name))
    assert result.frames_encoded == result.frames_processed == 15
    assert result.output == str(tmp_path / "out.mp4") and result.audio in ("copy", "transcode")
    assert player.stats == result  # after run(), the same snapshot
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.frames_encoded = 0
    # Every field is documented in the class (a ``#:`` comment, which Sphinx shows).
    lines = inspect.getsource(vs.PlayerStats).splitlines()
    for name in PLAYER_FIELDS:
        line = next(i for i, text in enumerate(lines) if text.startswith(f"    {name}:"))
        assert lines[line - 1].strip().startswith("#:"), f"{name} is undocumented"


def test_reader_stats_is_a_frozen_dataclass(vs, test_mp4):
    with vs.Reader(test_mp4) as reader:
        frames = sum(1 for _ in reader)
        stats = reader.stats
    assert isinstance(stats, vs.ReaderStats)
    assert dataclasses.asdict(stats).keys() == {"packets_read", "frames_decoded", "frames_converted",
                                                "frames_output", "decode_errors", "read_errors", "seeks",
                                                "device_to_host_bytes", "device_to_host_copies",
                                                "reconnects", "downtime", "frames_lost", "runs_on_lanes", "decode_lanes"}
    assert stats.frames_output == frames == TEST_MP4_FRAMES
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.seeks = 1


def test_subscripting_stats_still_works_but_is_deprecated(vs, test_mp4):
    stats = vs.Player(test_mp4, end=0.2).run()
    with pytest.warns(DeprecationWarning, match=r"use \.frames_processed"):
        assert stats["frames_processed"] == stats.frames_processed > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(KeyError):
            stats["no_such_counter"]


def test_reader_wraps_its_native_object_like_player(vs, test_mp4):
    """Reader and Player follow one pattern: a Python class holding the native object, whose
    helpers (seek_index, _frame_at, ...) are not part of the public surface."""
    with vs.Reader(test_mp4) as reader:
        assert not isinstance(reader, vs._core.Reader)
        assert isinstance(reader._core, vs._core.Reader)
        assert not hasattr(reader, "seek_index") and not hasattr(reader, "_frame_at")
        reader.seek(index=10)
        assert next(reader).index == 10 and reader.frame_at(3).index == 3
    player = vs.Player(test_mp4)
    assert not isinstance(player, vs._core.Player) and isinstance(player._core, vs._core.Player)
