// vistream._core.capabilities() and transfer_stats(): the core's probes as plain dicts
// (vistream/doctor.py adds the Python side and formats them).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "vistream/capabilities.hpp"
#include "vistream/cuda_convert.hpp"

namespace vistream::bindings {

namespace py = pybind11;

namespace {

py::list probes(const std::vector<Probe>& list) {
  py::list out;
  for (const Probe& p : list) {
    py::dict d;
    d["name"] = p.name;
    d["available"] = p.available;
    d["detail"] = p.detail;
    out.append(d);
  }
  return out;
}

}  // namespace

void register_capabilities(py::module_& m) {
  m.def("capabilities", [] {
    Capabilities caps;
    {
      py::gil_scoped_release unlocked;
      caps = probe_capabilities();
    }
    py::dict d;
    d["ffmpeg_version"] = caps.ffmpeg_version;
    d["ffmpeg_configuration"] = caps.ffmpeg_configuration;
    d["hwaccels"] = probes(caps.hwaccels);
    d["encoders"] = probes(caps.encoders);
    py::dict cuda;
    cuda["library_loaded"] = caps.cuda.library_loaded;
    cuda["initialized"] = caps.cuda.initialized;
    cuda["driver_version"] = caps.cuda.driver_version;
    cuda["device_count"] = caps.cuda.device_count;
    cuda["problem"] = caps.cuda.problem;
    cuda["kernels_built"] = caps.cuda_kernels;
    py::list devices;
    for (const CudaDeviceInfo& info : caps.cuda_devices) {
      py::dict device;
      device["ordinal"] = info.ordinal;
      device["name"] = info.name;
      device["compute_capability"] = std::to_string(info.compute_major) + "." + std::to_string(info.compute_minor);
      devices.append(device);
    }
    cuda["devices"] = devices;
    d["cuda"] = cuda;
    d["sdl_video_drivers"] = caps.sdl_video_drivers;
    d["sdl_audio_drivers"] = caps.sdl_audio_drivers;
    return d;
  }, "Probes FFmpeg, hardware devices, encoders, the CUDA driver and SDL (see vistream.capabilities()).");
  m.def("transfer_stats", [] {
    const TransferCounters& c = process_transfers();
    py::dict d;
    d["device_to_host_bytes"] = c.device_to_host_bytes.load();
    d["device_to_host_copies"] = c.device_to_host_copies.load();
    d["host_to_device_bytes"] = c.host_to_device_bytes.load();
    d["host_to_device_copies"] = c.host_to_device_copies.load();
    return d;
  }, "Host<->device copies of this process so far (decoder downloads, frame.download()).");
}

}  // namespace vistream::bindings
