// vistream._core.Writer (see writer.cpp) and the per-output status dict the Player shares.
#pragma once

#include <pybind11/pybind11.h>

#include "vistream/muxer.hpp"

namespace vistream::bindings {

pybind11::dict output_status_dict(const OutputStatus& status);
void register_writer(pybind11::module_& m);

}  // namespace vistream::bindings
