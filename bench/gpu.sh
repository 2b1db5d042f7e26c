#!/bin/sh
# The one script a GPU machine runs for issue 11 (the GPU path), in under 8 minutes:
#   1. probes the GPU (nvidia-smi) and the driver's video libraries (some sandboxes expose the
#      GPU without NVDEC/NVENC), and what vistream sees (vistream doctor);
#   2. builds vistream (scripts/setup.sh --test: kernels ON when nvcc is installed);
#   3. runs tests/gpu with VS_REQUIRE_CUDA=1 (a missing GPU fails instead of skipping);
#   4. measures NVDEC 1080p H.264 -> BGR on the device (vistream, torch.from_dlpack per frame)
#      against `ffmpeg -hwaccel cuda -hwaccel_output_format cuda -f null`, and the headline
#      command end to end with fp16 and fp32; encoding from device memory (Player device="cuda":
#      NVENC's path and the download+libx264 path, host bytes per frame) against ffmpeg's
#      cuda frames -> h264_nvenc;
# and prints one table. Usage: bench/gpu.sh [--no-build]
# Written on a machine without a GPU: it has never run there; read its output critically.
set -u
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
STATUS=0
row() { printf '| %-44s | %-34s |\n' "$1" "$2"; }
note() { echo "gpu.sh: $*" >&2; }

note "probing the GPU"
if ! command -v nvidia-smi >/dev/null 2>&1; then
  note "nvidia-smi not found: no NVIDIA driver on this machine"; exit 2
fi
GPU="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)" || {
  note "nvidia-smi fails: $GPU"; exit 2; }
VIDEO_LIBS="$(ldconfig -p | grep -E "nvcuvid|nvidia-encode" | awk '{print $1}' | sort -u | tr '\n' ' ')"
case "$VIDEO_LIBS" in *nvcuvid*) ;; *) note "libnvcuvid missing: this GPU is exposed without NVDEC (decoding tests will fail)";; esac
case "$VIDEO_LIBS" in *nvidia-encode*) ;; *) note "libnvidia-encode missing: no NVENC here (its test skips after the real open failure)";; esac

if [ "${1:-}" != "--no-build" ]; then
  note "building (scripts/setup.sh --test)"
  scripts/setup.sh --test >"$WORK/setup.log" 2>&1 || { tail -30 "$WORK/setup.log"; note "setup failed"; exit 1; }
fi
"$PY" -m vistream doctor >"$WORK/doctor.txt" 2>&1 || STATUS=1
cat "$WORK/doctor.txt" >&2

note "tests/gpu with VS_REQUIRE_CUDA=1"
VS_REQUIRE_CUDA=1 timeout 300 "$PY" -m pytest -q tests/gpu -rs >"$WORK/pytest.log" 2>&1
TESTS_RC=$?
TESTS="$(tail -1 "$WORK/pytest.log")"
[ $TESTS_RC -eq 0 ] || { STATUS=1; tail -60 "$WORK/pytest.log" >&2; }

note "NVDEC 1080p H.264 throughput"
CLIP="$WORK/1080p.mp4"
ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=1920x1080:rate=30:duration=10 \
  -c:v libx264 -preset veryfast -bf 3 -g 60 -pix_fmt yuv420p "$CLIP"
FFMPEG_FPS="$("$PY" - "$CLIP" <<'PYEOF'
import subprocess, sys, time
start = time.perf_counter()
subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-hwaccel", "cuda", "-hwaccel_output_format", "cuda",
                "-i", sys.argv[1], "-f", "null", "-"], check=True)
print(f"{300 / (time.perf_counter() - start):.0f}")
PYEOF
)" || FFMPEG_FPS="failed"
VS_FPS="$("$PY" - "$CLIP" <<'PYEOF'
import sys, time, torch, vistream as vs
with vs.Reader(sys.argv[1], device="cuda") as reader:
    start, count = time.perf_counter(), 0
    for frame in reader:
        tensor = torch.from_dlpack(frame)  # BGR (H, W, 3) on the GPU, no copy
        count += 1
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    assert reader.stats.device_to_host_bytes == 0
print(f"{count / elapsed:.0f}")
PYEOF
)" || VS_FPS="failed"

note "NVDEC -> device BGR0 -> encoder, 1080p (Player device='cuda')"
ENCODE="$("$PY" - "$CLIP" "$WORK" <<'PYEOF'
import sys, time, vistream as vs
clip, work = sys.argv[1], sys.argv[2]
rows = []
for encoder in ("auto", "libx264"):
    before = vs.transfer_stats()
    start = time.perf_counter()
    stats = vs.Player(clip, device="cuda", output=f"{work}/enc-{encoder}.mp4", encoder=encoder, audio=False).run()
    fps = stats.frames_encoded / (time.perf_counter() - start)
    moved = vs.transfer_stats()["device_to_host_bytes"] - before["device_to_host_bytes"]
    rows.append(f"{stats.encode_path}: {fps:.0f} fps, {moved / max(1, stats.frames_encoded) / 1e6:.1f} MB/frame to host")
print("; ".join(rows))
PYEOF
)" || ENCODE="failed"
FFMPEG_NVENC_FPS="$("$PY" - "$CLIP" <<'PYEOF'
import subprocess, sys, time
start = time.perf_counter()
subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-hwaccel", "cuda", "-hwaccel_output_format", "cuda",
                "-i", sys.argv[1], "-c:v", "h264_nvenc", "-f", "null", "-"], check=True)
print(f"{300 / (time.perf_counter() - start):.0f}")
PYEOF
)" || FFMPEG_NVENC_FPS="failed (no NVENC?)"

headline_fps() {  # fp16 flag
  out="$WORK/headline-$1.mp4"
  start=$(date +%s.%N)
  (cd python && timeout 300 "../$PY" play.py test.mp4 --bytetrack "ckpt_file=auto;fp16=$1" --hwaccel auto \
    --headless --output "$out" >"$WORK/headline-$1.log" 2>&1) || { echo "failed"; return; }
  end=$(date +%s.%N)
  "$PY" -c "print(f'{240 / ($end - $start):.1f} (incl. start-up)')"
}
note "headline fp16 / fp32"
FP16="$(headline_fps True)"
FP32="$(headline_fps False)"

echo
echo "GPU path (issue 11) on $(hostname), $(date -u +%Y-%m-%dT%H:%MZ)"
row "what" "result"
row "--------------------------------------------" "----------------------------------"
row "GPU (nvidia-smi)" "$GPU"
row "driver video libraries" "${VIDEO_LIBS:-none}"
row "tests/gpu (VS_REQUIRE_CUDA=1)" "$TESTS"
row "NVDEC 1080p H.264 -> device BGR, vistream fps" "$VS_FPS"
row "ffmpeg -hwaccel cuda (cuda frames) -f null" "$FFMPEG_FPS"
row "vistream decode->encode 1080p (auto | x264)" "$ENCODE"
row "ffmpeg cuda frames -> h264_nvenc, fps" "$FFMPEG_NVENC_FPS"
row "headline end to end, fp16, fps" "$FP16"
row "headline end to end, fp32, fps" "$FP32"
exit $STATUS
