#!/bin/sh
# Runs the core under the sanitizers (issue 9: proof that the engine's threads are race-free
# and its memory handling clean).
#   scripts/sanitize.sh            # both runs below
#   scripts/sanitize.sh thread     # ThreadSanitizer: C++ core tests (build/tsan)
#   scripts/sanitize.sh address    # ASan+UBSan: C++ core tests (build/asan), then the Python
#                                  # engine tests against an ASan build of vistream._core
#                                  # (build/asan-python)
# A finding aborts the run: the script exits non-zero and prints the sanitizer's report.
# Needs what scripts/setup.sh --test installs (cmake, libgtest-dev, the .venv with pytest).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)

JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
# The Python tests run under ASan: the engine tests, which drive every core thread
# (reader/seek: demux + decode threads; player/player_control: clock, audio, consumer).
PY_TESTS="${PY_TESTS:-tests/test_reader.py tests/test_seek.py tests/test_player.py tests/test_player_control.py}"

GENERATOR=""
if command -v ninja >/dev/null 2>&1; then
  GENERATOR="-G Ninja"
elif [ -x "$ROOT/.venv/bin/ninja" ]; then
  GENERATOR="-G Ninja -DCMAKE_MAKE_PROGRAM=$ROOT/.venv/bin/ninja"
fi
LAUNCHER=""
if command -v ccache >/dev/null 2>&1; then LAUNCHER="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"; fi

# Debug keeps assert()s on; the sanitizer flags add -O1 so the runs stay fast enough.
configure() {  # build_dir sanitizers extra-cmake-args...
  dir=$1; sanitizers=$2; shift 2
  # shellcheck disable=SC2086  # GENERATOR/LAUNCHER are lists of words
  cmake -S . -B "$dir" $GENERATOR $LAUNCHER -DCMAKE_BUILD_TYPE=Debug \
    -DVISTREAM_SANITIZE="$sanitizers" "$@" >"$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log"; echo "sanitize: configuring $dir failed" >&2; exit 1; }
}

run_core_tests() {  # build_dir
  cmake --build "$1" -j "$JOBS" --target vistream_core_tests
  (cd "$1" && ctest --output-on-failure -j "$JOBS")
}

elapsed() { echo $(( $(date +%s) - $1 ))s; }

run_thread() {
  start=$(date +%s)
  echo "sanitize: ThreadSanitizer, C++ core tests (build/tsan)"
  mkdir -p build
  configure build/tsan thread -DVISTREAM_BUILD_TESTS=ON -DVISTREAM_BUILD_EXTENSION=OFF
  # halt_on_error: the first race fails the test; second_deadlock_stack: both stacks of a
  # lock-order inversion; ignore_noninstrumented_modules: FFmpeg's own refcount/threading
  # atomics are invisible to TSan (tests/cpp/sanitizer_defaults.cpp explains).
  TSAN_OPTIONS="ignore_noninstrumented_modules=1 halt_on_error=1 abort_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
    run_core_tests build/tsan
  echo "sanitize: ThreadSanitizer passed in $(elapsed "$start")"
}

run_address() {
  start=$(date +%s)
  echo "sanitize: AddressSanitizer + UBSan, C++ core tests (build/asan)"
  mkdir -p build
  configure build/asan address,undefined -DVISTREAM_BUILD_TESTS=ON -DVISTREAM_BUILD_EXTENSION=OFF
  # detect_leaks stays on for the C++ tests: they own everything they allocate.
  ASAN_OPTIONS="halt_on_error=1 abort_on_error=1 detect_leaks=1 ${ASAN_OPTIONS:-}" \
  UBSAN_OPTIONS="halt_on_error=1 abort_on_error=1 print_stacktrace=1 ${UBSAN_OPTIONS:-}" \
    run_core_tests build/asan
  echo "sanitize: C++ core tests passed under ASan+UBSan in $(elapsed "$start")"

  start=$(date +%s)
  echo "sanitize: AddressSanitizer + UBSan, Python engine tests (build/asan-python)"
  [ -x "$PYTHON" ] || { echo "sanitize: $PYTHON not found (run scripts/setup.sh --test)" >&2; exit 1; }
  # pybind11 is a build-time dependency only (pip builds in isolation), so fetch it for this build.
  "$PYTHON" -c "import pybind11" 2>/dev/null || "$PYTHON" -m pip install -q "pybind11>=2.12"
  configure build/asan-python address,undefined -DVISTREAM_BUILD_TESTS=OFF \
    -DPython_EXECUTABLE="$PYTHON" -Dpybind11_DIR="$("$PYTHON" -m pybind11 --cmakedir)"
  cmake --build build/asan-python -j "$JOBS" --target _core
  # Stage the package with the ASan _core in it (what `pip install` would lay out).
  stage="$ROOT/build/asan-python/stage"
  rm -rf "$stage"
  mkdir -p "$stage"
  cp -R python/vistream "$stage/vistream"
  find "$stage/vistream" -name '_core*.so' -delete
  cp build/asan-python/_core*.so "$stage/vistream/"
  cp bytetrack/weights.json "$stage/vistream/weights.json"
  # An editable install (the developer setup) puts an import hook in front of sys.path that
  # would load the installed _core instead; the staged copy must win, in subprocesses too.
  cat >"$stage/sitecustomize.py" <<'PY'
import sys
sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("_editable_")]
PY
  cxx=${CXX:-g++}
  libasan=$($cxx -print-file-name=libasan.so)
  libstdcxx=$($cxx -print-file-name=libstdc++.so)
  [ -f "$libasan" ] || { echo "sanitize: libasan.so not found ($libasan)" >&2; exit 1; }
  # Python itself is not built with ASan: the runtime is preloaded so it comes first, with
  # libstdc++ beside it (python does not link libstdc++, and ASan's C++ exception interceptor
  # must find it at start-up or the first C++ throw aborts). Leak checking is off: the
  # interpreter keeps memory alive at exit by design. Reports go to files, since pytest's
  # output capture would swallow a report printed just before the abort.
  reports="$ROOT/build/asan-python/reports"
  rm -rf "$reports"
  mkdir -p "$reports"
  set -- env PYTHONPATH="$stage" LD_PRELOAD="$libasan $libstdcxx" \
    ASAN_OPTIONS="detect_leaks=0 halt_on_error=1 abort_on_error=1 log_path=$reports/asan ${ASAN_OPTIONS:-}" \
    UBSAN_OPTIONS="halt_on_error=1 abort_on_error=1 print_stacktrace=1 log_path=$reports/ubsan ${UBSAN_OPTIONS:-}" \
    "$PYTHON"
  "$@" -c "import vistream._core as c, sys; sys.exit(0 if c.__file__.startswith('$stage/') else 'sanitize: loaded ' + c.__file__ + ', not the ASan build')"
  status=0
  # shellcheck disable=SC2086  # PY_TESTS is a list of paths
  "$@" -m pytest -q -p no:cacheprovider $PY_TESTS || status=$?
  if [ -n "$(ls -A "$reports")" ]; then
    for report in "$reports"/*; do echo "== $report"; cat "$report"; done
    echo "sanitize: ASan/UBSan reported the findings above" >&2
    exit 1
  fi
  [ "$status" -eq 0 ] || { echo "sanitize: Python engine tests failed under ASan (exit $status)" >&2; exit "$status"; }
  echo "sanitize: Python engine tests passed under ASan+UBSan in $(elapsed "$start")"
}

case "${1:-all}" in
  thread) run_thread ;;
  address) run_address ;;
  all) run_thread; run_address ;;
  *) echo "usage: scripts/sanitize.sh [thread|address]" >&2; exit 2 ;;
esac
