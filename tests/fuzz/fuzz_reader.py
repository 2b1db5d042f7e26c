"""atheris (libFuzzer) target over the Reader: open, iterate a few frames, seek, frames_at.

Run it as libFuzzer, e.g. ``python tests/fuzz/fuzz_reader.py -runs=2000 CORPUS_DIR``;
tests/test_fuzz.py builds a seed corpus of small lavfi clips (H.264 mp4, mkv, MPEG-TS, AVI with
MPEG-4) and runs a fixed number of iterations in a subprocess. A typed vistream error is the
expected answer to a damaged file; anything else (another Python exception, a native crash, a
hang past libFuzzer's -timeout) is a finding, and libFuzzer saves the input that caused it
(``-artifact_prefix=``). Findings become regression inputs under tests/data/fuzz/.
"""
from __future__ import annotations

import os
import sys
import tempfile

import atheris
import numpy  # noqa: F401  (imported before instrumenting: only vistream's own code is)

with atheris.instrument_imports(include=["vistream"]):
    import vistream

# One scratch file, rewritten per input: FFmpeg opens paths, and probing reads the content.
_SCRATCH = os.path.join(tempfile.mkdtemp(prefix="vistream-fuzz-"), "input.media")
# Frames decoded per input: enough to cross a GOP of the seed clips, few enough to keep it fast.
_FRAMES = 4


@atheris.instrument_func
def _feedback(what: str, detail: object = None) -> None:
    """Python-level branches standing for native state, so libFuzzer (which sees only Python
    coverage: FFmpeg is not instrumented) keeps inputs that reach another demuxer, codec, error
    or frame count, instead of dropping every seed but one as "no new coverage"."""
    if what == "container":
        if "mp4" in detail:
            pass
        elif "matroska" in detail:
            pass
        elif "mpegts" in detail:
            pass
        elif "avi" in detail:
            pass
        else:
            pass
    elif what == "codec":
        if detail == "h264":
            pass
        elif detail == "mpeg4":
            pass
        else:
            pass
    elif what == "frames":
        if detail == 0:
            pass
        elif detail < 4:
            pass
        elif detail < 10:
            pass
        else:
            pass
    elif what == "error":
        if detail == "SourceError":
            pass
        elif detail == "DecodeError":
            pass
        elif detail == "FilterError":
            pass
        elif detail == "FrameIndexError":
            pass
        else:
            pass


@atheris.instrument_func
def exercise(path: str) -> None:
    """What a user does with a file: open, read a few frames, seek, fetch a batch by index.

    Raises only what the Reader is documented to raise for a bad file (VistreamError and its
    subclasses); anything else escapes as a finding."""
    try:
        with vistream.Reader(path, format="rgb24", threads=1) as reader:
            info = reader.info
            _feedback("container", info.container)
            _feedback("codec", info.codec)
            for count, frame in enumerate(reader):
                # A frame is the size the decoder made it, which a damaged (or size-changing)
                # stream can set apart from info's: the array must match the frame's own size.
                if frame.array.shape[:2] != (frame.height, frame.width):
                    raise AssertionError(f"frame {frame.index}'s array is {frame.array.shape}, the frame says "
                                         f"{frame.width}x{frame.height}")
                if count + 1 >= _FRAMES:
                    break
            length = len(reader)
            _feedback("frames", length)
            if length > 0:
                reader.seek(index=length // 2)
                next(reader, None)
                reader.frames_at([length - 1, 0, length // 3])
            reader.seek(time=0.5)
            next(reader, None)
    except vistream.VistreamError as error:
        _feedback("error", type(error).__name__)


def test_one_input(data: bytes) -> None:
    with open(_SCRATCH, "wb") as scratch:
        scratch.write(data)
    exercise(_SCRATCH)


def main() -> None:
    vistream.set_log_level("CRITICAL")  # damaged input makes FFmpeg log a lot; the findings are crashes
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
