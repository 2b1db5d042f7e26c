// The DLPack ABI (v0.8 "legacy" DLManagedTensor), declared from the public specification at
// https://dmlc.github.io/dlpack/latest/c_api.html. Only what exporting uint8/uint16 host or
// CUDA tensors needs.
#pragma once

#include <cstdint>

extern "C" {

enum VsDLDeviceType : int32_t { kVsDLCPU = 1, kVsDLCUDA = 2 };
enum VsDLDataTypeCode : uint8_t { kVsDLUInt = 1 };

struct VsDLDevice {
  int32_t device_type;
  int32_t device_id;
};

struct VsDLDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};

struct VsDLTensor {
  void* data;
  VsDLDevice device;
  int32_t ndim;
  VsDLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements
  uint64_t byte_offset;
};

struct VsDLManagedTensor {
  VsDLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(VsDLManagedTensor* self);
};

}  // extern "C"
