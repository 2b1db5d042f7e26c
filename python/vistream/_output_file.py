"""Output files written under a temporary name beside the final one and renamed at the end.

A run that fails half-way must not destroy what an earlier run left under the same name, and
nobody must ever find a half-written file under the final name while a run is going. So
``out.mp4`` is written as ``out.partial-1a2b3c.mp4`` in the same folder (same filesystem, so the
rename is atomic; the extension is kept because FFmpeg picks the container from it) and:

- renamed to ``out.mp4`` when the run ends normally or is interrupted (Ctrl-C, SIGTERM,
  ``stop()``): an interrupted run's output is finalized and playable, and it is what the user
  asked for so far;
- kept under its partial name when the run fails with an exception: ``out.mp4`` stays as it
  was, and the error says where the partial output is (it may help to see how far it got);
- removed when nothing was written (zero frames): an empty file would replace a useful one;
- removed when it could not be finalized (a write failed: full disk, I/O error): an mp4
  without its index is unplayable, and keeping it would only leave debris behind.

Outputs that are not plain local files (URLs such as ``rtmp://...``, ``pipe:1``, devices,
FIFOs) are written directly, and so are outputs made of many files (HLS playlists ``.m3u8``
with their segments, segmented recordings): each of their files is finished by FFmpeg when
it is closed, and a playlist renamed afterwards would point at segments of another name.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from typing import List, Mapping, Optional, Sequence, Tuple, Union

# FFmpeg protocol prefix ("rtmp://", "pipe:1", "udp://"); one letter is a Windows drive, not a protocol.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:")


def is_url(name: str) -> bool:
    """True for FFmpeg URLs / protocols (``rtsp://``, ``pipe:0``), False for local paths."""
    return bool(_URL.match(name))


def same_file(a: str, b: str) -> bool:
    """True when both names are local files that are one and the same (same inode: symlinks and
    hard links included)."""
    if is_url(a) or is_url(b):
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def interrupted(error: Optional[BaseException]) -> bool:
    """Ctrl-C, SIGTERM turned into SystemExit and the like: not the run's fault, keep its output."""
    return error is not None and not isinstance(error, Exception)


def check_folder_writable(path: str, what: str = "output") -> None:
    """Raises a clear ``OSError`` when ``path``'s folder is missing or cannot be written.

    Checked by creating (and removing) a file there: permission bits say nothing for root or on
    read-only mounts.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {what} {path!r}: folder {folder!r} does not exist")
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".vistream-write-check-")
    except OSError as error:
        raise type(error)(f"cannot write {what} {path!r}: {error.strerror or error} (folder {folder!r})") from None
    os.close(handle)
    os.unlink(probe)


class PendingOutput:
    """One output file, written under ``partial`` and moved to ``final`` by :meth:`finish`.

    ``direct`` is True for outputs written in place (URLs, devices, FIFOs); then ``partial`` is
    ``final`` and :meth:`finish` does nothing.
    """

    def __init__(self, name: str, what: str = "output", many_files: bool = False) -> None:
        self.name = name
        self.direct = many_files or is_url(name) or (os.path.exists(name) and not os.path.isfile(name))
        if self.direct:
            self.final = self.partial = name
            return
        check_folder_writable(name, what)
        # A symlink keeps pointing at the new content: replace its target, not the link.
        final = os.path.realpath(name) if os.path.islink(name) else os.path.abspath(name)
        folder, base = os.path.split(final)
        stem, extension = os.path.splitext(base)
        self.final = final
        self.partial = os.path.join(folder, f"{stem}.partial-{secrets.token_hex(3)}{extension}")

    def finish(self, error: Optional[BaseException], wrote_anything: bool, finalized: bool = True) -> Optional[str]:
        """Moves the partial file into place (or keeps / removes it, see the module doc).

        ``finalized``: the writer completed the file (False after a failed write).
        Returns the path where the data now is, or None when nothing was kept.
        """
        if self.direct:
            return self.final if wrote_anything and finalized else None
        if not os.path.exists(self.partial):
            return None
        if not wrote_anything or not finalized:
            os.unlink(self.partial)
            return None
        if error is not None and not interrupted(error):
            return self.partial
        if os.path.exists(self.final):
            try:
                shutil.copymode(self.final, self.partial)  # as an in-place rewrite would keep it
            except OSError:
                pass
        os.replace(self.partial, self.final)
        return self.final


def note_partial(error: BaseException, partial: Optional[str], final: str) -> None:
    """Adds "partial output kept in ..." to an exception (shown in tracebacks and by the CLI)."""
    if partial is None or partial == final:
        return
    note = f"partial output kept in {partial}; {final} was left as it was"
    notes = getattr(error, "__notes__", None)
    if notes is None:
        try:
            error.__notes__ = notes = []  # what BaseException.add_note (3.11+) does
        except (AttributeError, TypeError):
            return
    notes.append(note)


OutputName = Union[str, "os.PathLike[str]"]
OutputOptions = Mapping[str, Union[str, int, float, bool]]


def output_names(output: "OutputName | Sequence[OutputName]") -> List[str]:
    """``output=`` as a list of names: one path/URL, or several (a file and a stream at once)."""
    from . import _arguments

    if isinstance(output, (str, os.PathLike)):
        items: Sequence[OutputName] = [output]
    elif isinstance(output, (list, tuple)):
        items = output
    else:
        raise TypeError(f"output must be a path or URL, or a list of them, not {type(output).__name__}")
    if not items:
        raise ValueError("output must name at least one path or URL")
    names = [_arguments.source_string(item) for item in items]
    if len(set(names)) != len(names):
        raise ValueError(f"the same output is named twice in {names!r}")
    return names


def writes_many_files(name: str, segment_time: Optional[float], output_format: Optional[str]) -> bool:
    """True for outputs FFmpeg writes as several files (HLS, segmented recording)."""
    if is_url(name):
        return False
    if output_format in ("hls", "segment", "stream_segment") or name.lower().endswith(".m3u8"):
        return True
    # The engine cuts only names with a pattern ("rec-%03d.mp4", "rec-%Y%m%d.mp4").
    return segment_time is not None and re.search(r"%\d*[A-Za-z]", name) is not None


def output_option_pairs(options: Optional[OutputOptions]) -> List[Tuple[str, str]]:
    """``output_options={...}`` as the (name, value) string pairs the engine takes."""
    if options is None:
        return []
    if not isinstance(options, Mapping):
        raise TypeError("output_options must be a dict of FFmpeg option names to values")
    pairs = []
    for key, value in options.items():
        if not isinstance(key, str) or not key:
            raise TypeError("output_options keys must be non-empty strings (FFmpeg option names)")
        if isinstance(value, bool):
            text = "1" if value else "0"
        elif isinstance(value, (str, int, float)):
            text = str(value)
        else:
            raise TypeError(f"output_options[{key!r}] must be a string or a number, not {type(value).__name__}")
        pairs.append((key, text))
    return pairs


def pending_outputs(names: Sequence[str], segment_time: Optional[float], output_format: Optional[str],
                    what: str = "output") -> List[PendingOutput]:
    """One ``PendingOutput`` per name (files under a temporary name, the rest direct)."""
    return [PendingOutput(name, what, many_files=writes_many_files(name, segment_time, output_format))
            for name in names]
