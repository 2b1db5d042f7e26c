"""torch is optional: importing vistream's plugin packages never imports it, and YOLOX without torch
is a MissingDependencyError naming the install command (checked in fresh interpreters where
`import torch` really fails, as on a machine without it)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INSTALL = ".venv/bin/python -m pip install torch==2.14.1 torchvision==0.29.1"

# sys.modules[name] = None makes `import name` raise ImportError, exactly as when it is not installed
BLOCK_TORCH = "import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None\n"


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_importing_the_plugin_packages_does_not_import_torch():
    result = _python(
        "import sys\n"
        "import vistream, vistream.detect, vistream.track, vistream.annotate\n"
        "from vistream.detect import YOLOX\n"
        "from vistream.detect.yolox import MODEL_SPECS, UntrustedCheckpointError, CheckpointMismatchError\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_yolox_without_torch_names_the_install_command():
    result = _python(
        BLOCK_TORCH +
        "import vistream, vistream.detect, vistream.track, vistream.annotate\n"
        "from vistream.detect import YOLOX\n"
        "for build in (lambda: YOLOX(ckpt_file='auto'), lambda: YOLOX('yolox_s')):\n"
        "    try:\n"
        "        build()\n"
        "    except vistream.MissingDependencyError as error:\n"
        "        assert isinstance(error, ImportError)\n"
        "        print(error)\n"
        "try:\n"
        "    from vistream.detect.yolox import build_model\n"
        "except vistream.MissingDependencyError as error:\n"
        "    print(error)\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert INSTALL in line and 'pip install "vistream[yolox]"' in line and "torch" in line


def test_command_line_without_torch_is_one_clear_error(test_mp4, tmp_path):
    play = REPO / "python" / "play.py"
    code = (BLOCK_TORCH + "import runpy\n"
            f"sys.argv = [{str(play)!r}, {str(test_mp4)!r}, '--headless', '--bytetrack', 'ckpt_file=auto;fp16=True']\n"
            f"runpy.run_path({str(play)!r}, run_name='__main__')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "VISTREAM_CACHE": str(tmp_path)})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and INSTALL in result.stderr
    assert not (tmp_path / "weights").exists(), "nothing is downloaded for a detector that cannot run"
