// The option structs of the core (player_options.hpp) as Python classes: keyword constructors,
// typed attributes. Conversion only; the values are checked by the core (checked()/validate())
// when a Reader or Player is built from them.
#pragma once

#include <pybind11/pybind11.h>

namespace vistream::bindings {

// Registers SourceOptions, EncoderOptions, DisplayOptions and PlayerOptions on `m`.
void register_options(pybind11::module_& m);

}  // namespace vistream::bindings
