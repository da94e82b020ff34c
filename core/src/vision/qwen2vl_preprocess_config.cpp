// preprocessor_config.json -> Qwen2VLPreprocessConfig with Qwen2VLImageProcessor's defaults.
#include "hae/error.h"
#include "hae/qwen2vl_preprocess.h"
#include "io/json_fields.h"

namespace hae {

namespace {

void readTriple(const io::JsonFields& f, const char* key, std::array<float, 3>& out) {
  const auto* v = f.find(key);
  if (!v) return;
  if (v->is_number()) {  // transformers broadcasts one number over the channels
    out.fill(static_cast<float>(v->get<double>()));
    return;
  }
  std::vector<double> values;
  f.read(key, values);
  if (values.size() != 3) f.fail(key, "must be a number or a list of 3 numbers");
  for (int c = 0; c < 3; ++c) out[c] = static_cast<float>(values[c]);  // numpy float64 -> float32
}

void readPixels(const io::JsonFields& f, const char* key, long long& out) {
  int value = 0;
  if (!f.has(key)) return;
  f.read(key, value);
  if (value <= 0) f.fail(key, "must be positive, got " + std::to_string(value));
  out = value;
}

}  // namespace

Qwen2VLPreprocessConfig loadQwen2VLPreprocessConfig(const std::string& path) {
  const auto json = io::readJsonFile(path);
  io::JsonFields f(json, path);
  Qwen2VLPreprocessConfig c;
  // size {shortest_edge, longest_edge} holds the pixel bounds; min_pixels / max_pixels override.
  if (auto size = f.child("size")) {
    readPixels(*size, "shortest_edge", c.min_pixels);
    readPixels(*size, "longest_edge", c.max_pixels);
  }
  readPixels(f, "min_pixels", c.min_pixels);
  readPixels(f, "max_pixels", c.max_pixels);
  if (c.min_pixels > c.max_pixels)
    f.fail("min_pixels", std::to_string(c.min_pixels) + " is larger than max_pixels " +
                             std::to_string(c.max_pixels));
  f.read("patch_size", c.patch_size);
  f.read("temporal_patch_size", c.temporal_patch_size);
  f.read("merge_size", c.merge_size);
  for (auto [key, value] : {std::pair<const char*, int>{"patch_size", c.patch_size},
                            {"temporal_patch_size", c.temporal_patch_size},
                            {"merge_size", c.merge_size}})
    if (value <= 0 || value > 1024)
      f.fail(key, "must lie in [1, 1024], got " + std::to_string(value));
  if (f.has("resample")) {
    int resample = 3;
    f.read("resample", resample);
    try {
      c.resample = pilFilterFromInt(resample);
    } catch (const Error&) {
      f.fail("resample", "must be a PIL filter 0..5");
    }
  }
  f.read("do_resize", c.do_resize);
  f.read("do_rescale", c.do_rescale);
  f.read("rescale_factor", c.rescale_factor);
  f.read("do_normalize", c.do_normalize);
  readTriple(f, "image_mean", c.mean);
  readTriple(f, "image_std", c.std);
  for (float s : c.std)
    if (!(s != 0.0f)) f.fail("image_std", "must not contain zero");
  return c;
}

}  // namespace hae
