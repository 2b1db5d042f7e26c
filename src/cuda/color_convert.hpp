// The per-pixel maths of YUV -> RGB conversion, in one place for every implementation: the
// CUDA kernels (convert_kernels.cu) use it as a __device__ functor, tests compile it as host
// code and compare it with swscale, and the torch fallback (vistream/torch_convert.py) applies
// the same coefficients (make_yuv_to_rgb below) with tensor ops.
//
// Plain C++ without the standard library, so nvcc and any host compiler accept it.
#pragma once

#if defined(__CUDACC__)
#define VS_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define VS_HOST_DEVICE inline
#endif

namespace vistream {
namespace color {

// AVColorSpace values FFmpeg gives the matrices (AVCOL_SPC_*), so frames' own tags map directly.
enum Matrix : int {
  kBT709 = 1,
  kBT470BG = 5,   // BT.601 (PAL)
  kSMPTE170M = 6, // BT.601 (NTSC), same coefficients
  kBT2020NCL = 9,
};

// Output layouts of the kernels.
enum Layout : int {
  kBGR0 = 0,  // 4 bytes per pixel, B G R 0 (what h264_nvenc takes as bgr0)
  kBGR = 1,
  kRGB = 2,
};

// y' = (y - y_offset) * y_scale, c' = (c - 2^(bits-1)) * c_scale, then
// R = y' + r_cr c'r, G = y' + g_cb c'b + g_cr c'r, B = y' + b_cb c'b (all in [0, 1]).
struct YuvToRgb {
  float y_offset;
  float y_scale;
  float c_offset;
  float c_scale;
  float r_cr;
  float g_cb;
  float g_cr;
  float b_cb;
};

// Kr/Kb of the matrix (BT.601 when unknown: FFmpeg's own default for unspecified SD/HD is 601).
VS_HOST_DEVICE void matrix_weights(int matrix, float* kr, float* kb) {
  if (matrix == kBT709) {
    *kr = 0.2126f;
    *kb = 0.0722f;
  } else if (matrix == kBT2020NCL || matrix == 10 /* BT2020 CL: treated as NCL */) {
    *kr = 0.2627f;
    *kb = 0.0593f;
  } else {
    *kr = 0.299f;
    *kb = 0.114f;
  }
}

// `bits`: 8 (NV12) or 10 (P010, samples already shifted down to 0..1023).
VS_HOST_DEVICE YuvToRgb make_yuv_to_rgb(int matrix, bool full_range, int bits) {
  float kr, kb;
  matrix_weights(matrix, &kr, &kb);
  const float kg = 1.0f - kr - kb;
  const float scale = static_cast<float>(1 << (bits - 8));  // 1 for 8-bit, 4 for 10-bit
  const float max_code = static_cast<float>((1 << bits) - 1);
  YuvToRgb m;
  m.c_offset = 128.0f * scale;
  if (full_range) {
    m.y_offset = 0.0f;
    m.y_scale = 1.0f / max_code;
    m.c_scale = 1.0f / max_code;
  } else {
    m.y_offset = 16.0f * scale;
    m.y_scale = 1.0f / (219.0f * scale);
    m.c_scale = 1.0f / (224.0f * scale);
  }
  m.r_cr = 2.0f * (1.0f - kr);
  m.b_cb = 2.0f * (1.0f - kb);
  m.g_cb = -2.0f * kb * (1.0f - kb) / kg;
  m.g_cr = -2.0f * kr * (1.0f - kr) / kg;
  return m;
}

VS_HOST_DEVICE unsigned char to_byte(float normalized) {
  float v = normalized * 255.0f + 0.5f;
  v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
  return static_cast<unsigned char>(v);
}

// One pixel: the functor the kernels apply (y, u, v in the input's code values).
struct ConvertPixel {
  YuvToRgb m;
  VS_HOST_DEVICE void operator()(float y, float u, float v, unsigned char* r, unsigned char* g,
                                 unsigned char* b) const {
    const float yn = (y - m.y_offset) * m.y_scale;
    const float cb = (u - m.c_offset) * m.c_scale;
    const float cr = (v - m.c_offset) * m.c_scale;
    *r = to_byte(yn + m.r_cr * cr);
    *g = to_byte(yn + m.g_cb * cb + m.g_cr * cr);
    *b = to_byte(yn + m.b_cb * cb);
  }
};

// Writes one pixel in `layout` at `out`.
VS_HOST_DEVICE void store_pixel(int layout, unsigned char r, unsigned char g, unsigned char b, unsigned char* out) {
  if (layout == kRGB) {
    out[0] = r;
    out[1] = g;
    out[2] = b;
  } else {
    out[0] = b;
    out[1] = g;
    out[2] = r;
    if (layout == kBGR0) out[3] = 0;
  }
}

VS_HOST_DEVICE int bytes_per_pixel(int layout) { return layout == kBGR0 ? 4 : 3; }

// The whole conversion of pixel (x, y) of a semi-planar 4:2:0 picture (NV12: uint8 samples;
// P010: uint16 samples with the value in the top 10 bits). Chroma is taken from the 2x2
// block's sample (no interpolation), as NVDEC's own NV12 -> RGB helpers do.
template <typename Sample>
VS_HOST_DEVICE void convert_semiplanar_pixel(const ConvertPixel& convert, const unsigned char* luma, int luma_pitch,
                                             const unsigned char* chroma, int chroma_pitch, int x, int y, int shift,
                                             int layout, unsigned char* out, int out_pitch) {
  const Sample* luma_row = reinterpret_cast<const Sample*>(luma + static_cast<long long>(y) * luma_pitch);
  const Sample* chroma_row = reinterpret_cast<const Sample*>(chroma + static_cast<long long>(y / 2) * chroma_pitch);
  const float Y = static_cast<float>(luma_row[x] >> shift);
  const float U = static_cast<float>(chroma_row[(x / 2) * 2] >> shift);
  const float V = static_cast<float>(chroma_row[(x / 2) * 2 + 1] >> shift);
  unsigned char r, g, b;
  convert(Y, U, V, &r, &g, &b);
  store_pixel(layout, r, g, b, out + static_cast<long long>(y) * out_pitch + x * bytes_per_pixel(layout));
}

}  // namespace color
}  // namespace vistream
