// preprocessor_config.json of a CLIPImageProcessor, with the processor's defaults. "size" and
// "crop_size" come in several historical spellings; this mirrors transformers' get_size_dict.
#include <filesystem>

#include "hae/error.h"
#include "hae/model_config.h"
#include "io/json_fields.h"

namespace hae {

namespace {

using io::JsonFields;
using nlohmann::json;

int readDim(const JsonFields& f, const char* key) {
  int v = 0;
  f.read(key, v);
  if (v <= 0) f.fail(key, "must be a positive integer");
  return v;
}

// "size": int -> shortest edge; {"shortest_edge"}; {"height","width"} or [h, w] -> exact size.
void readSize(const JsonFields& f, ClipImageProcessorConfig& c) {
  const json* v = f.find("size");
  if (!v) return;
  if (v->is_number_integer()) {
    f.read("size", c.shortest_edge);
    if (c.shortest_edge <= 0) f.fail("size", "must be positive");
    return;
  }
  if (v->is_array()) {
    if (v->size() != 2) f.fail("size", "expected [height, width]");
    const json hw = {{"height", (*v)[0]}, {"width", (*v)[1]}};  // JsonFields keeps a reference
    JsonFields pair(hw, f.file(), f.path("size") + ".");
    c.resize_height = readDim(pair, "height");
    c.resize_width = readDim(pair, "width");
    c.shortest_edge = 0;
    return;
  }
  auto size = f.child("size");
  if (size->has("shortest_edge")) {
    c.shortest_edge = readDim(*size, "shortest_edge");
  } else if (size->has("height") && size->has("width")) {
    c.resize_height = readDim(*size, "height");
    c.resize_width = readDim(*size, "width");
    c.shortest_edge = 0;
  } else {
    f.fail("size", "expected shortest_edge, or height and width");
  }
}

// "crop_size": int -> square; {"height","width"}; [h, w].
void readCropSize(const JsonFields& f, ClipImageProcessorConfig& c) {
  const json* v = f.find("crop_size");
  if (!v) return;
  if (v->is_number_integer()) {
    f.read("crop_size", c.crop_height);
    if (c.crop_height <= 0) f.fail("crop_size", "must be positive");
    c.crop_width = c.crop_height;
    return;
  }
  if (v->is_array()) {
    if (v->size() != 2) f.fail("crop_size", "expected [height, width]");
    const json hw = {{"height", (*v)[0]}, {"width", (*v)[1]}};  // JsonFields keeps a reference
    JsonFields pair(hw, f.file(), f.path("crop_size") + ".");
    c.crop_height = readDim(pair, "height");
    c.crop_width = readDim(pair, "width");
    return;
  }
  auto crop = f.child("crop_size");
  if (!crop->has("height") || !crop->has("width")) f.fail("crop_size", "expected height and width");
  c.crop_height = readDim(*crop, "height");
  c.crop_width = readDim(*crop, "width");
}

ClipImageProcessorConfig clipFromJson(const json& root, const std::string& file) {
  JsonFields f(root, file);
  std::string type;
  f.read("image_processor_type", type);
  if (!type.empty() && type != "CLIPImageProcessor" && type != "CLIPImageProcessorFast")
    f.fail("image_processor_type", "expected CLIPImageProcessor, got '" + type + "'");
  ClipImageProcessorConfig c;
  f.read("do_resize", c.do_resize);
  readSize(f, c);
  f.read("resample", c.resample);
  f.read("do_center_crop", c.do_center_crop);
  readCropSize(f, c);
  f.read("do_rescale", c.do_rescale);
  f.read("rescale_factor", c.rescale_factor);
  f.read("do_normalize", c.do_normalize);
  f.read("image_mean", c.image_mean);
  f.read("image_std", c.image_std);
  f.read("do_convert_rgb", c.do_convert_rgb);

  if (c.resample < 0 || c.resample > 5) f.fail("resample", "expected a PIL filter code 0..5");
  if (c.image_mean.size() != 3)
    f.fail("image_mean", "expected 3 values (RGB), got " + std::to_string(c.image_mean.size()));
  if (c.image_std.size() != 3)
    f.fail("image_std", "expected 3 values (RGB), got " + std::to_string(c.image_std.size()));
  for (double s : c.image_std)
    if (s == 0) f.fail("image_std", "contains 0, which would divide by zero");
  return c;
}

}  // namespace

ClipImageProcessorConfig parseClipImageProcessorConfig(const std::string& text,
                                                       const std::string& file) {
  return clipFromJson(io::parseJsonText(text, file), file);
}

ClipImageProcessorConfig loadClipImageProcessorConfig(const std::string& dir) {
  const auto path = (std::filesystem::path(dir) / "preprocessor_config.json").string();
  return clipFromJson(io::readJsonFile(path), path);
}

}  // namespace hae
