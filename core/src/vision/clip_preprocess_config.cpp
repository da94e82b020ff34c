// preprocessor_config.json -> ClipPreprocessConfig, with CLIPImageProcessor's constructor defaults
// (not llava's) for absent keys, because that is what transformers would use for such a file.
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "hae/clip_preprocess.h"
#include "hae/error.h"
#include "hae/file_check.h"

namespace hae {
namespace {

using nlohmann::json;

struct Context {
  const std::string& path;
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error("preprocessor config '" + path + "': key '" + key + "' " + what);
  }
};

bool present(const json& j, const char* key) {
  return j.contains(key) && !j.at(key).is_null();
}

bool readBool(const json& j, const char* key, bool fallback, const Context& ctx) {
  if (!present(j, key)) return fallback;
  if (!j.at(key).is_boolean()) ctx.fail(key, "must be true or false");
  return j.at(key).get<bool>();
}

// Sizes above 8192 px are no vision tower's: a 65536 px crop would need 51 GB of floats.
constexpr long long kMaxSidePixels = 8192;

int readPositiveInt(const json& j, const char* key, const Context& ctx) {
  if (!j.at(key).is_number_integer() || j.at(key).get<long long>() <= 0 ||
      j.at(key).get<long long>() > kMaxSidePixels) {
    ctx.fail(key, "must be a positive integer up to " + std::to_string(kMaxSidePixels));
  }
  return j.at(key).get<int>();
}

std::array<float, 3> readTriple(const json& j, const char* key, std::array<float, 3> fallback,
                                const Context& ctx) {
  if (!present(j, key)) return fallback;
  const json& v = j.at(key);
  // transformers broadcasts a single number over the channels.
  if (v.is_number()) {
    const float f = static_cast<float>(v.get<double>());
    return {f, f, f};
  }
  if (!v.is_array() || v.size() != 3) ctx.fail(key, "must be a number or a list of 3 numbers");
  std::array<float, 3> out{};
  for (int c = 0; c < 3; ++c) {
    if (!v[c].is_number()) ctx.fail(key, "must hold numbers");
    out[c] = static_cast<float>(v[c].get<double>());  // numpy's float64 -> float32 rounding
  }
  return out;
}

// get_size_dict(size, default_to_square=False): an int means the shortest edge; a [h, w] list or
// {"height", "width"} means an exact size.
void readResizeSize(const json& j, ClipPreprocessConfig& cfg, const Context& ctx) {
  cfg.shortest_edge = 224;
  cfg.resize_width = cfg.resize_height = 0;
  if (!present(j, "size")) return;
  const json& s = j.at("size");
  if (s.is_number_integer()) {
    json wrapped = {{"shortest_edge", s}};
    cfg.shortest_edge = readPositiveInt(wrapped, "shortest_edge", ctx);
  } else if (s.is_array() && s.size() == 2) {
    json wrapped = {{"height", s[0]}, {"width", s[1]}};
    cfg.resize_height = readPositiveInt(wrapped, "height", ctx);
    cfg.resize_width = readPositiveInt(wrapped, "width", ctx);
    cfg.shortest_edge = 0;
  } else if (s.is_object() && s.contains("shortest_edge")) {
    cfg.shortest_edge = readPositiveInt(s, "shortest_edge", ctx);
  } else if (s.is_object() && s.contains("height") && s.contains("width")) {
    cfg.resize_height = readPositiveInt(s, "height", ctx);
    cfg.resize_width = readPositiveInt(s, "width", ctx);
    cfg.shortest_edge = 0;
  } else {
    ctx.fail("size",
             "must be an integer, [height, width], {\"shortest_edge\"} or "
             "{\"height\", \"width\"}");
  }
  // Legacy flag that older CLIP configs carry: square resize to the shortest edge.
  if (readBool(j, "use_square_size", false, ctx) && cfg.shortest_edge > 0) {
    cfg.resize_width = cfg.resize_height = cfg.shortest_edge;
  }
}

// get_size_dict(crop_size, default_to_square=True): an int means a square.
void readCropSize(const json& j, ClipPreprocessConfig& cfg, const Context& ctx) {
  cfg.crop_width = cfg.crop_height = 224;
  if (!present(j, "crop_size")) return;
  const json& s = j.at("crop_size");
  if (s.is_number_integer()) {
    json wrapped = {{"crop_size", s}};
    cfg.crop_width = cfg.crop_height = readPositiveInt(wrapped, "crop_size", ctx);
  } else if (s.is_array() && s.size() == 2) {
    json wrapped = {{"height", s[0]}, {"width", s[1]}};
    cfg.crop_height = readPositiveInt(wrapped, "height", ctx);
    cfg.crop_width = readPositiveInt(wrapped, "width", ctx);
  } else if (s.is_object() && s.contains("height") && s.contains("width")) {
    cfg.crop_height = readPositiveInt(s, "height", ctx);
    cfg.crop_width = readPositiveInt(s, "width", ctx);
  } else {
    ctx.fail("crop_size", "must be an integer, [height, width] or {\"height\", \"width\"}");
  }
}

}  // namespace

ClipPreprocessConfig loadClipPreprocessConfig(const std::string& path) {
  requireRegularFile(path, "the preprocessor config");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open preprocessor config '" + path + "'");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw Error("preprocessor config '" + path + "' is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error("preprocessor config '" + path + "' is not a JSON object");
  const Context ctx{path};

  ClipPreprocessConfig cfg;
  readResizeSize(j, cfg, ctx);
  readCropSize(j, cfg, ctx);
  cfg.do_resize = readBool(j, "do_resize", true, ctx);
  cfg.do_center_crop = readBool(j, "do_center_crop", true, ctx);
  cfg.do_rescale = readBool(j, "do_rescale", true, ctx);
  cfg.do_normalize = readBool(j, "do_normalize", true, ctx);
  if (present(j, "rescale_factor")) {
    if (!j.at("rescale_factor").is_number()) ctx.fail("rescale_factor", "must be a number");
    cfg.rescale_factor = j.at("rescale_factor").get<double>();
  }
  cfg.mean = readTriple(j, "image_mean", {0.48145466f, 0.4578275f, 0.40821073f}, ctx);
  cfg.std = readTriple(j, "image_std", {0.26862954f, 0.26130258f, 0.27577711f}, ctx);
  for (float s : cfg.std) {
    if (!(s != 0.0f)) ctx.fail("image_std", "must not contain zero");
  }
  cfg.resample = PilFilter::bicubic;
  if (present(j, "resample")) {
    if (!j.at("resample").is_number_integer()) ctx.fail("resample", "must be an integer 0..5");
    try {
      cfg.resample = pilFilterFromInt(j.at("resample").get<int>());
    } catch (const Error&) {
      ctx.fail("resample", "must be a PIL filter 0..5");
    }
  }
  return cfg;
}

}  // namespace hae
