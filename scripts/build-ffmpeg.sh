#!/bin/sh
# Builds a shared FFmpeg 7.1 (Debian trixie's source) into a prefix, so vistream can be built and
# benchmarked against the FFmpeg that conda-forge users get instead of Debian 12's 5.1.
#
#   scripts/build-ffmpeg.sh [PREFIX]          # default PREFIX=/opt/ffmpeg-7.1
#
# Then build vistream against it in a separate build directory (see BENCHMARKS.md, "vistream built
# against FFmpeg 7.1"):
#   PKG_CONFIG_PATH=PREFIX/lib/pkgconfig LD_LIBRARY_PATH=PREFIX/lib ...
#
# The configuration is trimmed to what vistream's sources and bench/seek.py use (components are
# listed rather than "everything" so the build takes ~15 min on 2 busy cores instead of ~45).
# libx264 is enabled only when Debian's libx264-dev is installed; otherwise the native mpeg4 encoder
# is the only video encoder. Needs nasm (x86 asm matters: without it decoding is ~2x slower and the
# benchmark would be meaningless).
set -eu

PREFIX=${1:-/opt/ffmpeg-7.1}
VERSION=7.1.5
TARBALL=ffmpeg_${VERSION}.orig.tar.xz
URL=http://deb.debian.org/debian/pool/main/f/ffmpeg/${TARBALL}
MD5=8a5e3d530be908235511f585ccaceafd
WORKDIR=${FFMPEG_BUILD_DIR:-/tmp/ffmpeg-${VERSION}-build}
JOBS=${JOBS:-$(nproc)}

command -v nasm >/dev/null || { echo "build-ffmpeg.sh: nasm is required (apt-get install nasm)" >&2; exit 1; }

mkdir -p "$WORKDIR"
cd "$WORKDIR"
if [ ! -f "$TARBALL" ] || ! echo "$MD5  $TARBALL" | md5sum -c --status; then
  curl -fsSL -o "$TARBALL.part" "$URL"
  mv "$TARBALL.part" "$TARBALL"
fi
echo "$MD5  $TARBALL" | md5sum -c --status || { echo "build-ffmpeg.sh: md5 mismatch for $TARBALL" >&2; exit 1; }

SRC=$WORKDIR/ffmpeg-$VERSION
[ -d "$SRC" ] || tar xf "$TARBALL"
cd "$SRC"

X264=""
if pkg-config --exists x264; then
  X264="--enable-gpl --enable-libx264 --enable-encoder=libx264"
fi

# Filters: those vistream builds graphs from (src/*.cpp) plus common helpers; the buffer
# sources/sinks are always built in 7.x (configure warns if they are named).
FILTERS="null nullsink anull anullsink format aformat scale fps \
setpts asetpts settb asettb aresample atempo volume transpose hflip vflip rotate pad crop yadif bwdif \
split asplit copy trim atrim"
DECODERS="h264 hevc mpeg4 mpeg2video mpeg1video mjpeg png rawvideo vp8 vp9 av1 ffv1 \
aac aac_fixed mp3 mp3float mp2 ac3 opus vorbis flac alac pcm_s16le pcm_s16be pcm_s24le pcm_s32le pcm_f32le pcm_u8"
ENCODERS="mpeg4 mjpeg png rawvideo ffv1 aac pcm_s16le pcm_f32le flac"
DEMUXERS="mov matroska avi mpegts mpegtsraw flv hls rtsp rtp sdp image2 image2pipe wav mp3 aac ac3 h264 hevc \
m4v mjpeg rawvideo concat ogg flac"
MUXERS="mp4 mov matroska webm avi mpegts flv hls segment null rawvideo image2 wav adts mp3 rtsp rtp h264 \
framecrc framemd5"

to_flags() { flag=$1; shift; for name in "$@"; do printf ' --enable-%s=%s' "$flag" "$name"; done; }

# shellcheck disable=SC2046,SC2086
nice ./configure \
  --prefix="$PREFIX" \
  --enable-shared --disable-static \
  --enable-rpath \
  --disable-doc --disable-programs --enable-ffprobe \
  --disable-everything \
  --enable-avformat --enable-avcodec --enable-avfilter --enable-avdevice \
  --enable-swscale --enable-swresample \
  --enable-parsers --enable-bsfs --enable-protocols \
  --enable-indev=lavfi \
  $(to_flags filter $FILTERS) \
  $(to_flags decoder $DECODERS) \
  $(to_flags encoder $ENCODERS) \
  $(to_flags demuxer $DEMUXERS) \
  $(to_flags muxer $MUXERS) \
  $X264

nice make -j"$JOBS"
make install
echo "FFmpeg $VERSION installed in $PREFIX"
