"""Reader.seek and Player.seek check their arguments the same way (one shared check)."""
from __future__ import annotations

import math

import numpy as np
import pytest


@pytest.fixture(params=["Reader", "Player"])
def seekable(request, vs, media):
    obj = getattr(vs, request.param)(media["bframes"])
    yield obj
    if request.param == "Reader":
        obj.close()


@pytest.mark.parametrize("kwargs, error", [
    ({}, ValueError),                            # neither
    ({"time": 1.0, "index": 2}, ValueError),     # both
    ({"index": -1}, ValueError),                 # the Player used to clamp this silently
    ({"index": True}, TypeError),
    ({"index": 2.0}, TypeError),
    ({"time": "1"}, TypeError),
    ({"time": False}, TypeError),
    ({"time": math.nan}, ValueError),            # used to become a seek to 0
])
def test_bad_seek_arguments_raise_the_same_error(seekable, kwargs, error):
    with pytest.raises(error):
        seekable.seek(**kwargs)


def test_numpy_numbers_are_accepted(vs, media):
    """Indices and times computed with numpy (np.int64, np.float32) are ordinary numbers."""
    with vs.Reader(media["bframes"]) as reader:
        reader.seek(index=np.int64(7))
        assert next(reader).index == 7
        reader.seek(time=np.float32(1.0))
        assert next(reader).index == 30
        assert reader.frame_at(np.int32(12)).index == 12
    player = vs.Player(media["bframes"], exit_at_end=True)
    seen = []

    @player.on_frame
    def first(frame):
        seen.append(frame.index)
        if len(seen) == 1:
            player.seek(index=np.int64(40))
        elif len(seen) == 3:
            player.stop()

    player.run()
    assert seen[-2:] == [40, 41]
