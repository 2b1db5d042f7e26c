#include "vistream/video_source.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cmath>
#include <initializer_list>
#include <string>

#include "vistream/error.hpp"
#include "vistream/test_hooks.hpp"

namespace vistream {
namespace {

// How many earlier keyframes to try when the demuxer lands after the one asked for
// (inexact demuxer seeking, e.g. MPEG-TS), before reopening and decoding from the start.
constexpr int kMaxSeekRetries = 3;

// Live sources in real time: how far (seconds) the packets being read may fall behind the
// stream's own pace before decoding skips to a keyframe (skip_late_packet). Above network
// jitter and a frame-threaded decoder's delay; below what a viewer or an alarm tolerates.
constexpr double kLiveBacklogLimit = 1.0;

double to_seconds(int64_t ts, AVRational tb) { return ts * av_q2d(tb); }

}  // namespace

VideoSource::VideoSource(const std::string& url, const SourceOptions& options, std::shared_ptr<CancelToken> cancel,
                         std::shared_ptr<const FrameIndex> index)
    : url_(url),
      options_(options),
      cancel_(cancel ? std::move(cancel) : std::make_shared<CancelToken>()),
      packet_(make_packet()),
      decoded_(make_frame()),
      cache_(options.cache_bytes, options.cache_device_bytes) {
  const AVPixelFormat output_format = av_get_pix_fmt(options.output_format.c_str());
  if (output_format == AV_PIX_FMT_NONE)
    throw Error(ErrorKind::InvalidArgument, "unknown pixel format '" + options.output_format + "'");
  demuxer_ = std::make_unique<Demuxer>(url, -1, cancel_, options.demuxer_options());
  unused_input_options_ = demuxer_->unused_options();
  AVStream* stream = demuxer_->video_stream();
  if (!stream) throw Error(ErrorKind::Source, "'" + url + "' has no video stream");
  set_packet_sink(nullptr);
  stream_time_base_ = stream->time_base;
  decoder_options_ = options.decoder;
  decoder_options_.low_delay = decoder_options_.low_delay || options.low_latency;
  // Played in real time, a live source's latency is what counts: frame threads hold back one
  // frame per extra thread (~65 ms at 30 fps with 2 cores); slice threads hold back none.
  // Files and offline runs keep frame threads, which decode faster.
  if (options.realtime && demuxer_->live()) decoder_options_.slice_threads = true;
  decoder_ = std::make_unique<VideoDecoder>(stream, decoder_options_);
  for (const auto& [key, value] : options.input_options)
    if (key == "use_wallclock_as_timestamps" && value != "0" && value != "false") wallclock_timestamps_ = true;
  orientation_ = stream_orientation(stream);
  filter_ = std::make_unique<VideoFilter>(options.vfilter, output_format, options.decoder.threads,
                                          options.autorotate ? orientation_.filters : std::string());
  VideoFormat input;
  input.width = stream->codecpar->width;
  input.height = stream->codecpar->height;
  input.format = static_cast<AVPixelFormat>(stream->codecpar->format);
  if (input.format == AV_PIX_FMT_NONE) input.format = AV_PIX_FMT_YUV420P;
  input.time_base = stream_time_base_;
  input.sample_aspect_ratio = stream->codecpar->sample_aspect_ratio;
  input.frame_rate = stream->avg_frame_rate.num ? stream->avg_frame_rate : stream->r_frame_rate;
  // Building the graph now validates the user's filter string before any decoding and tells
  // the output size; it is rebuilt if decoded frames turn out different.
  filter_->configure(input);
  // Local files are indexed up front (packet headers only, no decoding; torchcodec's "exact"
  // mode does the same): the frame count is then exact, and seeks need no scan. Containers'
  // own counts are not (mp4 nb_frames includes samples its edit list discards).
  const bool local_file = url.find("://") == std::string::npos || url.rfind("file:", 0) == 0;
  if (index && demuxer_->seekable()) index_ = std::move(index);
  if (local_file && demuxer_->seekable()) frame_index();
  // A video track that lists no frame (an emptied sample table) is not an empty video: it is
  // a damaged file, and "succeeding" with 0 frames would let a run write a video-less output.
  if (index_ && index_->size() == 0)
    throw Error(ErrorKind::Source, "'" + url + "' has a video stream but its track lists no video frames (damaged "
                                   "or emptied sample table)");
  if (index_ && !options.vfilter.empty()) probe_filtered_timeline(input);
  cache_enabled_ = index_ != nullptr && options.cache_bytes > 0 && !filtered_;
  // A network URL with a known duration is a recording served over the network (an mp4 over
  // http, an HLS VOD playlist): its end is the end, and reopening it would start over.
  live_ = is_live_source(url, options.input_format) &&
          !(url.find("://") != std::string::npos && demuxer_->context()->duration > 0 &&
            demuxer_->context()->duration != AV_NOPTS_VALUE);
  reconnect_enabled_ = vistream::reconnects(options.reconnect, url, options.input_format) &&
                       (live_ || options.reconnect.mode == ReconnectMode::Always);
  if (AVStream* audio = demuxer_->audio_stream()) audio_time_base_ = audio->time_base;
  // HLS delivers a segment at a time, so its packets are never read at the stream's pace.
  backlog_.applies = options.realtime && live_ && std::string(demuxer_->context()->iformat->name) != "hls";
  settle_hwaccel();
  fill_info();
}

VideoSource::~VideoSource() {
  cancel_->cancel();  // a decode thread blocked in a network read must not hold up the join
  stop_prefetch();
}

void VideoSource::set_packet_sink(PacketSink sink) {
  packet_sink_ = std::move(sink);
  if (AVStream* audio = demuxer_ ? demuxer_->audio_stream() : nullptr)
    audio->discard = packet_sink_ ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
  std::vector<UniquePacket> early = std::move(early_packets_);
  early_packets_.clear();
  if (packet_sink_) {
    for (UniquePacket& packet : early) packet_sink_(packet.get());
  }
}

// A hardware decoder can still refuse the stream when it first sees the stream's parameters
// (get_format, on the first decode) and fall back to software. Decoding the first frame here
// settles which decoder is used before info() is published, so info() never changes after
// open. The frame is not lost: it waits in the filter graph for the first next(). Non-video
// packets read meanwhile are kept for the first packet sink (the Player muxes the audio).
void VideoSource::settle_hwaccel() {
  if (decoder_->hwaccel() == "none") return;
  std::vector<UniquePacket> early;
  set_packet_sink([&early](AVPacket* packet) {
    UniquePacket kept = make_packet();
    av_packet_move_ref(kept.get(), packet);
    early.push_back(std::move(kept));
  });
  const bool decoded = next_decoded(decoded_.get());
  set_packet_sink(nullptr);
  early_packets_ = std::move(early);
  if (decoded) {
    note_delivered(decoded_.get());
    push_decoded(decoded_.get());
    av_frame_unref(decoded_.get());
  }
}

void VideoSource::fill_info() {
  AVFormatContext* ctx = demuxer_->context();
  AVStream* stream = demuxer_->video_stream();
  MediaInfo& info = info_;
  info.width = filter_->output_width();
  info.height = filter_->output_height();
  AVRational rate = stream->avg_frame_rate.num ? stream->avg_frame_rate : stream->r_frame_rate;
  info.frame_rate = {rate.num, rate.den ? rate.den : 1};
  AVRational tb = filter_->output_time_base();
  info.time_base = {tb.num, tb.den};
  if (stream->duration != AV_NOPTS_VALUE) {
    info.duration = to_seconds(stream->duration, stream->time_base);
  } else if (ctx->duration != AV_NOPTS_VALUE) {
    info.duration = ctx->duration / static_cast<double>(AV_TIME_BASE);
  }
  if (stream->start_time != AV_NOPTS_VALUE) info.start_time = to_seconds(stream->start_time, stream->time_base);
  if (timeline_unknown_) {
    info.frame_count = 0;  // count_frames() says why
    info.frame_count_exact = false;
  } else if (index_) {
    info.frame_count = indexed_frame_count();
    info.frame_count_exact = true;
  } else if (stream->nb_frames > 0) {
    info.frame_count = stream->nb_frames;
    info.frame_count_exact = false;
  } else if (info.duration > 0 && rate.num > 0) {
    info.frame_count = static_cast<int64_t>(std::llround(info.duration * av_q2d(rate)));
    info.frame_count_exact = false;
  }
  info.codec = avcodec_get_name(stream->codecpar->codec_id);
  const char* pix = av_get_pix_fmt_name(static_cast<AVPixelFormat>(stream->codecpar->format));
  info.pixel_format = pix ? pix : "";
  info.output_format = options_.output_format;
  info.rotation = orientation_.rotation;
  info.autorotated = options_.autorotate && !orientation_.filters.empty();
  info.hwaccel = decoder_->hwaccel();
  info.hwaccel_note = decoder_->hwaccel_note();
  info.bit_rate = ctx->bit_rate;
  info.container = ctx->iformat->name;
  info.seekable = demuxer_->seekable();
  if (AVStream* audio = demuxer_->audio_stream()) {
    info.has_audio = true;
    info.audio_sample_rate = audio->codecpar->sample_rate;
    info.audio_channels = compat::channel_count(audio->codecpar);
    info.audio_codec = avcodec_get_name(audio->codecpar->codec_id);
  }
}

const FrameIndex& VideoSource::frame_index() {
  if (!demuxer_) throw not_connected();
  if (!index_) {
    if (!demuxer_->seekable())
      throw Error(ErrorKind::Source, "'" + url_ + "' is not seekable (live or piped source)");
    // Scan with a second demuxer so the playing one keeps its position.
    Demuxer scanner(url_, demuxer_->video_stream_index(), cancel_, options_.demuxer_options());
    index_ = std::make_shared<const FrameIndex>(FrameIndex::scan(scanner));
  }
  return *index_;
}

int64_t VideoSource::count_frames() {
  frame_index();
  throw_if_timeline_unknown();
  return indexed_frame_count();
}

namespace {

// Filters that drop, repeat or time frames by what the frames show: their output timeline
// cannot be known without decoding everything.
bool mentions_any(const std::string& filters, std::initializer_list<const char*> words) {
  std::string word;
  for (size_t at = 0; at <= filters.size(); ++at) {
    const char c = at < filters.size() ? filters[at] : ' ';
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      word += c;
      continue;
    }
    for (const char* known : words) {
      if (word == known) return true;
    }
    word.clear();
  }
  return false;
}

bool depends_on_content(const std::string& filters) {
  return mentions_any(filters, {"mpdecimate", "decimate", "freezeframes", "scene", "pict_type", "key",
                                "interlace_type", "pos"});
}

// Filters that may add, drop or retime frames. Only a graph naming one is probed (the probe
// runs the whole graph once per frame: a scale-only graph on a long video would pay for it
// and learn nothing).
bool may_change_timeline(const std::string& filters) {
  return mentions_any(filters, {"fps", "framerate", "select", "setpts", "settb", "trim", "framestep", "minterpolate",
                                "tpad", "loop", "reverse", "tinterlace", "interlace", "telecine", "detelecine",
                                "fieldmatch", "pullup", "yadif", "bwdif", "w3fdif", "estdif", "random",
                                "shuffleframes", "tblend", "framepack", "deflicker"});
}

// The filters of a linear chain ("a=1,b=2:c=3"), split at the commas the graph parser splits
// at (not inside quotes, not escaped). Empty when the graph is not one linear chain (labels,
// several chains) or its quoting does not close.
std::vector<std::string> linear_chain(const std::string& graph) {
  std::vector<std::string> filters;
  std::string current;
  bool quoted = false;
  for (size_t at = 0; at < graph.size(); ++at) {
    const char c = graph[at];
    if (c == '\\' && at + 1 < graph.size()) {
      current += c;
      current += graph[++at];
      continue;
    }
    if (c == '\'') quoted = !quoted;
    if (!quoted && (c == '[' || c == ';')) return {};
    if (!quoted && c == ',') {
      filters.push_back(current);
      current.clear();
      continue;
    }
    current += c;
  }
  if (quoted) return {};
  filters.push_back(current);
  return filters;
}

// A filter's name: what precedes its options ('=') or its instance name ('@'), trimmed.
std::string filter_name(const std::string& filter) {
  const size_t end = filter.find_first_of("=@");
  std::string name = filter.substr(0, end);
  const size_t first = name.find_first_not_of(" \t\n");
  if (first == std::string::npos) return {};
  const size_t last = name.find_last_not_of(" \t\n");
  return name.substr(first, last - first + 1);
}

// Filters that turn one frame into one frame with the same timestamp, whatever their options:
// the output timeline of a chain does not depend on them.
bool keeps_each_frame(const std::string& name) {
  static const char* const kPerFrame[] = {
      "scale", "crop", "pad", "format", "hflip", "vflip", "transpose", "rotate", "eq", "hue", "drawtext",
      "drawbox", "drawgrid", "boxblur", "gblur", "avgblur", "smartblur", "unsharp", "colorspace", "colorchannelmixer",
      "colorlevels", "curves", "lut", "lutrgb", "lutyuv", "negate", "setsar", "setdar", "null", "copy", "zscale",
      "vignette", "noise", "hqdn3d", "nlmeans", "deband", "sharpen", "convolution", "edgedetect",
      "colorkey", "chromakey", "geq", "swapuv", "alphaextract", "fillborders", "delogo",
      "removegrain", "median", "grayworld", "normalize", "histeq", "colorbalance", "colortemperature", "lenscorrection",
      "perspective", "showinfo", "setfield", "setparams"};
  for (const char* known : kPerFrame) {
    if (name == known) return true;
  }
  return false;
}

// The part of the user's filter graph that decides its timeline: a linear chain without its
// frame-for-frame filters (scale, crop, drawtext...). Probing runs over every frame of the
// video, and a 1080p scale would make that seconds per minute of video, to learn nothing the
// timing filters alone do not tell. Filters not known to keep each frame stay in; the whole
// graph is probed when it is not one linear chain.
std::string timeline_filters(const std::string& graph) {
  const std::vector<std::string> chain = linear_chain(graph);
  if (chain.empty()) return graph;
  std::string kept;
  for (const std::string& filter : chain) {
    const std::string name = filter_name(filter);
    if (name.empty()) return graph;
    if (keeps_each_frame(name)) continue;
    kept += (kept.empty() ? "" : ",") + filter;
  }
  return kept.empty() ? "null" : kept;
}

}  // namespace

void VideoSource::throw_if_timeline_unknown() const {
  if (timeline_unknown_)
    throw Error(ErrorKind::Filter, "vfilter '" + options_.vfilter +
                                       "' drops or times frames by their content: its frames cannot be counted or "
                                       "indexed before they are decoded (iterate them instead)");
}

void VideoSource::probe_filtered_timeline(const VideoFormat& input) {
  if (depends_on_content(options_.vfilter)) {
    timeline_unknown_ = true;
    return;
  }
  if (!may_change_timeline(options_.vfilter)) return;
  // Timing filters (fps, select/setpts/trim on t or n, framestep...) decide from timestamps
  // alone, so blank frames with the real timestamps give the real output timeline. The probe
  // graph keeps the decoder's pixel format: no conversion, and fps-like filters only pass
  // references, so this costs little even for long videos.
  VideoFilter probe(timeline_filters(options_.vfilter), input.format, 1);
  probe.configure(input);
  UniqueFrame blank = make_frame();
  blank->format = input.format;
  blank->width = input.width;
  blank->height = input.height;
  blank->sample_aspect_ratio = input.sample_aspect_ratio;
  VS_CHECK(av_frame_get_buffer(blank.get(), 0), ErrorKind::Filter, "allocating the filter probe frame");
  FilteredTimeline timeline;
  UniqueFrame out = make_frame();
  const FrameIndex& table = *index_;
  auto collect = [&](int64_t producer) {
    while (probe.pull(out.get())) {
      timeline.pts.push_back(out->pts);
      timeline.producer.push_back(producer);
      av_frame_unref(out.get());
    }
  };
  for (int64_t i = 0; i < table.size(); ++i) {
    blank->pts = table.pts_at(i);
    probe.push(blank.get());
    collect(i);
  }
  probe.push(nullptr);
  collect(std::max<int64_t>(0, table.size() - 1));
  bool same = av_cmp_q(probe.output_time_base(), stream_time_base_) == 0 &&
              static_cast<int64_t>(timeline.pts.size()) == table.size();
  for (int64_t i = 0; same && i < table.size(); ++i) same = timeline.pts[static_cast<size_t>(i)] == table.pts_at(i);
  if (!same) filtered_ = std::move(timeline);
}

namespace {

enum class Landing { Before, At, After };

// Where a video packet read after a demuxer seek lies relative to the keyframe asked for. The
// byte position identifies a packet best (timestamps may be missing or re-derived after a
// seek); without positions, decode timestamps; without either, trust the demuxer.
Landing compare_to_keyframe(const AVPacket& packet, const FrameIndex::Keyframe& keyframe) {
  auto order = [](int64_t a, int64_t b) { return a < b ? Landing::Before : a == b ? Landing::At : Landing::After; };
  if (keyframe.pos >= 0 && packet.pos >= 0) return order(packet.pos, keyframe.pos);
  if (keyframe.dts != AV_NOPTS_VALUE && packet.dts != AV_NOPTS_VALUE) return order(packet.dts, keyframe.dts);
  return Landing::At;
}

}  // namespace

bool VideoSource::feed_decoder() {
  if (!demuxer_) throw not_connected();
  while (!demux_eof_) {
    if (!demuxer_->read(packet_.get())) {
      demux_eof_ = true;
      break;
    }
    map_timeline(packet_.get());
    ++packets_read_;
    if (packet_->stream_index == demuxer_->video_stream_index()) {
      note_arrival(packet_.get());
      if (backlog_.applies && newest_wins_ && skip_late_packet(packet_.get())) {
        av_packet_unref(packet_.get());
        continue;
      }
      if (landing_) {
        const Landing where = compare_to_keyframe(*packet_, *landing_);
        if (where == Landing::Before) {
          // Demuxers land on an index entry at or before the time asked for (mp4 indexes by
          // shifted dts, mkv by cue): what precedes the keyframe is read, never decoded.
          av_packet_unref(packet_.get());
          continue;
        }
        if (where == Landing::After) {
          landed_late_ = true;
          landing_.reset();
          av_packet_unref(packet_.get());
          return false;
        }
        next_packet_order_.store(landing_->decode_order);
        landing_.reset();
      }
      bool unwanted = false;
      if (!target_pts_.empty()) {
        // Targeted access: only the targets are wanted (and whatever references they need).
        unwanted = packet_->pts != AV_NOPTS_VALUE &&
                   !std::binary_search(target_pts_.begin(), target_pts_.end(), packet_->pts);
      } else {
        const int64_t wanted_from = skip_nonref_before_pts_.load();
        unwanted = wanted_from != AV_NOPTS_VALUE && packet_->pts != AV_NOPTS_VALUE && packet_->pts < wanted_from;
      }
      decoder_->send(packet_.get(), unwanted);
      const int64_t order = next_packet_order_.load();
      if (order >= 0) next_packet_order_.store(order + 1);
      av_packet_unref(packet_.get());
      if (order >= 0 && order == feed_limit_order_) {
        // Every packet the run's targets need is in: drain now. A frame-threaded decoder holds
        // ~threads packets (and the reorder delay) before it outputs anything; feeding more
        // would only decode frames that the next seek flushes away.
        fed_to_limit_.store(true);
        demux_eof_ = true;
        decoder_->send(nullptr);
      }
      return true;
    }
    if (packet_sink_) packet_sink_(packet_.get());
    av_packet_unref(packet_.get());
  }
  decoder_->send(nullptr);
  return false;
}

bool VideoSource::next_decoded(AVFrame* frame) {
  for (;;) {
    if (!decoder_->receive(frame)) {
      if (feed_decoder()) continue;
      // End of input (the decoder is now draining) or a bad seek landing.
      if (landed_late_) return false;
      if (!decoder_->receive(frame)) {
        if (frames_decoded_.load() == 0) throw_if_nothing_decoded();
        return false;
      }
    }
    ++frames_decoded_;
    test_pause_point("video_decode");  // tests: a decoder slower than the stream (CPU-starved)
    stamp_arrival(frame);
    frame->pts = frame->best_effort_timestamp;
    if (reconnect_enabled_ && live_ && !in_live_order(frame)) {
      av_frame_unref(frame);
      continue;
    }
    if (cache_enabled_ && frame->pts != AV_NOPTS_VALUE) {
      const int64_t index = index_->index_of(frame->pts);
      if (index >= 0) cache_.insert(index, frame);
    }
    return true;
  }
}

// The input ended without one decoded frame although its video was damaged: that is a failure
// to report, not an empty video (a run would "succeed" with nothing written).
void VideoSource::throw_if_nothing_decoded() const {
  const int64_t decode_errors = decoder_->errors();
  const int64_t read_errors = demuxer_->read_errors() + earlier_read_errors_.load();
  if (decode_errors > 0)
    throw Error(ErrorKind::Decode, "no video frame of '" + url_ + "' could be decoded (" +
                                       std::to_string(decode_errors) +
                                       " packets rejected by the decoder: damaged codec data or stream)");
  // Video data that yields no frame, or none at all where the container lists some: cut short.
  if (read_errors > 0 || demuxer_->video_packets() > 0)
    throw Error(ErrorKind::Source, "'" + url_ + "' ends before its first video frame (truncated or damaged)");
  // Not one video packet in the whole input (an unindexed source: a pipe, a stream that ended
  // at once): a video stream with nothing in it is a failure too, never an empty success.
  throw Error(ErrorKind::Source, "'" + url_ + "' has a video stream but delivered no video packets");
}

int64_t VideoSource::index_for(int64_t pts) {
  // Between seeks, indexes only go up. A damaged stream can decode frames whose pts the index
  // lacks or already gave out (a repeated or backward timestamp): such a frame is the next one,
  // so frames keep coming with increasing indexes, past the index's count when it falls short.
  int64_t index = next_sequential_index_;
  int64_t found = -1;
  if (filtered_) {
    const std::vector<int64_t>& listed = filtered_->pts;
    auto at = std::lower_bound(listed.begin(), listed.end(), pts);
    if (pts != AV_NOPTS_VALUE && at != listed.end() && *at == pts) found = at - listed.begin();
  } else if (index_ && filter_->preserves_timestamps()) {
    found = index_->index_of(pts);
  }
  if (found > index) index = found;  // frames the decoder could not produce are skipped
  next_sequential_index_ = index + 1;
  return index;
}

void VideoSource::note_delivered(const AVFrame* frame) {
  if (!index_) {
    pipeline_next_index_ = -1;  // not indexed yet (network source): the position is unknown
    return;
  }
  if (frame->pts == AV_NOPTS_VALUE) {
    // No timestamp (the last frame of an AVI with B-frames): it is the next one in order.
    if (pipeline_next_index_ >= 0) ++pipeline_next_index_;
    return;
  }
  const int64_t index = index_->index_of(frame->pts);
  pipeline_next_index_ = index >= 0 ? index + 1 : -1;
}

void VideoSource::push_decoded(AVFrame* frame) {
  filter_->push(frame);
  ++frames_converted_;
}

FramePtr VideoSource::next() {
  UniqueFrame out = held_output_ ? std::move(held_output_) : pull_output();
  if (!out) return nullptr;
  ++frames_output_;
  const AVRational tb = filter_->output_time_base();
  const int64_t index = index_for(out->pts);
  if (!filtered_ && out->pts != AV_NOPTS_VALUE && index_ && filter_->preserves_timestamps()) {
    if (last_output_pts_ != AV_NOPTS_VALUE && out->pts <= last_output_pts_) {
      // A damaged timestamp (repeated, or behind the frames already out): the frame is
      // shown where its index says, so times keep increasing and a recording keeps it.
      out->pts = std::max(listed_pts(index), last_output_pts_ + 1);
    }
    last_output_pts_ = out->pts;
  }
  double time = out->pts == AV_NOPTS_VALUE ? 0.0 : to_seconds(out->pts, tb);
  if (!filtered_ && out->pts == AV_NOPTS_VALUE && index_ && filter_->preserves_timestamps() && index < index_->size())
    time = time_of_index(index);  // the index knows when it is shown
  auto made = std::make_shared<Frame>(std::move(out), index, time);
  set_capture_time(*made);
  return made;
}

UniqueFrame VideoSource::pull_output() {
  for (;;) {
    UniqueFrame out = make_frame();
    if (filter_->pull(out.get())) {
      return out;
    }
    if (filter_eof_sent_) {
      // A live source that ends (the sender stopped, the server closed the stream) is an
      // outage: everything decoded has been delivered, now reconnect. A file's end is the end.
      if (!(reconnect_enabled_ && live_ && !index_)) return nullptr;
      reconnect("the stream ended", ErrorKind::Source);
      continue;
    }
    UniqueFrame decoded;
    if (cached_target_) {
      decoded = cache_.get(*cached_target_);
      reposition_to_ = *cached_target_ + 1;
      cached_target_.reset();
    } else if (reposition_to_) {
      const int64_t resume = *reposition_to_;
      seek_to_index(resume);  // served from the cache again when possible
      continue;
    } else {
      try {
        decoded = pop_decoded();
      } catch (const Error& error) {
        if (!is_connection_loss(error)) throw;
        reconnect(error.what(), error.kind());  // what the decoder held of the old connection is lost
        continue;
      }
      if (decoded) note_delivered(decoded.get());
    }
    if (decoded) {
      push_decoded(decoded.get());
    } else {
      if (landed_late_) return nullptr;  // seek_to_index handles the retry
      filter_->push(nullptr);
      filter_eof_sent_ = true;
    }
  }
}

UniqueFrame VideoSource::pop_decoded() {
  if (!pending_frames_.empty()) {
    UniqueFrame frame = std::move(pending_frames_.front());
    pending_frames_.pop_front();
    return frame;
  }
  if (!options_.prefetch) {
    UniqueFrame frame = make_frame();
    return next_decoded(frame.get()) ? std::move(frame) : nullptr;
  }
  if (prefetch_done_) {
    if (prefetch_error_) std::rethrow_exception(std::exchange(prefetch_error_, nullptr));
    return nullptr;
  }
  start_prefetch();
  // May throw Error(Interrupted) (Ctrl-C on this thread): the decode thread keeps its place.
  if (std::optional<UniqueFrame> frame = decoded_queue_->pop(cancel_.get())) return std::move(*frame);
  if (cancel_->cancelled()) {
    stop_prefetch();
    throw Error(ErrorKind::Cancelled, "'" + url_ + "': cancelled");
  }
  stop_prefetch();  // ended: join, then report its failure if it had one
  prefetch_done_ = true;
  if (prefetch_error_) std::rethrow_exception(std::exchange(prefetch_error_, nullptr));
  return nullptr;
}

UniqueFrame VideoSource::take_decoded() {
  // A running decode thread, or one that ended, has the pipeline's state: go through it.
  if (!pending_frames_.empty() || prefetch_thread_.joinable() || prefetch_done_) return pop_decoded();
  // Otherwise decode on this thread: a single random access needs no thread decoding ahead.
  UniqueFrame frame = make_frame();
  return next_decoded(frame.get()) ? std::move(frame) : nullptr;
}

bool VideoSource::advance_to(int64_t target_pts) {
  for (;;) {
    UniqueFrame frame = take_decoded();
    if (!frame) return false;
    note_delivered(frame.get());
    if (frame->pts != AV_NOPTS_VALUE && frame->pts < target_pts) continue;  // decoded only to reach the target
    push_decoded(frame.get());
    return true;
  }
}

void VideoSource::note_arrival(const AVPacket* packet) {
  last_arrival_micros_ = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  arrivals_[next_arrival_] = Arrival{packet->pts, last_arrival_micros_};
  next_arrival_ = (next_arrival_ + 1) % arrivals_.size();
  const int64_t origin = demuxer_->context()->start_time_realtime;
  if (origin != AV_NOPTS_VALUE && origin > 0) wallclock_origin_micros_.store(origin);
}

void VideoSource::stamp_arrival(AVFrame* frame) const {
  // The packet that carried this picture; frames the ring forgot (or without pts) get the
  // newest arrival, which errs toward less latency.
  int64_t micros = last_arrival_micros_;
  if (frame->pts != AV_NOPTS_VALUE) {
    for (const Arrival& arrival : arrivals_)
      if (arrival.pts == frame->pts && arrival.micros) micros = arrival.micros;
  }
  frame->opaque = reinterpret_cast<void*>(static_cast<intptr_t>(micros));
}

void VideoSource::set_capture_time(Frame& frame) const {
  if (index_) return;  // an indexed file has no capture moment
  const AVFrame* av = frame.av_frame();
  const bool has_pts = av->pts != AV_NOPTS_VALUE && filter_->preserves_timestamps();
  if (wallclock_timestamps_ && has_pts) {
    frame.set_capture(frame.time(), CaptureClock::WallclockTimestamps);
    return;
  }
  const int64_t origin = wallclock_origin_micros_.load();
  if (origin != AV_NOPTS_VALUE && has_pts) {
    // RTP: pts 0 is the stream's base timestamp, which start_time_realtime puts on the sender's clock.
    frame.set_capture(static_cast<double>(origin) / 1e6 + frame.time(), CaptureClock::SenderWallclock);
    return;
  }
  const auto micros = static_cast<int64_t>(reinterpret_cast<intptr_t>(av->opaque));
  if (micros > 0) frame.set_capture(static_cast<double>(micros) / 1e6, CaptureClock::PacketArrival);
}

void VideoSource::start_prefetch() {
  if (prefetch_thread_.joinable()) return;
  decoded_queue_ = std::make_unique<BlockingQueue<UniqueFrame>>(newest_wins_ ? 1 : 4);
  prefetch_stop_.store(false);
  prefetch_ended_.store(false);
  prefetch_error_ = nullptr;
  prefetch_thread_ = std::thread([this] { prefetch_loop(); });
}

void VideoSource::stop_prefetch() {
  if (!prefetch_thread_.joinable()) return;
  prefetch_stop_.store(true);
  // What the thread decoded ahead is still next in order: keep it, so that a halt or a target
  // reached by decoding forward loses no frame. The thread closes the queue when it leaves
  // (after at most the frame it is decoding now; a cancelled token ends a blocked read).
  while (std::optional<UniqueFrame> frame = decoded_queue_->pop()) pending_frames_.push_back(std::move(*frame));
  prefetch_thread_.join();
  if (prefetch_ended_.load()) prefetch_done_ = true;
}

void VideoSource::prefetch_loop() {
  try {
    while (!prefetch_stop_.load()) {
      UniqueFrame frame = make_frame();
      if (!next_decoded(frame.get())) {
        prefetch_ended_.store(true);
        break;
      }
      if (newest_wins_) {
        const int replaced = decoded_queue_->push_replacing(std::move(frame), 0);
        if (replaced < 0) break;
        superseded_ += replaced;
      } else if (!decoded_queue_->push(std::move(frame), cancel_.get())) {
        break;
      }
    }
  } catch (...) {
    prefetch_error_ = std::current_exception();
    prefetch_ended_.store(true);
  }
  decoded_queue_->close();
}

void VideoSource::discard_filtered() {
  if (!options_.vfilter.empty() || filter_eof_sent_) {
    filter_->reset();
    return;
  }
  UniqueFrame stale = make_frame();
  while (filter_->pull(stale.get())) av_frame_unref(stale.get());
}

void VideoSource::reset_decoding() {
  decoder_->flush();
  discard_filtered();
  fed_to_limit_.store(false);
  demux_eof_ = false;
  filter_eof_sent_ = false;
  landed_late_ = false;
  landing_.reset();
}

bool VideoSource::position_at_keyframe(size_t keyframe_pos, bool by_pts) {
  const FrameIndex::Keyframe& keyframe = index_->keyframes()[keyframe_pos];
  reset_decoding();
  pipeline_next_index_ = -1;  // known again once frames come out
  if (keyframe_pos == 0) {
    // Decoding from the very start is always right: reopen rather than trust seeking to 0.
    reopen();
    next_packet_order_.store(0);
    return true;
  }
  int64_t timestamp = keyframe.dts != AV_NOPTS_VALUE ? keyframe.dts : keyframe.pts;
  if (by_pts && keyframe.pts != AV_NOPTS_VALUE) timestamp = keyframe.pts;
  ++seeks_;
  try {
    demuxer_->seek(timestamp);
  } catch (const Error& error) {
    // Stopping, a stall or Ctrl-C are not reasons to try another keyframe.
    if (error.kind() == ErrorKind::Cancelled || error.kind() == ErrorKind::Interrupted ||
        error.kind() == ErrorKind::SourceTimeout)
      throw;
    return false;
  }
  next_packet_order_.store(-1);  // known when the keyframe's packet comes by
  landing_ = keyframe;
  return true;
}

void VideoSource::reopen() {
  auto fresh = std::make_unique<Demuxer>(url_, demuxer_->video_stream_index(), cancel_, options_.demuxer_options());
  earlier_read_errors_ += demuxer_->read_errors();
  demuxer_ = std::move(fresh);
  ++seeks_;
  set_packet_sink(packet_sink_);
}

bool VideoSource::can_reach_by_decoding(int64_t index) const {
  if (pipeline_next_index_ < 0 || index < pipeline_next_index_) return false;
  if (filter_eof_sent_ || landed_late_ || landing_) return false;
  if (prefetch_done_ && pending_frames_.empty()) return false;  // decoding has ended
  // The decoder is (or will be) drained after the run's last packet: later packets need a seek.
  if (feed_limit_order_ >= 0 && index_->decode_order_at(index) > feed_limit_order_) return false;
  // Seeking would start decoding at this keyframe; when its packet has been read already (or
  // is the next one), decoding on from here does the same work or less, and skips the seek.
  const int64_t next_packet = next_packet_order_.load();
  const FrameIndex::Keyframe& start = index_->keyframes()[index_->start_keyframe(index)];
  return next_packet >= 0 && start.decode_order <= next_packet;
}

int64_t VideoSource::listed_pts(int64_t index) const {
  const int64_t count = index_->size();
  if (count == 0) return 0;
  if (index < count) return index_->pts_at(index);
  // Past the end of the index: one mean frame interval per frame.
  const int64_t first = index_->pts_at(0);
  const int64_t step = std::max<int64_t>(1, (index_->end_pts() - first) / count);
  return index_->end_pts() + (index - count) * step;
}

void VideoSource::seek_to_index(int64_t index) {
  if (index < 0) throw Error(ErrorKind::InvalidArgument, "frame index must be >= 0");
  frame_index();
  throw_if_timeline_unknown();
  held_output_.reset();
  last_output_pts_ = AV_NOPTS_VALUE;
  if (filtered_) {
    seek_to_filtered_index(index);
    return;
  }
  seek_to_raw_index(index);
}

void VideoSource::seek_to_filtered_index(int64_t index) {
  const FilteredTimeline& timeline = *filtered_;
  if (index >= static_cast<int64_t>(timeline.pts.size())) {
    seek_to_raw_index(index_->size());  // past the end
    return;
  }
  const int64_t wanted = timeline.pts[static_cast<size_t>(index)];
  // The filter restarts two decoded frames before the one whose arrival made the wanted frame
  // come out (fps= shows the frame before it), from that frame's keyframe. Filters whose output
  // depends on more history, or on counting from the start (setpts=N, select on n), would land
  // elsewhere: that is checked, and then everything is filtered again from the start.
  const int64_t restart = std::max<int64_t>(0, timeline.producer[static_cast<size_t>(index)] - 2);
  for (const bool from_start : {false, true}) {
    const int64_t raw = from_start ? 0 : restart;
    if (from_start || !can_reach_by_decoding(raw) || next_sequential_index_ > index) {
      filter_->reset();
      filter_eof_sent_ = false;
      seek_to_raw_index(raw);
      // Raw seeking skips non-reference frames before `raw`; from there on, every decoded
      // frame goes through the filter.
      skip_nonref_before_pts_.store(AV_NOPTS_VALUE);
    }
    UniqueFrame out = pull_output();
    while (out && (out->pts == AV_NOPTS_VALUE || out->pts < wanted)) out = pull_output();
    if (out && out->pts == wanted) {
      held_output_ = std::move(out);
      next_sequential_index_ = index;
      return;
    }
  }
  throw Error(ErrorKind::Filter, "vfilter '" + options_.vfilter + "' did not produce frame " + std::to_string(index) +
                                     " again when decoding from the start (a filter that is not deterministic?)");
}

void VideoSource::seek_to_raw_index(int64_t index) {
  const FrameIndex& table = frame_index();
  cached_target_.reset();
  reposition_to_.reset();
  if (index < table.size() && cache_.lookup_for_seek(index)) {
    // A recently decoded frame: serve it from the cache; the decoder is repositioned only if
    // reading continues past it (next()).
    stop_prefetch();
    discard_filtered();
    filter_eof_sent_ = false;
    cached_target_ = index;
    next_sequential_index_ = index;
    return;
  }
  if (index >= table.size()) {
    // Past the end: the next read reports end of stream.
    stop_prefetch();
    pending_frames_.clear();
    prefetch_done_ = false;
    prefetch_error_ = nullptr;
    reset_decoding();
    demux_eof_ = true;
    decoder_->send(nullptr);
    filter_eof_sent_ = true;
    pipeline_next_index_ = -1;
    return;
  }
  const int64_t target_pts = table.pts_at(index);
  // Non-reference frames shown before the target are not decoded, except when the back-step
  // cache is on and this goes backward: then the frames before the target are the next
  // back-steps, worth decoding once now.
  const bool stepping_back = cache_enabled_ && (pipeline_next_index_ < 0 || index < pipeline_next_index_);
  if (can_reach_by_decoding(index)) {
    discard_filtered();  // frames converted for an earlier target are not wanted now
    skip_nonref_before_pts_.store(target_pts);
    if (feed_limit_order_ < 0) feed_limit_order_ = run_limit(index);  // a run that started without a seek
    if (advance_to(target_pts)) {
      next_sequential_index_ = index;
      return;
    }
    // Decoding ended before the target (damaged data): a real seek may still get it.
  }
  stop_prefetch();  // from here on this thread alone touches demuxer_/decoder_/index_
  pending_frames_.clear();
  prefetch_done_ = false;
  prefetch_error_ = nullptr;
  skip_nonref_before_pts_.store(stepping_back ? AV_NOPTS_VALUE : target_pts);
  feed_limit_order_ = run_limit(index);
  size_t keyframe_pos = table.start_keyframe(index);
  // Seeking by the keyframe's pts lands exactly in containers indexed by display time (mkv
  // cues, mp4's shifted sample times); by its dts, there, a GOP early (harmless: skipped
  // unread, but wasted reading). Containers searched by dts (MPEG-TS) land after the keyframe
  // when asked its pts: then its dts is tried, and this source seeks by dts from then on.
  // Derived timestamps (AVI) are not the container's: by dts only.
  bool by_pts = seek_by_pts_ && !table.derived_timestamps();
  for (int attempt = 0;; ++attempt) {
    if (attempt >= kMaxSeekRetries) keyframe_pos = 0;
    if (!position_at_keyframe(keyframe_pos, by_pts)) {
      keyframe_pos = 0;
      continue;
    }
    // Decode up to the target now, so a bad landing is detected here rather than in next().
    if (advance_to(target_pts)) {
      next_sequential_index_ = index;
      return;
    }
    if (fed_to_limit_.load() && !landed_late_) {
      // The run stopped feeding where the index said the target's packet was, yet the target
      // did not come (damaged data): decode this run again without the limit.
      feed_limit_order_ = -1;
      --attempt;
      continue;
    }
    if (!landed_late_ || keyframe_pos == 0) {
      next_sequential_index_ = index;
      return;  // nothing decodable from here on: next() reports the end
    }
    if (by_pts) {
      by_pts = false;
      seek_by_pts_ = false;
    } else {
      keyframe_pos = keyframe_pos > 0 ? keyframe_pos - 1 : 0;
    }
  }
}

int64_t VideoSource::run_limit(int64_t index) const {
  auto target = std::lower_bound(target_indices_.begin(), target_indices_.end(), index);
  if (target == target_indices_.end() || *target != index) return -1;
  const FrameIndex& table = *index_;
  int64_t limit = table.decode_order_at(index);
  for (++target; target != target_indices_.end(); ++target) {
    // Decoding on to a target whose start keyframe lies beyond the run's next packet would
    // decode the frames in between for nothing: a seek to that keyframe is cheaper.
    const FrameIndex::Keyframe& start = table.keyframes()[table.start_keyframe(*target)];
    if (start.decode_order > limit + 1) break;
    limit = std::max(limit, table.decode_order_at(*target));
  }
  return limit;
}

void VideoSource::begin_targets(std::vector<int64_t> indices) {
  const FrameIndex& table = frame_index();
  if (filtered_ || timeline_unknown_) return;  // a filter needs every decoded frame
  stop_prefetch();  // the decode side reads the targets: set them with no decode thread running
  std::sort(indices.begin(), indices.end());
  indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
  indices.erase(std::remove_if(indices.begin(), indices.end(),
                               [&](int64_t i) { return i < 0 || i >= table.size(); }),
                indices.end());
  target_pts_.clear();
  for (const int64_t i : indices) target_pts_.push_back(table.pts_at(i));
  std::sort(target_pts_.begin(), target_pts_.end());
  target_indices_ = std::move(indices);
}

void VideoSource::resume_at(int64_t index) {
  stop_prefetch();
  held_output_.reset();
  discard_filtered();
  filter_eof_sent_ = false;
  cached_target_.reset();
  pipeline_next_index_ = -1;  // not where the decoder is: next() seeks
  next_sequential_index_ = index;
  reposition_to_ = index;
}

void VideoSource::end_targets() {
  stop_prefetch();
  if (target_indices_.empty()) return;
  target_indices_.clear();
  target_pts_.clear();
  feed_limit_order_ = -1;
  // Targeted decoding skipped non-targets and drained after a run's last target: what it
  // decoded beyond the last target may have gaps. Reading on repositions to the frame after it.
  pending_frames_.clear();
  prefetch_done_ = false;
  prefetch_error_ = nullptr;
  pipeline_next_index_ = -1;  // not a place to decode on from
  reposition_to_ = next_sequential_index_;
}

FramePtr VideoSource::frame_at(int64_t index) {
  const FrameIndex& table = frame_index();
  // Targeted access drains the decoder after the target, so a later target ahead in the GOP
  // needs a seek. A plain seek keeps the decoder's pipeline full for a caller walking forward,
  // which then decodes on without seeking; but for a keyframe target that pipeline is ~threads
  // + reorder-delay frames decoded ahead of it. So a keyframe reached by a jump is decoded
  // alone (one frame's decode; a walk on from it re-decodes just that keyframe), every other
  // target, and a keyframe reached while walking forward, by a plain seek.
  const int64_t previous = last_frame_at_;
  const bool in_range = index < table.size() && !filtered_;
  const bool walking = previous >= 0 && index > previous && in_range && previous < table.size() &&
                       table.keyframes()[table.start_keyframe(index)].decode_order <=
                           table.decode_order_at(previous) + 1;
  const bool keyframe = in_range && table.keyframes()[table.start_keyframe(index)].pts == table.pts_at(index);
  const bool plain = !keyframe || walking || (last_frame_at_walked_ && index > previous) || filtered_;
  last_frame_at_ = index;
  last_frame_at_walked_ = walking;
  if (plain) {
    seek_to_index(index);
    return next();
  }
  begin_targets({index});
  try {
    seek_to_index(index);
    FramePtr frame = next();
    end_targets();
    return frame;
  } catch (...) {
    end_targets();
    throw;
  }
}

double VideoSource::time_tolerance() const {
  // Half a tick of the stream's time base, and at least half a millisecond: containers with
  // millisecond timestamps (mkv, webm, flv) round k/fps to the nearest millisecond.
  return std::max(0.5 * av_q2d(stream_time_base_), 0.0005);
}

int64_t VideoSource::index_at_time(double seconds, bool clamp_to_last) const {
  if (!std::isfinite(seconds))
    throw Error(ErrorKind::InvalidArgument,
                "seek time must be a finite number of seconds, got " + std::to_string(seconds));
  if (!index_ || index_->size() == 0) return -1;
  if (filtered_) {
    const std::vector<int64_t>& listed = filtered_->pts;
    const double output_tick = av_q2d(filter_->output_time_base());
    // Only the millisecond rounding of containers: a filter's time base can be a whole frame.
    const double at = seconds / output_tick + 0.0005 / output_tick;
    const int64_t count = static_cast<int64_t>(listed.size());
    int64_t found = std::upper_bound(listed.begin(), listed.end(), at,
                                     [](double value, int64_t pts) { return value < static_cast<double>(pts); }) -
                    listed.begin() - 1;
    // After the last filtered frame's end (one output frame interval): past the end.
    if (!clamp_to_last && found == count - 1 && count >= 1) {
      const int64_t step = count >= 2 ? listed[count - 1] - listed[count - 2] : 1;
      if (at >= static_cast<double>(listed[count - 1] + step)) return count;
    }
    return std::max<int64_t>(found, 0);
  }
  const double tick = av_q2d(stream_time_base_);
  const double ticks = seconds / tick;
  const double tolerance = time_tolerance() / tick;
  const int64_t found = index_->on_screen_at(ticks, tolerance);
  const int64_t last = index_->size() - 1;
  if (!clamp_to_last && found == last && ticks + tolerance >= static_cast<double>(index_->end_pts()))
    return index_->size();  // after the last frame's end
  return found;
}

double VideoSource::time_of_index(int64_t index) const {
  if (filtered_) {
    if (index < 0 || index >= static_cast<int64_t>(filtered_->pts.size())) return 0.0;
    return to_seconds(filtered_->pts[static_cast<size_t>(index)], filter_->output_time_base());
  }
  if (!index_ || index < 0 || index >= index_->size()) return 0.0;
  return to_seconds(index_->pts_at(index), stream_time_base_);
}

void VideoSource::seek_to_time(double seconds) {
  if (!std::isfinite(seconds))
    throw Error(ErrorKind::InvalidArgument,
                "seek time must be a finite number of seconds, got " + std::to_string(seconds));
  frame_index();
  // An index without frames (nothing in the file is displayable) has no frame at any time:
  // the iteration ends, as after the last frame (index_at_time says -1, not an index).
  seek_to_index(std::max<int64_t>(index_at_time(seconds, /*clamp_to_last=*/false), 0));
}

SourceStats VideoSource::stats() const {
  SourceStats s;
  s.packets_read = packets_read_.load();
  s.frames_decoded = frames_decoded_.load();
  s.frames_converted = frames_converted_;
  s.frames_output = frames_output_;
  s.seeks = seeks_;
  s.frames_superseded = superseded_.load();
  s.read_errors = earlier_read_errors_.load() + (demuxer_ ? demuxer_->read_errors() : 0);
  s.decode_errors = decoder_->errors() + earlier_decode_errors_ + s.read_errors;
  s.device_to_host_bytes = decoder_->device_to_host_bytes();
  s.device_to_host_copies = decoder_->device_to_host_copies();
  s.reconnects = reconnects_;
  s.downtime = downtime_;
  s.frames_lost = frames_lost_;
  s.frames_late = frames_late_.load();
  return s;
}

// ---------------------------------------------------------------------------------------------
// Reconnecting a live source. The policy (whether, how long to wait) is reconnect_policy.cpp;
// here the waiting, the reopening and the timeline. Seeking code above does not use any of it.

namespace {

// Beyond this much of a jump back in a live stream's video timestamps, the sender restarted
// (a camera rebooted, an encoder restarted its clock) without the connection dropping.
constexpr double kLiveJumpBack = 1.0;
// A new connection whose own clock continues after the last one within the outage plus this
// keeps its timestamps (HLS, an RTSP server's running clock); otherwise it is mapped after.
constexpr double kOwnClockSlack = 2.0;
// Frames a decoder may hold back for B-frame reordering (H.264/HEVC streams rarely use more).
constexpr double kReorderAllowance = 3.0;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Error VideoSource::not_connected() const {
  return Error(ErrorKind::Source, "'" + url_ + "': not connected (the source was lost and reconnecting gave up)");
}

bool VideoSource::is_connection_loss(const Error& error) const {
  if (!reconnect_enabled_) return false;
  // Stopping, Ctrl-C, a refused protocol or certificate are answers, not outages.
  return error.kind() == ErrorKind::Source || error.kind() == ErrorKind::SourceTimeout;
}

void VideoSource::notify(ConnectionEvent::Kind kind, const std::string& reason, int64_t attempt, double downtime,
                         int64_t frames_lost) {
  if (kind == ConnectionEvent::Kind::Disconnected)
    av_log(nullptr, AV_LOG_WARNING, "vistream: lost '%s': %s; reconnecting\n", url_.c_str(), reason.c_str());
  else if (kind == ConnectionEvent::Kind::Reconnected)
    av_log(nullptr, AV_LOG_INFO, "vistream: reconnected to '%s' (attempt %lld, %.1f s down)\n", url_.c_str(),
           static_cast<long long>(attempt), downtime);
  if (!connection_listener_) return;
  ConnectionEvent event;
  event.kind = kind;
  event.reason = reason;
  event.attempt = attempt;
  event.downtime = downtime;
  event.frames_lost = frames_lost;
  connection_listener_(event);
}

void VideoSource::reconnect(const std::string& reason, ErrorKind kind) {
  const auto lost_at = std::chrono::steady_clock::now();
  // The decode thread has ended (its read failed or the input ended); whatever it had decoded
  // ahead was delivered or belongs to the lost connection.
  stop_prefetch();
  pending_frames_.clear();
  prefetch_done_ = false;
  prefetch_error_ = nullptr;
  // The old connection goes first: the new one may need what it holds (a bound UDP port, a
  // capture device). Until a new one opens, reads fail with not_connected() (a reconnect that
  // gives up leaves the source so).
  if (demuxer_) earlier_read_errors_ += demuxer_->read_errors();
  demuxer_.reset();
  notify(ConnectionEvent::Kind::Disconnected, reason, 0, 0.0);
  const auto seed = static_cast<uint64_t>(lost_at.time_since_epoch().count()) ^ reinterpret_cast<uintptr_t>(this);
  ReconnectBackoff backoff(options_.reconnect, seed);
  std::string last_failure = reason;
  ErrorKind last_kind = kind;
  for (;;) {
    if (!backoff.may_retry()) {
      throw Error(last_kind, "'" + url_ + "': connection lost (" + reason + "); gave up after " +
                                 std::to_string(backoff.attempt()) + " reconnect attempt(s), last: " + last_failure);
    }
    const double delay = backoff.next_delay();
    if (!cancel_->sleep_for(std::chrono::duration_cast<CancelToken::Clock::duration>(
            std::chrono::duration<double>(delay))))
      throw Error(ErrorKind::Cancelled, "'" + url_ + "': reconnect cancelled");
    try {
      open_new_connection();
      break;
    } catch (const Error& error) {
      if (error.kind() == ErrorKind::Cancelled || error.kind() == ErrorKind::Interrupted ||
          error.kind() == ErrorKind::InvalidArgument)
        throw;
      last_failure = error.what();
      last_kind = error.kind() == ErrorKind::SourceTimeout ? ErrorKind::SourceTimeout : ErrorKind::Source;
      notify(ConnectionEvent::Kind::AttemptFailed, last_failure, backoff.attempt(), seconds_since(lost_at));
    }
  }
  const double downtime = seconds_since(lost_at);
  const Rational rate = info_.frame_rate;
  const int64_t lost = rate.num > 0 && rate.den > 0 ? std::llround(downtime * rate.num / rate.den) : 0;
  ++reconnects_;
  downtime_ += downtime;
  frames_lost_ += lost;
  timeline_.lost_downtime = downtime;
  notify(ConnectionEvent::Kind::Reconnected, reason, backoff.attempt(), downtime, lost);
}

void VideoSource::open_new_connection() {
  // Probed afresh: a restarted server may number its streams differently.
  auto fresh = std::make_unique<Demuxer>(url_, -1, cancel_, options_.demuxer_options());
  AVStream* video = fresh->video_stream();
  if (!video) throw Error(ErrorKind::Source, "'" + url_ + "' has no video stream after reconnecting");
  // The new connection's codec parameters (SPS/PPS of an RTSP session's SDP) go to a new
  // decoder, on the device settled at open.
  DecoderOptions decoding = decoder_options_;
  if (!info_.hwaccel.empty()) decoding.hwaccel = info_.hwaccel;
  auto decoder = std::make_unique<VideoDecoder>(video, decoding);
  earlier_decode_errors_ += decoder_->errors();
  demuxer_ = std::move(fresh);
  decoder_ = std::move(decoder);
  reset_decoding();
  set_packet_sink(packet_sink_);  // the new demuxer's audio: kept only when someone takes it
  pipeline_next_index_ = -1;
  next_packet_order_.store(-1);
  skip_nonref_before_pts_.store(AV_NOPTS_VALUE);
  ++timeline_.connection;
  timeline_.offset_known = false;
  timeline_.last_video_dts = -INFINITY;
  // The outage is not a backlog: the new connection sets the stream's pace afresh.
  backlog_ = Backlog{backlog_.applies};
}

double VideoSource::frame_duration() const {
  const AVStream* video = demuxer_ ? demuxer_->video_stream() : nullptr;
  AVRational rate = info_.frame_rate.num > 0 ? AVRational{info_.frame_rate.num, info_.frame_rate.den} : AVRational{0, 1};
  if (rate.num <= 0 && video) rate = video->avg_frame_rate.num > 0 ? video->avg_frame_rate : video->r_frame_rate;
  return rate.num > 0 && rate.den > 0 ? av_q2d(av_inv_q(rate)) : 0.04;
}

// Decode side, live sources that reconnect: frames leave in time order. A frame without a
// timestamp (the first of an RTP session may have none) follows the last one by a frame; one
// at or before the last one (a leading picture whose reference came before the reconnect, or
// a sender's clock stepping back) is dropped.
bool VideoSource::in_live_order(AVFrame* frame) {
  const int64_t step = std::max<int64_t>(1, std::llround(frame_duration() / av_q2d(stream_time_base_)));
  if (frame->pts == AV_NOPTS_VALUE) {
    // The first frame of an RTP session may have none: the timeline starts there.
    frame->pts = last_live_pts_ == AV_NOPTS_VALUE ? 0 : last_live_pts_ + step;
  } else if (last_live_pts_ != AV_NOPTS_VALUE && frame->pts <= last_live_pts_) {
    return false;
  }
  last_live_pts_ = frame->pts;
  return true;
}

// Every packet: into the first connection's time bases, shifted so that a later connection's
// timeline starts after the end of everything delivered before (a frame is never older than
// the one before it), and the end of what was delivered is tracked. Packets of the first
// connection keep their timestamps, unless a live stream's clock jumps back.
void VideoSource::map_timeline(AVPacket* packet) {
  AVFormatContext* ctx = demuxer_->context();
  if (packet->stream_index < 0 || packet->stream_index >= static_cast<int>(ctx->nb_streams)) return;
  const AVRational from = ctx->streams[packet->stream_index]->time_base;
  const bool video = packet->stream_index == demuxer_->video_stream_index();
  const AVRational to = video ? stream_time_base_ : (demuxer_->audio_stream() &&
                                                     packet->stream_index == demuxer_->audio_stream_index()
                                                         ? audio_time_base_
                                                         : from);
  auto earliest = [](const AVPacket* p) {
    if (p->dts == AV_NOPTS_VALUE) return p->pts;
    if (p->pts == AV_NOPTS_VALUE) return p->dts;
    return std::min(p->pts, p->dts);
  };
  if (reconnect_enabled_ && live_ && video && timeline_.offset_known && packet->dts != AV_NOPTS_VALUE) {
    const double dts = to_seconds(packet->dts, from) + timeline_.offset_us / 1e6;
    if (dts < timeline_.last_video_dts - kLiveJumpBack) {
      // Same connection, new clock: map it after what was delivered, as after a reconnect.
      timeline_.offset_known = false;
      timeline_.lost_downtime = 0.0;
    }
  }
  if (!timeline_.offset_known) {
    const int64_t first = earliest(packet);
    if (first == AV_NOPTS_VALUE) return;  // placed by the next packet that has a time
    double start = to_seconds(first, from);
    // Only a presentation time (RTP): the packets after it may decode earlier by the B-frame
    // reorder depth. Room for that, so none of them lands before the end of the last timeline.
    if (video && packet->dts == AV_NOPTS_VALUE) start -= kReorderAllowance * frame_duration();
    const bool own_clock_continues =
        start > timeline_.end && start - timeline_.end <= timeline_.lost_downtime + kOwnClockSlack;
    const double offset = std::isfinite(timeline_.end) && !own_clock_continues ? timeline_.end - start : 0.0;
    timeline_.offset_us = static_cast<int64_t>(std::llround(offset * 1e6));
    timeline_.offset_known = true;
  }
  if (timeline_.connection > 0 || timeline_.offset_us != 0 || av_cmp_q(from, to) != 0) {
    const int64_t shift = av_rescale_q(timeline_.offset_us, AV_TIME_BASE_Q, to);
    if (packet->pts != AV_NOPTS_VALUE) packet->pts = av_rescale_q(packet->pts, from, to) + shift;
    if (packet->dts != AV_NOPTS_VALUE) packet->dts = av_rescale_q(packet->dts, from, to) + shift;
    if (packet->duration > 0) packet->duration = av_rescale_q(packet->duration, from, to);
  }
  const int64_t last = packet->pts != AV_NOPTS_VALUE ? std::max(packet->pts, packet->dts) : packet->dts;
  if (last == AV_NOPTS_VALUE) return;
  // Without a duration, a video packet lasts a frame: the next timeline starts a frame later.
  double duration = packet->duration > 0 ? to_seconds(packet->duration, to) : 0.0;
  if (duration <= 0 && video) duration = frame_duration();
  timeline_.end = std::max(timeline_.end, to_seconds(last, to) + duration);
  if (video && packet->dts != AV_NOPTS_VALUE)
    timeline_.last_video_dts = std::max(timeline_.last_video_dts, to_seconds(packet->dts, to));
}

// Decode side, live sources in real time: is this video packet read so late that it should be
// skipped? The stream's pace is the least (arrival - media time) seen; how far a packet's
// (arrival - media time) lies above it is how long it waited to be read (in the socket, the
// demuxer's FIFO): a backlog that only grows when decoding is slower than the stream. Past
// kLiveBacklogLimit, packets are skipped (never decoded) up to a keyframe read with the backlog
// under half the limit; skipping reads as fast as the buffers give, so the backlog drains.
// A sender's clock running slow against ours looks like a backlog too, but one that skipping
// does not drain: the pace is allowed to drift by kPaceDrift, and a skip that drains nothing
// over 2 limits of media means the timestamps do not keep the sender's pace at all: catching up
// stops for this connection (it would skip for good).
bool VideoSource::skip_late_packet(const AVPacket* packet) {
  constexpr double kPaceDrift = 1e-3;  // seconds per second: 1000 ppm, far beyond crystal drift
  if (backlog_.pace_unreliable && !backlog_.skipping) return false;
  const int64_t stamp = packet->dts != AV_NOPTS_VALUE ? packet->dts : packet->pts;
  const bool keyframe = (packet->flags & AV_PKT_FLAG_KEY) != 0;
  if (stamp != AV_NOPTS_VALUE) {
    const double media = to_seconds(stamp, stream_time_base_);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    // A clock stepping back (a sender restarted without a reconnect) starts a new pace.
    if (media < backlog_.last_media - kLiveBacklogLimit) backlog_.floor = INFINITY;
    backlog_.last_media = media;
    const double lag = wall - media;
    const double floor = backlog_.floor + (wall - backlog_.floor_wall) * kPaceDrift;
    if (lag < floor) {
      backlog_.floor = lag;
      backlog_.floor_wall = wall;
    }
    const double backlog = lag - std::min(floor, lag);
    if (backlog_.skipping) {
      const bool drains_nothing = media - backlog_.skip_media > 2 * kLiveBacklogLimit &&
                                  backlog > backlog_.skip_backlog - kLiveBacklogLimit / 2;
      if (drains_nothing) backlog_.pace_unreliable = true;
      // Decoding resumes at a keyframe only: a gap before anything else would corrupt frames.
      if (keyframe && (backlog < kLiveBacklogLimit / 2 || backlog_.pace_unreliable)) backlog_.skipping = false;
    } else if (backlog > kLiveBacklogLimit) {
      backlog_.skipping = true;
      backlog_.skip_media = media;
      backlog_.skip_backlog = backlog;
    }
  }
  if (backlog_.skipping) ++frames_late_;
  return backlog_.skipping;
}

}  // namespace vistream
