// vistream._core.ImageWindow (see image_window.cpp).
#pragma once

#include <pybind11/pybind11.h>

namespace vistream::bindings {

void register_image_window(pybind11::module_& m);

}  // namespace vistream::bindings
