#!/bin/sh
# Runs the core under the sanitizers (issue 9: proof that the engine's threads are race-free
# and its memory handling clean).
#   scripts/sanitize.sh                # thread, then address
#   scripts/sanitize.sh thread         # ThreadSanitizer: C++ core tests (build/tsan)
#   scripts/sanitize.sh address        # ASan+UBSan: C++ core tests (build/asan), then the
#                                      # Python engine tests against an ASan build of
#                                      # vistream._core (build/asan-python)
#   scripts/sanitize.sh thread-python  # opt-in: the Python engine tests against a TSan build
#                                      # of vistream._core (build/tsan-python): the Player's
#                                      # threads, which the C++ tests do not drive
# A finding fails the run: the script exits non-zero and prints the sanitizer's report.
# Needs what scripts/setup.sh --test installs (cmake, libgtest-dev, the .venv with pytest).
# Environment: JOBS (build jobs), PYTHON (default .venv/bin/python), PY_TESTS (pytest paths),
# PY_DESELECT (pytest node ids left out of the sanitized Python runs; see below).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)

JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
# The engine tests, which drive every core thread (reader/seek: demux + decode threads;
# player/player_control: source, hook, encode threads, clock, audio). ~4 min under ASan.
PY_TESTS="${PY_TESTS:-tests/test_reader.py tests/test_seek.py tests/test_player.py tests/test_player_control.py tests/test_thread_safety.py tests/test_cancellation.py tests/test_decode_lanes.py}"
# Deselected there: the tests that assert wall-clock pacing of real-time playback (a given
# frame reaches the callback, N frames in 1.5 s, elapsed within 20% of the media duration).
# A sanitized build on a busy machine is too slow for them (seen: 13 frames where 20 are
# expected) and they check timing, not memory or threads. The real-time path still runs
# sanitized in the C++ tests (Player.RealtimeRunAtHighSpeedReachesTheEndInOrder).
PY_DESELECT="${PY_DESELECT-tests/test_player_control.py::test_pause_and_resume \
tests/test_player_control.py::test_stop_mid_file_finalizes_output \
tests/test_player_control.py::test_realtime_drops_slow_callback_frames_offline_does_not \
tests/test_player_control.py::test_realtime_headless_paces_at_media_clock}"
CXX_DRIVER="${CXX:-g++}"

GENERATOR=""
if command -v ninja >/dev/null 2>&1; then
  GENERATOR="-G Ninja"
elif [ -x "$ROOT/.venv/bin/ninja" ]; then
  GENERATOR="-G Ninja -DCMAKE_MAKE_PROGRAM=$ROOT/.venv/bin/ninja"
fi
LAUNCHER=""
if command -v ccache >/dev/null 2>&1; then LAUNCHER="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"; fi

# FFmpeg is not built with TSan: its buffer refcounts and frame-threading handshakes are
# atomics TSan cannot see, so every frame allocated on one thread and freed on another would
# be reported. ignore_noninstrumented_modules stops tracking malloc/free/memcpy called from
# inside FFmpeg; vistream's own accesses are all still checked (tests/cpp/sanitizer_defaults.cpp).
# second_deadlock_stack: both stacks of a lock-order inversion.
TSAN_BASE="ignore_noninstrumented_modules=1 halt_on_error=1 abort_on_error=1 second_deadlock_stack=1"
ASAN_BASE="halt_on_error=1 abort_on_error=1"
UBSAN_BASE="halt_on_error=1 abort_on_error=1 print_stacktrace=1"

# Debug keeps assert()s on; the sanitizer flags add -O1 so the runs stay fast enough.
configure() {  # build_dir sanitizers extra-cmake-args...
  dir=$1; sanitizers=$2; shift 2
  mkdir -p build
  # shellcheck disable=SC2086  # GENERATOR/LAUNCHER are lists of words
  cmake -S . -B "$dir" $GENERATOR $LAUNCHER -DCMAKE_BUILD_TYPE=Debug \
    -DVISTREAM_SANITIZE="$sanitizers" -DVISTREAM_CUDA_KERNELS=OFF "$@" >"$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log"; echo "sanitize: configuring $dir failed" >&2; exit 1; }
}

run_core_tests() {  # build_dir
  cmake --build "$1" -j "$JOBS" --target vistream_core_tests
  (cd "$1" && ctest --output-on-failure -j "$JOBS")
}

elapsed() { echo $(( $(date +%s) - $1 ))s; }

# Builds _core with `sanitizers` into build_dir, stages python/vistream with it and runs
# PY_TESTS against it with the sanitizer runtime preloaded (Python itself is not sanitized,
# so the runtime must be loaded first; libstdc++ goes beside it because python does not link
# it and the runtime's C++ exception interceptor must find it at start-up). Reports go to
# files: pytest's output capture would swallow a report printed just before an abort.
run_python_tests() {  # build_dir sanitizers runtime-library options-variable options
  dir=$1; sanitizers=$2; runtime=$3; options_var=$4; options=$5
  [ -x "$PYTHON" ] || { echo "sanitize: $PYTHON not found (run scripts/setup.sh --test)" >&2; exit 1; }
  # pybind11 is a build-time dependency only (pip builds in isolation): fetch it for this build.
  "$PYTHON" -c "import pybind11" 2>/dev/null || "$PYTHON" -m pip install -q "pybind11>=2.12"
  configure "$dir" "$sanitizers" -DVISTREAM_BUILD_TESTS=OFF \
    -DPython_EXECUTABLE="$PYTHON" -Dpybind11_DIR="$("$PYTHON" -m pybind11 --cmakedir)"
  cmake --build "$dir" -j "$JOBS" --target _core
  # Stage the package with the sanitized _core in it (what `pip install` would lay out).
  stage="$ROOT/$dir/stage"
  rm -rf "$stage"
  mkdir -p "$stage"
  cp -R python/vistream "$stage/vistream"
  find "$stage/vistream" -name '_core*.so' -delete
  cp "$dir"/_core*.so "$stage/vistream/"
  cp bytetrack/weights.json "$stage/vistream/weights.json"
  # An editable install (the developer setup) puts an import hook in front of sys.path that
  # would load the installed _core instead; the staged copy must win, in subprocesses too.
  cat >"$stage/sitecustomize.py" <<'PY'
import sys
sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("_editable_")]
PY
  runtime_path=$($CXX_DRIVER -print-file-name="$runtime")
  libstdcxx=$($CXX_DRIVER -print-file-name=libstdc++.so)
  [ -f "$runtime_path" ] || { echo "sanitize: $runtime not found ($runtime_path)" >&2; exit 1; }
  reports="$ROOT/$dir/reports"
  rm -rf "$reports"
  mkdir -p "$reports"
  set -- env PYTHONPATH="$stage" LD_PRELOAD="$runtime_path $libstdcxx" \
    "$options_var=$options log_path=$reports/report" \
    UBSAN_OPTIONS="$UBSAN_BASE log_path=$reports/ubsan ${UBSAN_OPTIONS:-}" \
    "$PYTHON"
  "$@" -c "import vistream._core as c, sys; sys.exit(0 if c.__file__.startswith('$stage/') else 'sanitize: loaded ' + c.__file__ + ', not the sanitized build')"
  deselect=""
  for test in $PY_DESELECT; do deselect="$deselect --deselect $test"; done
  status=0
  # shellcheck disable=SC2086  # PY_TESTS and deselect are lists of words
  "$@" -m pytest -q -p no:cacheprovider $deselect $PY_TESTS || status=$?
  if [ -n "$(ls -A "$reports")" ]; then
    for report in "$reports"/*; do echo "== $report"; cat "$report"; done
    echo "sanitize: the sanitizer reported the findings above" >&2
    exit 1
  fi
  [ "$status" -eq 0 ] || { echo "sanitize: Python engine tests failed under $sanitizers (exit $status)" >&2; exit "$status"; }
}

run_thread() {
  start=$(date +%s)
  echo "sanitize: ThreadSanitizer, C++ core tests (build/tsan)"
  configure build/tsan thread -DVISTREAM_BUILD_TESTS=ON -DVISTREAM_BUILD_EXTENSION=OFF
  TSAN_OPTIONS="$TSAN_BASE ${TSAN_OPTIONS:-}" run_core_tests build/tsan
  echo "sanitize: C++ core tests passed under TSan in $(elapsed "$start")"
}

run_address() {
  start=$(date +%s)
  echo "sanitize: AddressSanitizer + UBSan, C++ core tests (build/asan)"
  configure build/asan address,undefined -DVISTREAM_BUILD_TESTS=ON -DVISTREAM_BUILD_EXTENSION=OFF
  # Leak checking stays on for the C++ tests: they own everything they allocate.
  ASAN_OPTIONS="$ASAN_BASE detect_leaks=1 ${ASAN_OPTIONS:-}" \
  UBSAN_OPTIONS="$UBSAN_BASE ${UBSAN_OPTIONS:-}" \
    run_core_tests build/asan
  echo "sanitize: C++ core tests passed under ASan+UBSan in $(elapsed "$start")"

  start=$(date +%s)
  echo "sanitize: AddressSanitizer + UBSan, Python engine tests (build/asan-python)"
  # No leak checking: the interpreter keeps memory alive at exit by design.
  run_python_tests build/asan-python address,undefined libasan.so ASAN_OPTIONS \
    "$ASAN_BASE detect_leaks=0 ${ASAN_OPTIONS:-}"
  echo "sanitize: Python engine tests passed under ASan+UBSan in $(elapsed "$start")"
}

run_thread_python() {
  start=$(date +%s)
  echo "sanitize: ThreadSanitizer, Python engine tests (build/tsan-python)"
  # report_thread_leaks=0: objects the interpreter never frees at exit (a Player still
  # referenced) leave their encoder's x264 threads unjoined; that is not a race.
  run_python_tests build/tsan-python thread libtsan.so TSAN_OPTIONS \
    "$TSAN_BASE report_thread_leaks=0 ${TSAN_OPTIONS:-}"
  echo "sanitize: Python engine tests passed under TSan in $(elapsed "$start")"
}

case "${1:-all}" in
  thread) run_thread ;;
  address) run_address ;;
  thread-python) run_thread_python ;;
  all) run_thread; run_address ;;
  *) echo "usage: scripts/sanitize.sh [thread|address|thread-python]" >&2; exit 2 ;;
esac
