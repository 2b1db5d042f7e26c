"""Where a batch's outputs go: a local directory, or an fsspec URL (``file://``, ``memory://``,
``s3://`` with s3fs...). Files are made in a local scratch directory and *promoted* under their
final name in one step, so a final name never holds a half-written file:

- local directory: the scratch directory is ``DIR/.vistream-partial/KEY.XXXX`` (same filesystem)
  and promotion is ``os.replace`` (atomic);
- fsspec URL: the file is uploaded as ``NAME.partial-XXXX`` beside its final name and moved
  onto it (a rename where the filesystem has one; object stores make an object visible whole).

A store is plain data (its location string): it is pickled to worker processes and Ray tasks,
each of which opens the filesystem itself.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from typing import Any, Optional

from .._output_file import is_url
from ..errors import MissingDependencyError

#: scratch folder of a local output directory (removed at the start of every run)
SCRATCH_FOLDER = ".vistream-partial"


def make_readable(path: str) -> None:
    """The permissions a plain ``open()`` would give (mkstemp's files are private to the user)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


class OutputStore:
    """One output location (see the module doc)."""

    def __init__(self, location: "str | os.PathLike[str]") -> None:
        location = os.fspath(location)
        self.is_local = not is_url(location)
        self.location = os.path.abspath(os.path.expanduser(location)) if self.is_local else location.rstrip("/")
        self._fs: Any = None

    def __getstate__(self) -> dict:
        return {"location": self.location, "is_local": self.is_local}

    def __setstate__(self, state: dict) -> None:
        self.location, self.is_local, self._fs = state["location"], state["is_local"], None

    @property
    def fs(self) -> Any:
        if self._fs is None:
            try:
                import fsspec
            except ImportError:
                raise MissingDependencyError(f"output directory {self.location!r} is a URL: writing it needs fsspec "
                                             "(pip install 'vistream[ray]' or pip install fsspec)") from None
            self._fs, self._root = fsspec.core.url_to_fs(self.location)
        return self._fs

    def _remote(self, name: str) -> str:
        self.fs  # noqa: B018 - sets _root
        return f"{self._root.rstrip('/')}/{name}"

    def url(self, name: str) -> str:
        """The user-facing path or URL of ``name`` in the store."""
        return os.path.join(self.location, name) if self.is_local else f"{self.location}/{name}"

    def create(self) -> None:
        if self.is_local:
            os.makedirs(self.location, exist_ok=True)
        else:
            self.fs.makedirs(self._remote(""), exist_ok=True)

    def exists(self, name: str) -> bool:
        return os.path.exists(self.url(name)) if self.is_local else self.fs.exists(self._remote(name))

    def read_text(self, name: str) -> Optional[str]:
        """The file's text, None when it does not exist."""
        try:
            if self.is_local:
                with open(self.url(name), encoding="utf-8") as file:
                    return file.read()
            with self.fs.open(self._remote(name), "r", encoding="utf-8") as file:
                return file.read()
        except FileNotFoundError:
            return None

    def open_local(self, name: str) -> str:
        """A local path with the file's content (the file itself when local; a download otherwise)."""
        if self.is_local:
            return self.url(name)
        handle, path = tempfile.mkstemp(prefix="vistream-", suffix="-" + name)
        os.close(handle)
        self.fs.get_file(self._remote(name), path)
        return path

    def write_json(self, name: str, data: Any) -> None:
        """Writes ``data`` as JSON under ``name`` atomically (never a half-written file)."""
        handle, path = tempfile.mkstemp(prefix=".vistream-", suffix=".json",
                                        dir=self.location if self.is_local else None)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(data, file, indent=1, sort_keys=True)
                file.flush()
                os.fsync(file.fileno())
            make_readable(path)
            self.promote(path, name)
        finally:
            if os.path.exists(path):
                os.unlink(path)

    def scratch_dir(self, key: str) -> str:
        """A fresh local folder to make one source's files in (promoted from there)."""
        if self.is_local:
            parent = os.path.join(self.location, SCRATCH_FOLDER)
            os.makedirs(parent, exist_ok=True)
            return tempfile.mkdtemp(prefix=f"{key}.", dir=parent)
        return tempfile.mkdtemp(prefix=f"vistream-{key}.")

    def clear_scratch(self) -> None:
        """Removes what killed runs left in the scratch folder (local stores)."""
        if self.is_local:
            shutil.rmtree(os.path.join(self.location, SCRATCH_FOLDER), ignore_errors=True)

    def promote(self, local_path: str, name: str) -> str:
        """Moves a finished local file under its final ``name``; returns its path or URL."""
        if self.is_local:
            os.replace(local_path, self.url(name))
            return self.url(name)
        final = self._remote(name)
        partial = f"{final}.partial-{secrets.token_hex(3)}"
        self.fs.put_file(local_path, partial)
        try:
            self.fs.mv(partial, final)
        except BaseException:
            try:
                self.fs.rm(partial)
            except Exception:  # noqa: BLE001 - the move's error is the one to report
                pass
            raise
        os.unlink(local_path)
        return self.url(name)

    def __repr__(self) -> str:
        return f"OutputStore({self.location!r})"
