// Model families by config.json's model_type.
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "hae/error.h"
#include "hae/idefics3_config.h"
#include "hae/model_config.h"
#include "hae/phi3_config.h"
#include "idefics3.h"
#include "io/json_fields.h"
#include "llava.h"
#include "phi3v.h"

namespace hae {

std::int64_t ModelSpec::kvBytesPerToken() const {
  return static_cast<std::int64_t>(2) * num_layers * num_kv_heads * head_dim * c10::elementSize(dtype);
}

std::unique_ptr<VlmModel> loadModel(const std::string& dir, const LoadOptions& options) {
  const std::string type = detectModelType(dir);
  if (type == "llava") return loadLlava(dir, options);
  if (type == "idefics3") return loadIdefics3(dir, options);
  if (type == "phi3" || type == "phi3_v") return loadPhi3(dir, options);
  throw Error(fmt::format("{}/config.json: model_type '{}' is not supported (supported: llava)", dir, type));
}

std::unique_ptr<VlmModel> randomModel(const std::string& config_path, const LoadOptions& options,
                                      std::uint64_t seed) {
  std::ifstream in(config_path);
  if (!in) throw Error(config_path + ": cannot read the config file");
  std::stringstream text;
  text << in.rdbuf();
  const auto json = io::parseJsonText(text.str(), config_path);
  if (json.is_object() && json.value("model_type", std::string()) == "idefics3")
    return randomIdefics3(parseIdefics3Config(text.str(), config_path), options, seed);
  if (json.is_object() && (json.value("model_type", std::string()) == "phi3" ||
                           json.value("model_type", std::string()) == "phi3_v"))
    return randomPhi3(parsePhi3Config(text.str(), config_path), options, seed);
  return randomLlava(parseLlavaConfig(text.str(), config_path), options, seed);
}

}  // namespace hae
