"""The native module's typed surface: the checked-in ``vistream/_core.pyi`` matches the bindings.

Editors and type checkers read the stub (the package ships ``py.typed``); a binding change that
does not regenerate it would silently lie to them. Regenerate with::

    .venv/bin/python -m pybind11_stubgen vistream._core -o /tmp/stubs && cp /tmp/stubs/vistream/_core.pyi python/vistream/

(through this interpreter: the ``pybind11-stubgen`` script of a copied venv may start another one,
which would describe another checkout's module).
"""
import importlib.util
import subprocess
import sys
from pathlib import Path

import vistream

PACKAGE = Path(vistream.__file__).resolve().parent


def test_package_is_marked_typed():
    assert (PACKAGE / "py.typed").is_file()


def test_core_stub_matches_the_bindings(tmp_path):
    assert importlib.util.find_spec("pybind11_stubgen"), \
        "pybind11-stubgen is part of the test dependencies (scripts/setup.sh --test)"
    subprocess.run([sys.executable, "-m", "pybind11_stubgen", "vistream._core", "-o", str(tmp_path)],
                   check=True, capture_output=True)
    generated = (tmp_path / "vistream" / "_core.pyi").read_text()
    checked_in = (PACKAGE / "_core.pyi").read_text()
    assert generated == checked_in, (
        "python/vistream/_core.pyi is out of date with the bindings; regenerate it (see this file's docstring)")
