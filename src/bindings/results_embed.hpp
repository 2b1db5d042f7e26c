// vistream._core's functions for results embedded in output files (see results_embed.cpp).
#pragma once

#include <pybind11/pybind11.h>

namespace vistream::bindings {

void register_results_embed(pybind11::module_& m);

}  // namespace vistream::bindings
