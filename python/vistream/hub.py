"""Weights hub: resolves a model name to its checkpoint file, downloading it once.

``resolve("yolox_s")`` looks the name up in the manifest (``bytetrack/weights.json``, shipped
inside the package), downloads into the cache (``$VISTREAM_CACHE`` or ``~/.cache/vistream``,
sub-folder ``weights``) with a progress bar, resumes a partial download with an HTTP Range
request, verifies size and sha256, and reuses the cached file afterwards.
``$VISTREAM_HUB_URL`` replaces the base of every URL (mirrors, tests): the file name is kept;
``$VISTREAM_HUB_MANIFEST`` points to another manifest.

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
import urllib.request
from pathlib import Path
from typing import Optional

from .errors import VistreamError
from .sample_media import cache_dir

_CHUNK = 1 << 20


class DownloadError(VistreamError, OSError):
    """A checkpoint could not be fetched or failed verification (the message says how to fix it)."""


def manifest_path() -> Path:
    """``$VISTREAM_HUB_MANIFEST`` (private models, tests), else the packaged manifest."""
    if os.environ.get("VISTREAM_HUB_MANIFEST"):
        return Path(os.environ["VISTREAM_HUB_MANIFEST"])
    packaged = Path(__file__).with_name("weights.json")  # installed by CMake from bytetrack/
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parents[2] / "bytetrack" / "weights.json"  # source checkout


def manifest() -> dict:
    with open(manifest_path()) as f:
        return {k: v for k, v in json.load(f).items() if not k.startswith("_")}


def weights_dir() -> Path:
    return cache_dir() / "weights"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _rebased(url: str) -> str:
    base = os.environ.get("VISTREAM_HUB_URL")
    return f"{base.rstrip('/')}/{url.rsplit('/', 1)[-1]}" if base else url


def _progress(done: int, total: Optional[int], name: str) -> None:
    if not sys.stderr.isatty():
        return
    if total:
        sys.stderr.write(f"\rvistream: downloading {name} {done * 100 // total:3d}% ({done >> 20}/{total >> 20} MB)")
    else:
        sys.stderr.write(f"\rvistream: downloading {name} {done >> 20} MB")
    sys.stderr.flush()


def download(url: str, target: Path, sha256: Optional[str] = None, size: Optional[int] = None,
             timeout: float = 30.0) -> Path:
    """Downloads ``url`` to ``target`` (resuming ``target.part``), then verifies it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
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
    if sha256:
        digest = _sha256(partial)
        if digest != sha256:
            partial.unlink()
            raise DownloadError(f"{url}: sha256 {digest} does not match the manifest's {sha256}; "
                                "the corrupted download was removed")
    partial.replace(target)
    return target


def resolve(name_or_path: str) -> Path:
    """Checkpoint path for a model name (manifest), an http(s) URL, or a local file."""
    if name_or_path.startswith(("http://", "https://")):
        for name, entry in manifest().items():
            if entry.get("url") == name_or_path:  # an official URL: same cache file as the name
                return resolve(name)
        # Any other URL gets its own folder (keyed by the URL): a file merely *named* like an
        # official checkpoint must never be taken for it later (e.g. by ckpt_file="auto").
        folder = hashlib.sha256(name_or_path.encode()).hexdigest()[:16]
        target = weights_dir() / "urls" / folder / name_or_path.rsplit("/", 1)[-1]
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        return download(name_or_path, target)
    local = Path(name_or_path).expanduser()
    if local.exists():
        return local
    entries = manifest()
    if name_or_path not in entries:
        raise DownloadError(f"{name_or_path!r} is neither a file nor a known model; known: {', '.join(sorted(entries))}")
    entry = entries[name_or_path]
    file_name = entry.get("file") or (entry["url"].rsplit("/", 1)[-1] if entry.get("url") else f"{name_or_path}.pth")
    target = weights_dir() / file_name
    if target.exists():
        if entry.get("sha256") and _sha256(target) != entry["sha256"]:
            raise DownloadError(f"cached {target} does not match the manifest's sha256; delete it to download again")
        return target
    if not entry.get("url") and not os.environ.get("VISTREAM_HUB_URL"):
        raise DownloadError(f"{name_or_path}: the official checkpoint has no direct download URL; "
                            f"download {file_name} from the project's page and place it at {target}")
    url = _rebased(entry["url"] or f"https://invalid/{file_name}")
    return download(url, target, entry.get("sha256"), entry.get("size"))
