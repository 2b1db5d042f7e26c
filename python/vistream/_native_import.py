"""Imports the native module ``vistream._core`` and, when the dynamic loader cannot, says why.

Python's own ImportError for a shared library is the loader's one line
(``libavformat.so.59: cannot open shared object file``); users then have to guess that
FFmpeg is meant and which package provides it. ``import_core`` re-raises it as a
``MissingDependencyError`` (an ``ImportError``) that names the library, where vistream came
from (source build, self-contained wheel, conda) and the command that installs or repairs it.
"""

from __future__ import annotations

import os
import re
import sys
from types import ModuleType
from typing import Optional

from .errors import MissingDependencyError

# soname stem -> (what it is, Debian/Ubuntu runtime package). The version suffix in the
# Debian names follows the soname's major version, filled in from the failing name.
_NATIVE_LIBRARIES = {
    "libavformat": ("FFmpeg", "libavformat{major}"),
    "libavcodec": ("FFmpeg", "libavcodec{major}"),
    "libavfilter": ("FFmpeg", "libavfilter{major}"),
    "libavutil": ("FFmpeg", "libavutil{major}"),
    "libavdevice": ("FFmpeg", "libavdevice{major}"),
    "libswscale": ("FFmpeg", "libswscale{major}"),
    "libswresample": ("FFmpeg", "libswresample{major}"),
    "libSDL2-2.0": ("SDL2", "libsdl2-2.0-0"),
    "libSDL2_ttf-2.0": ("SDL2_ttf", "libsdl2-ttf-2.0-0"),
    "libstdc++": ("the C++ runtime", "libstdc++6"),
}

# A library name as the loader prints it: libfoo.so.59, libfoo-2.0.so.0, or auditwheel's
# renamed copy libfoo-1a2b3c4d.so.59.37.100 inside vistream.libs/.
_LIBRARY_IN_MESSAGE = re.compile(r"(lib[A-Za-z0-9_+.\-]+?)\.so(\.[0-9.]+)?\b")
# auditwheel's renaming puts an 8-hex-digit hash into the name: libSDL2-2-33fc88ff.0.so.0.2600.5
_WHEEL_HASH = re.compile(r"-[0-9a-f]{8}(?=\.|$)")


def import_core() -> ModuleType:
    """Imports and returns ``vistream._core``; raises ``MissingDependencyError`` naming the
    native library that failed to load and how to install it."""
    try:
        from . import _core
    except ImportError as error:
        explained = explain_native_import_error(error)
        if explained is None:
            raise
        raise explained from error
    return _core


def explain_native_import_error(error: ImportError) -> Optional[MissingDependencyError]:
    """The user-facing error for a failed ``_core`` import, or None when it is not about a
    shared library (then the original error is clearer as it is)."""
    message = str(error)
    match = _LIBRARY_IN_MESSAGE.search(message)
    if match is None:
        return None
    library, version = match.group(0), match.group(2) or ""
    wheel_hash = _WHEEL_HASH.search(match.group(1))
    stem = _WHEEL_HASH.sub("", match.group(1))
    what, debian_package = _NATIVE_LIBRARIES.get(stem, ("a native library", None))
    major = version.strip(".").split(".")[0] if version else ""
    if "undefined symbol" in message or "version `" in message:
        problem = (f"{library} was found but is not the version vistream was built against ({message})")
    else:
        problem = f"cannot load {library} ({message})"

    if wheel_hash or "vistream.libs" in message:
        fix = ("this copy is bundled inside vistream's wheel, so the installation is damaged: "
               "reinstall it with `pip install --force-reinstall vistream`")
    elif _in_conda():
        fix = "install it from conda-forge: `conda install -c conda-forge ffmpeg sdl2 sdl2_ttf`"
    elif debian_package is not None:
        package = debian_package.format(major=major) if "{major}" in debian_package and major else debian_package
        if "{major}" in package:
            package = "ffmpeg"
        fix = (f"install {what}: `sudo apt-get install {package}` on Debian/Ubuntu (or run scripts/setup.sh), "
               "or `pip install` the self-contained vistream wheel, which bundles FFmpeg and SDL")
        if "undefined symbol" in message or "version `" in message:
            fix = ("vistream was built against another FFmpeg: rebuild it against this one "
                   "(`pip install --force-reinstall --no-binary vistream vistream`, or scripts/setup.sh), "
                   "or install the self-contained wheel")
    else:
        fix = ("install the package that provides it (Debian/Ubuntu: `apt-file search "
               f"{library}`), or `pip install` the self-contained vistream wheel")
    text = f"vistream's native module (vistream._core) {problem}; {fix}."
    if os.environ.get("LD_LIBRARY_PATH"):
        text += f" LD_LIBRARY_PATH is set ({os.environ['LD_LIBRARY_PATH']}) and is searched first."
    explained = MissingDependencyError(text)
    explained.name = error.name
    explained.path = error.path
    return explained


def _in_conda() -> bool:
    return os.path.isdir(os.path.join(sys.prefix, "conda-meta"))
