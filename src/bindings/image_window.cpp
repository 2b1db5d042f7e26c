// vistream._core.ImageWindow: the core's ImageWindow (include/vistream/image_window.hpp) for
// numpy pictures. show() copies the picture with the GIL released; events come back as dicts.
// python/vistream/multi/mosaic.py builds the mosaic view on it.
#include "image_window.hpp"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "vistream/error.hpp"
#include "vistream/image_window.hpp"

namespace vistream::bindings {

namespace py = pybind11;

void register_image_window(py::module_& m) {
  py::class_<ImageWindow>(m, "ImageWindow",
                          "A window showing BGR numpy pictures with text on top; reports keys and clicks.")
      .def(py::init([](const std::string& title, int width, int height) {
             py::gil_scoped_release unlocked;  // waits for the window thread
             return std::make_unique<ImageWindow>(title, width, height);
           }),
           py::arg("title"), py::arg("width"), py::arg("height"))
      .def(
          "show",
          [](ImageWindow& self, const py::array& picture, const std::vector<std::tuple<int, int, std::string>>& texts) {
            if (picture.ndim() != 3 || picture.shape(2) != 3 || !picture.dtype().is(py::dtype::of<uint8_t>()))
              throw py::value_error("show() needs an (H, W, 3) uint8 BGR array");
            if (picture.strides(2) != 1 || picture.strides(1) != 3)
              throw py::value_error("show() needs rows of packed BGR pixels (np.ascontiguousarray(picture))");
            std::vector<WindowText> items;
            items.reserve(texts.size());
            for (const auto& [x, y, text] : texts) items.push_back(WindowText{x, y, text});
            const auto* data = static_cast<const uint8_t*>(picture.data());
            const int height = static_cast<int>(picture.shape(0)), width = static_cast<int>(picture.shape(1));
            const int stride = static_cast<int>(picture.strides(0));
            py::gil_scoped_release unlocked;
            return self.show(data, width, height, stride, std::move(items));
          },
          py::arg("picture"), py::arg("texts") = std::vector<std::tuple<int, int, std::string>>{},
          "Shows an (H, W, 3) uint8 BGR picture (copied) with texts [(x, y, text)] in picture pixels. "
          "False once closed.")
      .def(
          "poll_events",
          [](ImageWindow& self) {
            py::list out;
            for (const WindowEvent& event : self.poll_events()) {
              py::dict d;
              d["kind"] = event.kind;
              d["key"] = event.key;
              d["x"] = event.x;
              d["y"] = event.y;
              out.append(d);
            }
            return out;
          },
          "Events since the last call, oldest first: dicts with kind ('key', 'click', 'close'), key, x, y "
          "(a click's picture pixel, -1 outside the picture).")
      .def(
          "close",
          [](ImageWindow& self) {
            py::gil_scoped_release unlocked;
            self.close();
          },
          "Closes the window (idempotent).")
      .def_property_readonly("closed", &ImageWindow::closed)
      .def_property_readonly("frames_shown", &ImageWindow::frames_shown);
}

}  // namespace vistream::bindings
