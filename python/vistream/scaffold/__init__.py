"""``vistream new APP``: a runnable, tested application to start from.

The app is a folder with a config (sources and plugins), a predictor stub that satisfies
:class:`vistream.Detector`, the pipeline that runs them, a test on a clip it generates, and a
README::

    APP/
      README.md
      config.toml          source, detector (module:Class + options), tracker, annotators, outputs
      pyproject.toml       installable (pip install -e .), pytest finds the package
      APP/__init__.py
      APP/__main__.py      python -m APP [SOURCE] [--config FILE] [--display]
      APP/app.py           load_config(), build_pipeline(), run()
      APP/predictor.py     BrightObjectDetector: replace its body with your model
      tests/test_app.py    generates a clip, runs the app on it, reads the results back

``vistream generate KIND NAME --model MODEL`` (:func:`generate`) then adds predictors wired for a
model to the app (see ``vistream.scaffold.generate``).

Example::

    from vistream.scaffold import create_app
    folder = create_app("demoapp", directory="projects")   # projects/demoapp
"""

from __future__ import annotations

import keyword
from pathlib import Path
from typing import Dict, Union

from . import templates
from .generate import GenerateError, ModelPlan, generate, inspect_model

__all__ = ["create_app", "generate", "inspect_model", "ModelPlan", "GenerateError"]


def _files(name: str) -> Dict[str, str]:
    return {
        "README.md": templates.README,
        "config.toml": templates.CONFIG,
        "pyproject.toml": templates.PYPROJECT,
        ".gitignore": templates.GITIGNORE,
        f"{name}/__init__.py": templates.PACKAGE_INIT,
        f"{name}/__main__.py": templates.MAIN,
        f"{name}/app.py": templates.APP,
        f"{name}/predictor.py": templates.PREDICTOR,
        "tests/test_app.py": templates.TEST_APP,
    }


def create_app(name: str, directory: Union[str, Path] = ".", force: bool = False) -> Path:
    """Creates the application ``name`` in ``directory/name`` and returns that folder.

    Args:
        name: the app's name, also its Python package: an identifier (``demoapp``, ``traffic_counter``).
        directory: where the app's folder is made.
        force: write into an existing non-empty folder (files of the same name are replaced).

    Raises:
        ValueError: ``name`` is not a valid package name.
        FileExistsError: the folder exists and is not empty (without ``force``).
    """
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
        raise ValueError(f"app name {name!r}: use a Python package name (letters, digits, _; not starting "
                         "with a digit), e.g. 'demoapp'")
    if name in ("vistream", "test", "tests"):
        raise ValueError(f"app name {name!r} would shadow a package the app imports: choose another")
    folder = Path(directory) / name
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and not force:
        raise FileExistsError(f"{folder} exists and is not empty (use --force to write into it)")
    for relative, text in _files(name).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("__APP__", name), encoding="utf-8")
    return folder
