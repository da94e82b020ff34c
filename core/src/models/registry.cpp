// Model families by config.json's model_type.
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "hae/error.h"
#include "hae/model_config.h"
#include "llava.h"

namespace hae {

std::int64_t ModelSpec::kvBytesPerToken() const {
  return static_cast<std::int64_t>(2) * num_layers * num_kv_heads * head_dim * c10::elementSize(dtype);
}

std::unique_ptr<VlmModel> loadModel(const std::string& dir, const LoadOptions& options) {
  const std::string type = detectModelType(dir);
  if (type == "llava") return loadLlava(dir, options);
  throw Error(fmt::format("{}/config.json: model_type '{}' is not supported (supported: llava)", dir, type));
}

std::unique_ptr<VlmModel> randomModel(const std::string& config_path, const LoadOptions& options,
                                      std::uint64_t seed) {
  std::ifstream in(config_path);
  if (!in) throw Error(config_path + ": cannot read the config file");
  std::stringstream text;
  text << in.rdbuf();
  return randomLlava(parseLlavaConfig(text.str(), config_path), options, seed);
}

}  // namespace hae
