#!/bin/sh
# Builds the conda packages of conda-recipe/ (one per Python version in conda-recipe/variants.yaml)
# against conda-forge into ./conda-dist, and runs the recipe's tests on each. Needs network access
# to the conda-forge channel: the project's development machines have none, so there
# tests/test_packaging.py renders the recipe offline instead. Uses py-rattler-build (PyPI),
# installed into .venv-conda-build when missing.
#   scripts/build-conda.sh                  # build and test every variant
#   scripts/build-conda.sh --python 3.12    # one Python version
#   CONDA_UPLOAD_CHANNEL=name ANACONDA_API_KEY=... scripts/build-conda.sh --upload
#                                          # then upload the packages to that anaconda.org channel
set -eu
cd "$(dirname "$0")/.."

output=conda-dist
upload=false
python_version=""
while [ $# -gt 0 ]; do
  case "$1" in
    --python) python_version="$2"; shift 2 ;;
    --upload) upload=true; shift ;;
    --output) output="$2"; shift 2 ;;
    *) echo "build-conda: unknown argument $1 (use --python X.Y, --upload, --output DIR)" >&2; exit 2 ;;
  esac
done
if [ "$upload" = true ]; then
  : "${CONDA_UPLOAD_CHANNEL:?set CONDA_UPLOAD_CHANNEL to the anaconda.org channel to upload to}"
  : "${ANACONDA_API_KEY:?set ANACONDA_API_KEY (the release workflow takes it from a secret)}"
fi

venv=.venv-conda-build
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q "py-rattler-build>=0.73"
fi

PYTHON_VERSION="$python_version" OUTPUT="$output" UPLOAD="$upload" "$venv/bin/python" - <<'PY'
import os

from rattler_build import RenderConfig, Stage0Recipe, ToolConfiguration, VariantConfig

variants = VariantConfig.from_file("conda-recipe/variants.yaml")
rendered = Stage0Recipe.from_file("conda-recipe/recipe.yaml").render(variants, RenderConfig())
wanted = os.environ["PYTHON_VERSION"]
if wanted:
    rendered = [v for v in rendered if str(v.variant.get("python")) == wanted]
    if not rendered:
        raise SystemExit(f"build-conda: no variant for Python {wanted} in conda-recipe/variants.yaml")
built = []
for variant in rendered:
    print(f"build-conda: building {variant.variant}", flush=True)
    result = variant.run_build(ToolConfiguration(test_strategy="native"), output_dir=os.environ["OUTPUT"],
                               channels=["conda-forge"])
    built += [str(p) for p in result.packages]
if os.environ["UPLOAD"] == "true":
    from rattler_build import upload_package_to_anaconda

    upload_package_to_anaconda(built, os.environ["CONDA_UPLOAD_CHANNEL"], api_key=os.environ["ANACONDA_API_KEY"])
for path in built:
    print(f"build-conda: {path}")
PY
