// NV12 / P010 -> BGR0 / BGR / RGB on the GPU, one thread per pixel. The maths is
// color_convert.hpp's functor (shared with the host-side tests and the torch fallback).
// Built by cmake/VistreamCuda.cmake into a fatbin loaded with cuModuleLoadData; the names are
// extern "C" so src/cuda_convert.cpp finds them with cuModuleGetFunction.
#include "color_convert.hpp"

using vistream::color::ConvertPixel;
using vistream::color::YuvToRgb;

extern "C" __global__ void vs_nv12_to_rgb(const unsigned char* luma, int luma_pitch, const unsigned char* chroma,
                                          int chroma_pitch, unsigned char* out, int out_pitch, int width,
                                          int height, YuvToRgb matrix, int layout) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= width || y >= height) return;
  vistream::color::convert_semiplanar_pixel<unsigned char>(ConvertPixel{matrix}, luma, luma_pitch, chroma,
                                                           chroma_pitch, x, y, 0, layout, out, out_pitch);
}

extern "C" __global__ void vs_p010_to_rgb(const unsigned char* luma, int luma_pitch, const unsigned char* chroma,
                                          int chroma_pitch, unsigned char* out, int out_pitch, int width,
                                          int height, YuvToRgb matrix, int layout) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= width || y >= height) return;
  vistream::color::convert_semiplanar_pixel<unsigned short>(ConvertPixel{matrix}, luma, luma_pitch, chroma,
                                                            chroma_pitch, x, y, 6, layout, out, out_pitch);
}
