// vistream._core.copy_with_embedding / video_frame_times / read_embedded_text: the core's
// timed-text remux (include/vistream/results_embed.hpp) with plain Python values (tuples, dicts,
// bytes). python/vistream/embedded_results.py builds on them. The GIL is released while files
// are read and written.
#include "results_embed.hpp"

#include <pybind11/stl.h>

#include "vistream/results_embed.hpp"

namespace vistream::bindings {

namespace py = pybind11;

namespace {

using SampleTuple = std::tuple<int64_t, int64_t, std::string>;

py::list samples_list(const std::vector<TimedText>& samples) {
  py::list out;
  for (const TimedText& sample : samples) {
    out.append(py::make_tuple(sample.start_ms, sample.duration_ms,
                              py::reinterpret_steal<py::object>(
                                  PyUnicode_DecodeUTF8(sample.text.data(), static_cast<Py_ssize_t>(sample.text.size()),
                                                       "replace"))));
  }
  return out;
}

}  // namespace

void register_results_embed(py::module_& m) {
  m.def(
      "copy_with_embedding",
      [](const std::string& source, const std::string& destination, const py::list& tracks,
         const py::list& attachments, int video_width, int video_height) {
        TextEmbedding embedding;
        embedding.video_width = video_width;
        embedding.video_height = video_height;
        for (const py::handle& item : tracks) {
          const py::dict spec = py::reinterpret_borrow<py::dict>(item);
          TextTrack track;
          track.name = spec["name"].cast<std::string>();
          if (spec.contains("language")) track.language = spec["language"].cast<std::string>();
          if (spec.contains("default")) track.shown_by_default = spec["default"].cast<bool>();
          for (const SampleTuple& sample : spec["samples"].cast<std::vector<SampleTuple>>()) {
            track.samples.push_back(TimedText{std::get<0>(sample), std::get<1>(sample), std::get<2>(sample)});
          }
          embedding.tracks.push_back(std::move(track));
        }
        for (const py::handle& item : attachments) {
          const py::dict spec = py::reinterpret_borrow<py::dict>(item);
          embedding.attachments.push_back(Attachment{spec["filename"].cast<std::string>(),
                                                     spec["mimetype"].cast<std::string>(),
                                                     spec["data"].cast<std::string>()});
        }
        py::gil_scoped_release unlocked;
        copy_with_embedding(source, destination, embedding);
      },
      py::arg("source"), py::arg("destination"), py::arg("tracks"), py::arg("attachments"),
      py::arg("video_width") = 0, py::arg("video_height") = 0,
      "Copies every stream of `source` into the new file `destination` and adds text tracks "
      "({'name', 'language', 'default', 'samples': [(start_ms, duration_ms, text)]}: mov_text in "
      "mp4/mov, ASS in mkv) and attachments ({'filename', 'mimetype', 'data': bytes}; mkv only).");
  m.def(
      "video_frame_times",
      [](const std::string& path) {
        py::gil_scoped_release unlocked;
        return video_frame_times(path);
      },
      py::arg("path"), "Presentation times (seconds, ascending) of the first video stream's packets.");
  m.def(
      "read_embedded_text",
      [](const std::string& path, const std::string& samples_of) {
        EmbeddedText text;
        {
          py::gil_scoped_release unlocked;
          text = read_embedded_text(path, samples_of);
        }
        py::list tracks;
        for (const TextTrack& track : text.tracks) {
          py::dict d;
          d["name"] = track.name;
          d["language"] = track.language;
          d["default"] = track.shown_by_default;
          d["samples"] = samples_list(track.samples);
          tracks.append(d);
        }
        py::list attachments;
        for (const Attachment& attachment : text.attachments) {
          py::dict d;
          d["filename"] = attachment.filename;
          d["mimetype"] = attachment.mimetype;
          d["data"] = py::bytes(attachment.data);
          attachments.append(d);
        }
        py::dict out;
        out["tracks"] = tracks;
        out["attachments"] = attachments;
        return out;
      },
      py::arg("path"), py::arg("samples_of") = "",
      "The text subtitle tracks and attachments of a file; samples only of the tracks named `samples_of`.");
}

}  // namespace vistream::bindings
