// preprocessor_config.json -> Idefics3PreprocessConfig, with Idefics3ImageProcessor's constructor
// defaults for absent keys (SmolVLM's file sets all of them).
#include "hae/error.h"
#include "hae/idefics3_preprocess.h"
#include "io/json_fields.h"

namespace hae {

namespace {

// size / max_image_size are {"longest_edge": n}; the processor rejects other shapes for them.
int readLongestEdge(const io::JsonFields& f, const char* key, int fallback) {
  auto child = f.child(key);
  if (!child) return fallback;
  if (!child->has("longest_edge")) f.fail(key, "must be {\"longest_edge\": n}");
  int value = fallback;
  child->read("longest_edge", value);
  if (value <= 0) child->fail("longest_edge", "must be positive, got " + std::to_string(value));
  return value;
}

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

}  // namespace

Idefics3PreprocessConfig loadIdefics3PreprocessConfig(const std::string& path) {
  const auto json = io::readJsonFile(path);
  io::JsonFields f(json, path);
  Idefics3PreprocessConfig c;
  f.read("do_resize", c.do_resize);
  c.longest_edge = readLongestEdge(f, "size", c.longest_edge);
  c.tile_size = readLongestEdge(f, "max_image_size", c.tile_size);
  f.read("do_image_splitting", c.do_image_splitting);
  if (f.has("resample")) {
    int resample = 1;
    f.read("resample", resample);
    try {
      c.resample = pilFilterFromInt(resample);
    } catch (const Error&) {
      f.fail("resample", "must be a PIL filter 0..5");
    }
  }
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
