#include "vistream/results_embed.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "vistream/av_ptr.hpp"
#include "vistream/error.hpp"
#include "vistream/ffmpeg.hpp"
#include "vistream/log.hpp"

namespace vistream {

namespace {

// Text samples are timed in milliseconds: Matroska's own resolution, and mp4 keeps it exactly.
constexpr AVRational kTextTimeBase{1, 1000};

// A 3GPP timed text sample holds its text behind a 16-bit length. Longer text (a results record
// of hundreds of detections) goes into a box of this type after an empty text: players skip
// boxes they do not know, and so does FFmpeg's decoder, while the sample keeps all of it.
constexpr char kLongTextBox[5] = "vstx";
constexpr size_t kMaxMovText = 0xFFFF;

enum class TextCodec { MovText, Ass };

// The name of a stream as this file and the readers know it: the handler name (mp4) or the
// title (Matroska, where the muxer keeps tags as they are).
std::string stream_name(const AVStream* stream) {
  for (const char* key : {"handler_name", "title"}) {
    if (const AVDictionaryEntry* entry = av_dict_get(stream->metadata, key, nullptr, 0)) return entry->value;
  }
  return "";
}

std::string tag(const AVStream* stream, const char* key) {
  const AVDictionaryEntry* entry = av_dict_get(stream->metadata, key, nullptr, 0);
  return entry ? entry->value : "";
}

// Opens `path`. `probe`: also run FFmpeg's stream probing, which a packet copy needs (it fills
// in the dts of B-frame streams in Matroska, whose packets carry only pts); reading text and
// timestamps needs nothing beyond the header.
UniqueInputFormatContext open_input(const std::string& path, bool probe) {
  AVFormatContext* raw = nullptr;
  log::ScopedCapture details;
  const int ret = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (ret < 0) throw_av_error(ret, ErrorKind::Source, details.annotate("cannot open '" + path + "'"));
  UniqueInputFormatContext input(raw);
  if (!probe) return input;
  // An attachment whose mimetype FFmpeg has no codec for (ours: application/x-ndjson) would be
  // reported as a stream it "could not find codec parameters for": it has none to find.
  std::vector<AVStream*> unnamed_attachments;
  for (unsigned i = 0; i < input->nb_streams; ++i) {
    AVCodecParameters* par = input->streams[i]->codecpar;
    if (par->codec_type == AVMEDIA_TYPE_ATTACHMENT && par->codec_id == AV_CODEC_ID_NONE) {
      par->codec_id = AV_CODEC_ID_BIN_DATA;
      unnamed_attachments.push_back(input->streams[i]);
    }
  }
  VS_CHECK(avformat_find_stream_info(input.get(), nullptr), ErrorKind::Source,
           details.annotate("cannot read the streams of '" + path + "'"));
  for (AVStream* stream : unnamed_attachments) stream->codecpar->codec_id = AV_CODEC_ID_NONE;
  return input;
}

// Reads the next packet; false at the end of the file. A read error is an error: a copy that
// silently stopped early would replace the recording with a shorter one.
bool read_packet(AVFormatContext* input, AVPacket* packet, const std::string& path) {
  const int ret = av_read_frame(input, packet);
  if (ret == AVERROR_EOF) return false;
  if (ret < 0) {
    if (input->pb && avio_feof(input->pb) && !input->pb->error) return false;  // data ends inside a packet
    throw_av_error(ret, ErrorKind::Source, "cannot read '" + path + "'");
  }
  return true;
}

void put_u16(std::string& out, unsigned value) {
  out.push_back(static_cast<char>((value >> 8) & 0xFF));
  out.push_back(static_cast<char>(value & 0xFF));
}

void put_u32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xFF));
}

unsigned get_u16(const uint8_t* data) { return (unsigned(data[0]) << 8) | data[1]; }

uint32_t get_u32(const uint8_t* data) {
  return (uint32_t(data[0]) << 24) | (uint32_t(data[1]) << 16) | (uint32_t(data[2]) << 8) | data[3];
}

// The TextSampleEntry fields after the sample entry header (3GPP TS 26.245, 5.16): what the mp4
// muxer stores as the track's description. White text, bottom centre, no background, one font.
std::string mov_text_description() {
  std::string out;
  put_u32(out, 0);                      // displayFlags
  out.push_back(1);                     // horizontal justification: centre
  out.push_back(static_cast<char>(-1)); // vertical justification: bottom
  put_u32(out, 0);                      // background colour RGBA: transparent
  for (int i = 0; i < 4; ++i) put_u16(out, 0);  // default text box: the whole track area
  put_u16(out, 0);                      // style record: from character 0
  put_u16(out, 0);                      //   to character 0 (the default style)
  put_u16(out, 1);                      //   font id 1
  out.push_back(0);                     //   face style: plain
  out.push_back(18);                    //   size
  put_u32(out, 0xFFFFFFFFu);            //   text colour RGBA: opaque white
  const std::string font = "Sans";
  put_u32(out, static_cast<uint32_t>(4 + 4 + 2 + 2 + 1 + font.size()));  // 'ftab' box
  out += "ftab";
  put_u16(out, 1);
  put_u16(out, 1);
  out.push_back(static_cast<char>(font.size()));
  out += font;
  return out;
}

std::string mov_text_sample(const std::string& text) {
  std::string out;
  if (text.size() <= kMaxMovText) {
    put_u16(out, static_cast<unsigned>(text.size()));
    out += text;
    return out;
  }
  if (text.size() > std::numeric_limits<uint32_t>::max() - 8)
    throw Error(ErrorKind::InvalidArgument, "a text sample of " + std::to_string(text.size()) + " bytes is too long");
  put_u16(out, 0);
  put_u32(out, static_cast<uint32_t>(8 + text.size()));
  out.append(kLongTextBox, 4);
  out += text;
  return out;
}

std::string mov_text_from_sample(const uint8_t* data, size_t size) {
  if (size < 2) return "";
  const size_t length = std::min<size_t>(get_u16(data), size - 2);
  std::string text(reinterpret_cast<const char*>(data + 2), length);
  for (size_t at = 2 + length; at + 8 <= size;) {
    const uint32_t box_size = get_u32(data + at);
    if (box_size < 8 || box_size > size - at) break;
    if (memcmp(data + at + 4, kLongTextBox, 4) == 0)
      text.append(reinterpret_cast<const char*>(data + at + 8), box_size - 8);
    at += box_size;
  }
  return text;
}

// ASS: line breaks are "\N"; braces open override blocks, which labels must never do.
std::string ass_text(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\n') out += "\\N";
    else if (c == '\r') continue;
    else if (c == '{') out += '(';
    else if (c == '}') out += ')';
    else out += c;
  }
  return out;
}

std::string text_from_ass(const uint8_t* data, size_t size) {
  // Matroska's ASS packet: ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text
  std::string packet(reinterpret_cast<const char*>(data), size);
  size_t at = 0;
  for (int field = 0; field < 8; ++field) {
    at = packet.find(',', at);
    if (at == std::string::npos) return packet;
    ++at;
  }
  std::string text;
  for (size_t i = at; i < packet.size(); ++i) {
    if (packet[i] == '\\' && i + 1 < packet.size() && (packet[i + 1] == 'N' || packet[i + 1] == 'n')) {
      text += '\n';
      ++i;
    } else {
      text += packet[i];
    }
  }
  return text;
}

// The script header of the ASS track: the video's size as the script's resolution, so the text
// size is a fixed share of the picture whatever the player's window.
std::string ass_header(int width, int height) {
  if (width <= 0 || height <= 0) {
    width = 1280;
    height = 720;
  }
  const int font_size = std::max(12, height / 24);
  const int margin = std::max(8, height / 48);
  return "[Script Info]\n"
         "; detections and tracks written by vistream\n"
         "ScriptType: v4.00+\n"
         "PlayResX: " + std::to_string(width) + "\n"
         "PlayResY: " + std::to_string(height) + "\n"
         "ScaledBorderAndShadow: yes\n"
         "WrapStyle: 0\n"
         "\n"
         "[V4+ Styles]\n"
         "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
         "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
         "MarginL, MarginR, MarginV, Encoding\n"
         "Style: Default,Sans," + std::to_string(font_size) +
         ",&H00FFFFFF,&H00FFFFFF,&H00000000,&H80000000,0,0,0,0,100,100,0,0,1,2,0,2," +
         std::to_string(margin) + "," + std::to_string(margin) + "," + std::to_string(margin) + ",1\n"
         "\n"
         "[Events]\n"
         "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n";
}

bool is_matroska(const AVOutputFormat* format) { return strcmp(format->name, "matroska") == 0; }

bool is_mp4_family(const AVOutputFormat* format) {
  return strstr(format->name, "mp4") != nullptr || strstr(format->name, "mov") != nullptr ||
         strcmp(format->name, "ipod") == 0 || strcmp(format->name, "ismv") == 0;
}

void set_extradata(AVCodecParameters* par, const std::string& bytes) {
  par->extradata = static_cast<uint8_t*>(av_mallocz(bytes.size() + AV_INPUT_BUFFER_PADDING_SIZE));
  if (!par->extradata) throw std::bad_alloc();
  memcpy(par->extradata, bytes.data(), bytes.size());
  par->extradata_size = static_cast<int>(bytes.size());
}

void copy_stream_side_data(const AVStream* from, AVStream* to) {
#if VS_HAVE_CODECPAR_SIDE_DATA
  (void)from;
  (void)to;  // avcodec_parameters_copy() already copied codecpar->coded_side_data
#else
  for (int i = 0; i < from->nb_side_data; ++i) {
    const AVPacketSideData& item = from->side_data[i];
    uint8_t* data = av_stream_new_side_data(to, item.type, item.size);
    if (!data) throw std::bad_alloc();
    memcpy(data, item.data, item.size);
  }
#endif
}

// One text track being written: its output stream and its samples (mov_text: gaps filled).
struct PendingTrack {
  AVStream* stream = nullptr;
  std::vector<TimedText> samples;
  TextCodec codec = TextCodec::MovText;
  size_t next = 0;
};

// A timed text track in mp4 is a sequence of samples, each lasting until the next: a time
// without text is an empty sample. FFmpeg's mp4 muxer inserts those itself, but decides when by
// comparing the track's end with the timestamps of packets of *other* streams in their own time
// bases (FFmpeg 5.1), which leaves zero-length samples between back-to-back ones (ffmpeg -c copy
// then shifts the next sample by a tick). Writing the gaps here, with a track time base at least
// as fine as every other stream's, leaves the muxer nothing to insert but the final end.
std::vector<TimedText> without_gaps(const std::vector<TimedText>& samples) {
  std::vector<TimedText> out;
  out.reserve(samples.size() + 1);
  int64_t end = 0;
  for (const TimedText& sample : samples) {
    if (sample.start_ms > end) out.push_back(TimedText{end, sample.start_ms - end, ""});
    out.push_back(sample);
    end = sample.start_ms + sample.duration_ms;
  }
  return out;
}

void check_samples(const TextTrack& track) {
  int64_t previous = std::numeric_limits<int64_t>::min();
  for (const TimedText& sample : track.samples) {
    if (sample.start_ms <= previous || sample.duration_ms <= 0 || sample.start_ms < 0) {
      throw Error(ErrorKind::InvalidArgument,
                  "text track '" + track.name + "': samples must start at >= 0 ms in strictly increasing order "
                  "and last > 0 ms (sample at " + std::to_string(sample.start_ms) + " ms)");
    }
    previous = sample.start_ms;
  }
}

void write_text_sample(AVFormatContext* output, PendingTrack& pending, const std::string& destination) {
  const TimedText& sample = pending.samples[pending.next];
  const std::string payload =
      pending.codec == TextCodec::MovText
          ? mov_text_sample(sample.text)
          : std::to_string(pending.next) + ",0,Default,,0,0,0,," + ass_text(sample.text);
  UniquePacket packet = make_packet();
  VS_CHECK(av_new_packet(packet.get(), static_cast<int>(payload.size())), ErrorKind::Encoder,
           "cannot allocate a text packet for '" + destination + "'");
  memcpy(packet->data, payload.data(), payload.size());
  packet->stream_index = pending.stream->index;
  // Both ends rescaled, so back-to-back samples stay back to back in any time base.
  packet->pts = packet->dts = av_rescale_q(sample.start_ms, kTextTimeBase, pending.stream->time_base);
  packet->duration =
      av_rescale_q(sample.start_ms + sample.duration_ms, kTextTimeBase, pending.stream->time_base) - packet->pts;
  packet->flags |= AV_PKT_FLAG_KEY;
  packet->pos = -1;
  ++pending.next;
  log::ScopedCapture details;
  const int ret = av_interleaved_write_frame(output, packet.get());
  if (ret < 0) throw_av_error(ret, ErrorKind::Encoder, details.annotate("cannot write a text sample to '" + destination + "'"));
}

}  // namespace

void copy_with_embedding(const std::string& source, const std::string& destination,
                         const TextEmbedding& embedding) {
  for (const TextTrack& track : embedding.tracks) check_samples(track);
  // A stream copy's chatter (the mp4 muxer's second pass, Matroska B-frame packets that carry no
  // dts and get one made up) is not news for the caller: it gets either a complete file or an
  // exception that carries FFmpeg's error lines (captured before the demotion applies).
  log::ScopedDemote quiet;
  UniqueInputFormatContext input = open_input(source, true);

  AVFormatContext* raw_output = nullptr;
  log::ScopedCapture details;
  int ret = avformat_alloc_output_context2(&raw_output, nullptr, nullptr, destination.c_str());
  if (ret < 0 || !raw_output)
    throw_av_error(ret < 0 ? ret : AVERROR(EINVAL), ErrorKind::InvalidArgument,
                   details.annotate("no container for '" + destination + "'"));
  UniqueOutputFormatContext output(raw_output);
  const AVOutputFormat* format = output->oformat;
  const bool matroska = is_matroska(format);
  if (!embedding.tracks.empty() && !matroska && !is_mp4_family(format)) {
    throw Error(ErrorKind::InvalidArgument, std::string("cannot add text tracks to a ") + format->name +
                                                " file ('" + destination + "'): use .mp4, .mov or .mkv");
  }
  if (!embedding.attachments.empty() && !matroska) {
    throw Error(ErrorKind::InvalidArgument, std::string("cannot attach files to a ") + format->name +
                                                " file ('" + destination + "'): only Matroska (.mkv) has attachments");
  }

  std::set<std::string> replaced_tracks, replaced_attachments;
  for (const TextTrack& track : embedding.tracks) replaced_tracks.insert(track.name);
  for (const Attachment& attachment : embedding.attachments) replaced_attachments.insert(attachment.filename);

  // Input stream index -> output stream, or null for streams left out.
  std::vector<AVStream*> mapped(input->nb_streams, nullptr);
  int video_width = embedding.video_width, video_height = embedding.video_height;
  for (unsigned i = 0; i < input->nb_streams; ++i) {
    AVStream* in = input->streams[i];
    const AVMediaType type = in->codecpar->codec_type;
    if (type == AVMEDIA_TYPE_SUBTITLE && replaced_tracks.count(stream_name(in))) continue;
    if (type == AVMEDIA_TYPE_ATTACHMENT && replaced_attachments.count(tag(in, "filename"))) continue;
    if (type != AVMEDIA_TYPE_ATTACHMENT && in->codecpar->codec_id != AV_CODEC_ID_NONE &&
        avformat_query_codec(format, in->codecpar->codec_id, FF_COMPLIANCE_NORMAL) == 0) {
      throw Error(ErrorKind::InvalidArgument,
                  std::string("stream ") + std::to_string(i) + " of '" + source + "' (" +
                      avcodec_get_name(in->codecpar->codec_id) + ") cannot go into a " + format->name + " file");
    }
    if (type == AVMEDIA_TYPE_VIDEO && video_width <= 0 && !(in->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      video_width = in->codecpar->width;
      video_height = in->codecpar->height;
    }
    AVStream* out = avformat_new_stream(output.get(), nullptr);
    if (!out) throw std::bad_alloc();
    VS_CHECK(avcodec_parameters_copy(out->codecpar, in->codecpar), ErrorKind::Encoder, "cannot copy stream parameters");
    // The tag is the source container's name for the codec; the new muxer picks its own.
    out->codecpar->codec_tag = 0;
    out->time_base = in->time_base;
    out->avg_frame_rate = in->avg_frame_rate;
    out->r_frame_rate = in->r_frame_rate;
    out->sample_aspect_ratio = in->sample_aspect_ratio;
    out->disposition = in->disposition;
    av_dict_copy(&out->metadata, in->metadata, 0);
    copy_stream_side_data(in, out);
    mapped[i] = out;
  }
  av_dict_copy(&output->metadata, input->metadata, 0);
  for (unsigned i = 0; i < input->nb_chapters; ++i) {
    const AVChapter* in = input->chapters[i];
    AVChapter** grown = static_cast<AVChapter**>(av_realloc_array(output->chapters, output->nb_chapters + 1,
                                                                   sizeof(AVChapter*)));
    if (!grown) throw std::bad_alloc();
    output->chapters = grown;
    AVChapter* out = static_cast<AVChapter*>(av_mallocz(sizeof(AVChapter)));
    if (!out) throw std::bad_alloc();
    output->chapters[output->nb_chapters++] = out;
    out->id = in->id;
    out->time_base = in->time_base;
    out->start = in->start;
    out->end = in->end;
    av_dict_copy(&out->metadata, in->metadata, 0);
  }

  const TextCodec codec = matroska ? TextCodec::Ass : TextCodec::MovText;
  AVRational text_time_base = kTextTimeBase;
  if (codec == TextCodec::MovText) {
    for (AVStream* out : mapped) {
      if (out && out->time_base.num == 1 && out->time_base.den > text_time_base.den) text_time_base = out->time_base;
    }
  }
  std::vector<PendingTrack> tracks;
  for (const TextTrack& track : embedding.tracks) {
    AVStream* stream = avformat_new_stream(output.get(), nullptr);
    if (!stream) throw std::bad_alloc();
    stream->codecpar->codec_type = AVMEDIA_TYPE_SUBTITLE;
    stream->codecpar->codec_id = codec == TextCodec::Ass ? AV_CODEC_ID_ASS : AV_CODEC_ID_MOV_TEXT;
    set_extradata(stream->codecpar,
                  codec == TextCodec::Ass ? ass_header(video_width, video_height) : mov_text_description());
    stream->time_base = text_time_base;
    stream->disposition = track.shown_by_default ? AV_DISPOSITION_DEFAULT : 0;
    av_dict_set(&stream->metadata, "handler_name", track.name.c_str(), 0);
    if (matroska) av_dict_set(&stream->metadata, "title", track.name.c_str(), 0);
    av_dict_set(&stream->metadata, "language", track.language.c_str(), 0);
    tracks.push_back(PendingTrack{stream, codec == TextCodec::MovText ? without_gaps(track.samples) : track.samples,
                                  codec, 0});
  }
  for (const Attachment& attachment : embedding.attachments) {
    AVStream* stream = avformat_new_stream(output.get(), nullptr);
    if (!stream) throw std::bad_alloc();
    stream->codecpar->codec_type = AVMEDIA_TYPE_ATTACHMENT;
    set_extradata(stream->codecpar, attachment.data);
    av_dict_set(&stream->metadata, "filename", attachment.filename.c_str(), 0);
    av_dict_set(&stream->metadata, "mimetype", attachment.mimetype.c_str(), 0);
  }

  if (!(format->flags & AVFMT_NOFILE)) {
    ret = avio_open2(&output->pb, destination.c_str(), AVIO_FLAG_WRITE, nullptr, nullptr);
    if (ret < 0) throw_av_error(ret, ErrorKind::Encoder, details.annotate("cannot open '" + destination + "'"));
  }
  Dictionary options;
  // As the recorder writes mp4/mov (muxer.cpp): the index first, so the file plays while it downloads.
  if (is_mp4_family(format)) options.set("movflags", "+faststart");
  ret = avformat_write_header(output.get(), options.address());
  if (ret < 0) throw_av_error(ret, ErrorKind::Encoder, details.annotate("cannot write the header of '" + destination + "'"));

  // Copy the packets; each text sample goes in just before the first packet at or after its
  // start, so the new file is interleaved as a muxer fed live would have done it.
  UniquePacket packet = make_packet();
  auto write_text_until = [&](const AVPacket* upto, AVRational upto_base) {
    for (PendingTrack& pending : tracks) {
      while (pending.next < pending.samples.size() &&
             (!upto || av_compare_ts(pending.samples[pending.next].start_ms, kTextTimeBase,
                                     upto->dts, upto_base) <= 0)) {
        write_text_sample(output.get(), pending, destination);
      }
    }
  };
  while (read_packet(input.get(), packet.get(), source)) {
    const int in_index = packet->stream_index;
    AVStream* out = in_index < static_cast<int>(mapped.size()) ? mapped[in_index] : nullptr;
    if (!out) {
      av_packet_unref(packet.get());
      continue;
    }
    const AVRational in_base = input->streams[in_index]->time_base;
    if (packet->dts != AV_NOPTS_VALUE) write_text_until(packet.get(), in_base);
    av_packet_rescale_ts(packet.get(), in_base, out->time_base);
    packet->stream_index = out->index;
    packet->pos = -1;
    ret = av_interleaved_write_frame(output.get(), packet.get());
    if (ret < 0) throw_av_error(ret, ErrorKind::Encoder, details.annotate("cannot write to '" + destination + "'"));
  }
  write_text_until(nullptr, kTextTimeBase);
  ret = av_write_trailer(output.get());
  if (ret < 0) throw_av_error(ret, ErrorKind::Encoder, details.annotate("cannot finish '" + destination + "'"));
  if (output->pb && !(format->flags & AVFMT_NOFILE)) {
    ret = avio_closep(&output->pb);
    if (ret < 0) throw_av_error(ret, ErrorKind::Encoder, "cannot close '" + destination + "'");
  }
}

std::vector<double> video_frame_times(const std::string& path) {
  UniqueInputFormatContext input = open_input(path, false);
  const int video = av_find_best_stream(input.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (video < 0) throw Error(ErrorKind::InvalidArgument, "'" + path + "' has no video stream");
  for (unsigned i = 0; i < input->nb_streams; ++i) {
    if (static_cast<int>(i) != video) input->streams[i]->discard = AVDISCARD_ALL;
  }
  const AVRational base = input->streams[video]->time_base;
  std::vector<double> times;
  UniquePacket packet = make_packet();
  while (read_packet(input.get(), packet.get(), path)) {
    if (packet->stream_index == video) {
      const int64_t stamp = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
      if (stamp != AV_NOPTS_VALUE) times.push_back(stamp * av_q2d(base));
    }
    av_packet_unref(packet.get());
  }
  std::sort(times.begin(), times.end());
  return times;
}

EmbeddedText read_embedded_text(const std::string& path, const std::string& samples_of) {
  UniqueInputFormatContext input = open_input(path, false);
  EmbeddedText result;
  // Input stream index -> index in result.tracks of a track whose samples are wanted.
  std::vector<int> wanted(input->nb_streams, -1);
  std::vector<TextCodec> codecs(input->nb_streams, TextCodec::MovText);
  bool any_wanted = false;
  for (unsigned i = 0; i < input->nb_streams; ++i) {
    AVStream* stream = input->streams[i];
    const AVCodecParameters* par = stream->codecpar;
    stream->discard = AVDISCARD_ALL;
    if (par->codec_type == AVMEDIA_TYPE_ATTACHMENT) {
      Attachment attachment;
      attachment.filename = tag(stream, "filename");
      attachment.mimetype = tag(stream, "mimetype");
      if (par->extradata) attachment.data.assign(reinterpret_cast<const char*>(par->extradata), par->extradata_size);
      result.attachments.push_back(std::move(attachment));
      continue;
    }
    if (par->codec_type != AVMEDIA_TYPE_SUBTITLE) continue;
    const AVCodecDescriptor* descriptor = avcodec_descriptor_get(par->codec_id);
    if (!descriptor || !(descriptor->props & AV_CODEC_PROP_TEXT_SUB)) continue;
    TextTrack track;
    track.name = stream_name(stream);
    const std::string language = tag(stream, "language");
    if (!language.empty()) track.language = language;
    track.shown_by_default = (stream->disposition & AV_DISPOSITION_DEFAULT) != 0;
    if (!samples_of.empty() && track.name == samples_of) {
      wanted[i] = static_cast<int>(result.tracks.size());
      codecs[i] = par->codec_id == AV_CODEC_ID_ASS || par->codec_id == AV_CODEC_ID_SSA ? TextCodec::Ass : TextCodec::MovText;
      stream->discard = AVDISCARD_DEFAULT;
      any_wanted = true;
    }
    result.tracks.push_back(std::move(track));
  }
  if (!any_wanted) return result;
  UniquePacket packet = make_packet();
  while (read_packet(input.get(), packet.get(), path)) {
    const int index = packet->stream_index;
    if (index < static_cast<int>(wanted.size()) && wanted[index] >= 0) {
      const AVStream* stream = input->streams[index];
      const AVCodecParameters* par = stream->codecpar;
      TimedText sample;
      const int64_t stamp = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
      sample.start_ms = stamp == AV_NOPTS_VALUE ? 0 : av_rescale_q(stamp, stream->time_base, kTextTimeBase);
      sample.duration_ms = av_rescale_q(packet->duration, stream->time_base, kTextTimeBase);
      if (codecs[index] == TextCodec::Ass) {
        sample.text = text_from_ass(packet->data, packet->size);
      } else if (par->codec_id == AV_CODEC_ID_MOV_TEXT) {
        sample.text = mov_text_from_sample(packet->data, packet->size);
      } else {
        sample.text.assign(reinterpret_cast<const char*>(packet->data), packet->size);
      }
      // The mp4 muxer ends each timed text sample with an empty one where the next starts later:
      // those are gaps, not samples.
      if (!(packet->size <= 2 && sample.text.empty() && par->codec_id == AV_CODEC_ID_MOV_TEXT))
        result.tracks[wanted[index]].samples.push_back(std::move(sample));
    }
    av_packet_unref(packet.get());
  }
  return result;
}

}  // namespace vistream
