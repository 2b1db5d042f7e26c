"""Weights hub: resolves a model name to its checkpoint file, downloading it once.

``resolve("yolox_m_mix_det")`` looks the name up in the manifest (``bytetrack/weights.json``,
shipped inside the package), downloads into the cache (``$VISTREAM_CACHE`` or
``~/.cache/vistream``, sub-folder ``weights``) with a progress bar, resumes a partial download with
an HTTP Range request, verifies size and sha256, and reuses the cached file afterwards.
``$VISTREAM_HUB_URL`` replaces the base of every manifest URL (mirrors, tests): the entry's cache
file name is appended to it; ``$VISTREAM_HUB_MANIFEST`` points to another manifest.

Trust: a checkpoint may be a full pickle, and unpickling runs code, so the detector unpickles fully
only files whose sha256 is *pinned* (``is_pinned``): the manifest's sha256, or - for entries whose
manifest has none - the sha256 the hub saw when it downloaded the file itself (trust on first use,
recorded beside it as ``<file>.sha256``). A cached file that no longer matches its record is refused;
a file put in the cache by hand has no record, so it is loaded as plain weights only. The hub writes
only inside its cache folder and never follows a redirect from https to plain http.

Example::

    path = vistream.hub.resolve("yolox_s")            # ~/.cache/vistream/weights/yolox_s.pth
    path = vistream.hub.resolve("https://host/w.pth")  # any URL, cached by file name
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional, Tuple

from .errors import VistreamError
from .sample_media import cache_dir

__all__ = ["DownloadError", "resolve", "download", "manifest", "manifest_path", "weights_dir", "is_pinned",
           "recorded_sha256", "file_sha256"]

_CHUNK = 1 << 20


class DownloadError(VistreamError, OSError):
    """A checkpoint could not be fetched or failed verification (the message says how to fix it)."""


class _DowngradeRefused(DownloadError):
    """A server redirected an https download to plain http."""


def manifest_path() -> Path:
    """``$VISTREAM_HUB_MANIFEST`` (private models, tests), else the packaged manifest."""
    if os.environ.get("VISTREAM_HUB_MANIFEST"):
        return Path(os.environ["VISTREAM_HUB_MANIFEST"])
    packaged = Path(__file__).with_name("weights.json")  # installed by CMake from bytetrack/
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parents[2] / "bytetrack" / "weights.json"  # source checkout


def manifest() -> dict:
    """The manifest's entries: name -> {"url", "file" (optional), "sha256", "size"}."""
    with open(manifest_path()) as f:
        return {k: v for k, v in json.load(f).items() if not k.startswith("_")}


def weights_dir() -> Path:
    return cache_dir() / "weights"


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


_sha256 = file_sha256  # older name, kept for callers of the private helper


def _record_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def recorded_sha256(path: Path) -> Optional[str]:
    """The sha256 the hub recorded when it downloaded ``path`` into its cache (None if it did not)."""
    path = Path(path)
    if not _is_inside(path, weights_dir()):
        return None
    try:
        text = _record_path(path).read_text().split()
    except OSError:
        return None
    return text[0].lower() if text else None


def _write_record(target: Path, digest: str) -> None:
    # sha256sum's format, so `sha256sum -c yolox_s.pth.sha256` checks it by hand too
    _record_path(target).write_text(f"{digest}  {target.name}\n")


def is_pinned(path: Path) -> bool:
    """True when the file's sha256 is pinned: one the manifest lists, or the one recorded at download.

    Only pinned files may be unpickled fully (``torch.load(weights_only=False)``): their bytes are the
    ones an official source published (or, trust on first use, the ones first downloaded from it).
    """
    path = Path(path)
    try:
        pinned = {e.get("sha256") for e in manifest().values()} - {None}
    except (OSError, ValueError):
        pinned = set()
    recorded = recorded_sha256(path)
    if recorded:
        pinned.add(recorded)
    return bool(pinned) and file_sha256(path) in pinned


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(folder))
        return True
    except ValueError:
        return False


def _cache_target(folder: Path, file_name: str, what: str) -> Path:
    """``folder / file_name``, refused unless it is a plain file name that stays inside the cache."""
    if (not file_name or file_name in (".", "..") or "/" in file_name or "\\" in file_name or "\0" in file_name
            or os.path.isabs(file_name)):
        raise DownloadError(f"{what}: refusing cache file name {file_name!r}: it must be a plain file name "
                            "(no folders), so downloads stay inside the cache")
    target = folder / file_name
    if not _is_inside(target.resolve(), weights_dir().resolve()):
        raise DownloadError(f"{what}: refusing {target}: it is outside the weights cache {weights_dir()}")
    return target


def _entry_file_name(name: str, entry: dict) -> str:
    if entry.get("file"):
        return str(entry["file"])
    if entry.get("url"):
        return _url_file_name(entry["url"])
    return f"{name}.pth"


def _url_file_name(url: str) -> str:
    return urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]


def _rebased(url: Optional[str], file_name: str) -> str:
    # the entry's file name, not the URL's last segment: a mirror URL may end in e.g. ".../download"
    base = os.environ.get("VISTREAM_HUB_URL")
    if base:
        return f"{base.rstrip('/')}/{file_name}"
    return url or f"https://invalid/{file_name}"


class _NoDowngradeRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects like urllib does, except from https to anything but https."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if (urllib.parse.urlsplit(req.full_url).scheme == "https"
                and urllib.parse.urlsplit(newurl).scheme != "https"):
            raise _DowngradeRefused(f"refusing the redirect from {req.full_url} to {newurl}: a download that "
                                    "starts on https never continues over plain http")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener() -> urllib.request.OpenerDirector:
    # a subclass of HTTPRedirectHandler replaces urllib's default one in build_opener
    return urllib.request.build_opener(_NoDowngradeRedirectHandler)


def _progress(done: int, total: Optional[int], name: str) -> None:
    if not sys.stderr.isatty():
        return
    if total:
        sys.stderr.write(f"\rvistream: downloading {name} {done * 100 // total:3d}% ({done >> 20}/{total >> 20} MB)")
    else:
        sys.stderr.write(f"\rvistream: downloading {name} {done >> 20} MB")
    sys.stderr.flush()


def _download(url: str, target: Path, sha256: Optional[str], size: Optional[int],
              timeout: float) -> Tuple[Path, str]:
    """``download`` that also returns the sha256 of what arrived (before it is moved into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with _opener().open(request, timeout=timeout) as response:
            if response.headers.get_content_type() == "text/html":
                # e.g. a mirror's "your download will start" page: never take it for a checkpoint
                raise DownloadError(f"{url} answered with an HTML page ({response.geturl()}), not the checkpoint; "
                                    f"download it in a browser and place it at {target}")
            resumed = have and response.status == 206
            mode = "ab" if resumed else "wb"
            done = have if resumed else 0
            length = response.headers.get("Content-Length")
            total = (done + int(length)) if length is not None else size
            with open(partial, mode) as out:
                while True:
                    block = response.read(_CHUNK)
                    if not block:
                        break
                    out.write(block)
                    done += len(block)
                    _progress(done, total, target.name)
    except DownloadError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise DownloadError(
            f"cannot download {url}: {error}. Without network access, download it elsewhere and "
            f"place it at {target}" + (f" (sha256 {sha256})" if sha256 else "")) from error
    finally:
        if sys.stderr.isatty():
            sys.stderr.write("\n")
    got = partial.stat().st_size
    expected = size or total
    if expected and got < expected:
        raise DownloadError(f"download of {url} stopped at {got} of {expected} bytes; "
                            f"calling again resumes it ({partial})")
    if size and got != size:
        partial.unlink()
        raise DownloadError(f"{url}: got {got} bytes, the manifest says {size}; the partial file was removed")
    digest = file_sha256(partial)
    if sha256 and digest != sha256.lower():
        partial.unlink()
        raise DownloadError(f"{url}: sha256 {digest} does not match the manifest's {sha256}; "
                            "the corrupted download was removed")
    return partial, digest


def download(url: str, target: Path, sha256: Optional[str] = None, size: Optional[int] = None,
             timeout: float = 30.0) -> Path:
    """Downloads ``url`` to ``target`` (resuming ``target.part``), then verifies it.

    Redirects are followed, except from https to http (refused). An HTML answer is refused too.
    """
    partial, _ = _download(url, target, sha256, size, timeout)
    partial.replace(target)
    return target


def _check_cached(name: str, target: Path, pinned: Optional[str]) -> None:
    expected = pinned.lower() if pinned else recorded_sha256(target)
    if expected is None:
        return  # put there by hand: it will load as plain weights only (see is_pinned)
    digest = file_sha256(target)
    if digest != expected:
        source = "the manifest's" if pinned else f"the one recorded when it was downloaded ({_record_path(target)})"
        raise DownloadError(f"{name}: cached {target} has sha256 {digest}, not {source} {expected}; it was "
                            "changed after the download and is not loaded. Delete it to download it again")


def resolve(name_or_path: str) -> Path:
    """Checkpoint path for a model name (manifest), an http(s) URL, or a local file."""
    if name_or_path.startswith(("http://", "https://")):
        for name, entry in manifest().items():
            if entry.get("url") == name_or_path:  # an official URL: same cache file as the name
                return resolve(name)
        # Any other URL gets its own folder (keyed by the URL): a file merely *named* like an
        # official checkpoint must never be taken for it later (e.g. by ckpt_file="auto").
        folder = hashlib.sha256(name_or_path.encode()).hexdigest()[:16]
        file_name = _url_file_name(name_or_path)
        if file_name in ("", ".", ".."):
            file_name = "checkpoint"
        target = _cache_target(weights_dir() / "urls" / folder, file_name, name_or_path)
        if target.exists():
            return target
        return download(name_or_path, target)
    local = Path(name_or_path).expanduser()
    if local.exists():
        return local
    entries = manifest()
    if name_or_path not in entries:
        raise DownloadError(f"{name_or_path!r} is neither a file nor a known model; known: {', '.join(sorted(entries))}")
    entry = entries[name_or_path]
    file_name = _entry_file_name(name_or_path, entry)
    target = _cache_target(weights_dir(), file_name, f"manifest entry {name_or_path!r}")
    pinned = entry.get("sha256")
    if target.exists():
        _check_cached(name_or_path, target, pinned)
        return target
    if not entry.get("url") and not os.environ.get("VISTREAM_HUB_URL"):
        raise DownloadError(f"{name_or_path}: the official checkpoint has no direct download URL; "
                            f"download {file_name} from the project's page and place it at {target}")
    url = _rebased(entry.get("url"), file_name)
    partial, digest = _download(url, target, pinned, entry.get("size"), 30.0)
    if not pinned:
        # Trust on first use: the record goes in before the file, so a file in place always has it.
        _write_record(target, digest)
        print(f"vistream: {name_or_path}: the manifest pins no sha256; recorded this download's {digest} "
              f"in {_record_path(target)} (trust on first use: later loads must match it)", file=sys.stderr)
    partial.replace(target)
    return target
