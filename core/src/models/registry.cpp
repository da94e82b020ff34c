// Model families by config.json's model_type.
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "hae/error.h"
#include "hae/file_check.h"
#include "hae/idefics3_config.h"
#include "hae/model_config.h"
#include "hae/phi3_config.h"
#include "idefics3.h"
#include "io/json_fields.h"
#include "llava.h"
#include "phi3v.h"
#include "qwen2vl.h"
#include "weights.h"

namespace hae {

std::int64_t ModelSpec::kvBytesPerToken() const {
  return static_cast<std::int64_t>(2) * num_layers * num_kv_heads * head_dim * c10::elementSize(dtype);
}

ModelSpec decoderSpec(std::string family, std::string name, const TextConfig& t,
                      const LoadOptions& options) {
  ModelSpec spec;
  spec.family = std::move(family);
  spec.name = std::move(name);
  spec.num_layers = t.num_hidden_layers;
  spec.num_heads = t.num_attention_heads;
  spec.num_kv_heads = t.num_key_value_heads;
  spec.head_dim = t.head_dim;
  spec.hidden_size = t.hidden_size;
  spec.vocab_size = t.vocab_size;
  spec.eos_ids = t.eos_token_ids;
  spec.dtype = options.float_dtype;
  spec.device = options.device;
  return spec;
}

std::unique_ptr<VlmModel> loadModel(const std::string& dir, const LoadOptions& options) {
  const std::string type = detectModelType(dir);
  if (type == "llava") return loadLlava(dir, options);
  if (type == "idefics3") return loadIdefics3(dir, options);
  if (type == "phi3" || type == "phi3_v") return loadPhi3(dir, options);
  if (type == "qwen2_vl" || type == "qwen2_5_vl") return loadQwen2VL(dir, options);
  throw Error(fmt::format("{}/config.json: model_type '{}' is not supported (supported: llava, phi3, phi3_v, idefics3, qwen2_vl, qwen2_5_vl)", dir, type));
}

std::unique_ptr<VlmModel> randomModel(const std::string& config_path, const LoadOptions& options,
                                      std::uint64_t seed) {
  requireRegularFile(config_path, "the config file");
  std::ifstream in(config_path);
  if (!in) throw Error(config_path + ": cannot read the config file");
  std::stringstream text;
  text << in.rdbuf();
  const auto json = io::parseJsonText(text.str(), config_path);
  const std::string type = json.is_object() ? json.value("model_type", std::string()) : "";
  // Each family: parse, check the size against this machine's memory, then build.
  if (type == "idefics3") {
    const auto config = parseIdefics3Config(text.str(), config_path);
    checkRandomInitFits(idefics3Manifest(config), options, config_path);
    return randomIdefics3(config, options, seed);
  }
  if (type == "phi3" || type == "phi3_v") {
    const auto config = parsePhi3Config(text.str(), config_path);
    checkRandomInitFits(phi3Manifest(config), options, config_path);
    return randomPhi3(config, options, seed);
  }
  if (type == "qwen2_vl" || type == "qwen2_5_vl") {
    const auto config = parseQwen2VLConfig(text.str(), config_path);
    checkRandomInitFits(qwen2vlManifest(config), options, config_path);
    return randomQwen2VL(config, options, seed);
  }
  const auto config = parseLlavaConfig(text.str(), config_path);
  checkRandomInitFits(llavaManifest(config), options, config_path);
  return randomLlava(config, options, seed);
}

}  // namespace hae
