// generation_config.json -> GenerationConfig with transformers' GenerationConfig defaults.
#include <filesystem>

#include "hae/error.h"
#include "hae/model_config.h"
#include "io/json_fields.h"

namespace hae {

namespace {

GenerationConfig generationFromJson(const nlohmann::json& json, const std::string& file) {
  io::JsonFields f(json, file);
  GenerationConfig g;
  f.read("bos_token_id", g.bos_token_id);
  f.readIntOrList("eos_token_id", g.eos_token_ids);
  f.read("pad_token_id", g.pad_token_id);
  f.read("max_length", g.max_length);
  f.read("max_new_tokens", g.max_new_tokens);
  f.read("do_sample", g.do_sample);
  f.read("temperature", g.temperature);
  f.read("top_k", g.top_k);
  f.read("top_p", g.top_p);
  f.read("repetition_penalty", g.repetition_penalty);
  if (g.max_length <= 0) f.fail("max_length", "must be positive");
  if (g.max_new_tokens && *g.max_new_tokens < 0) f.fail("max_new_tokens", "must not be negative");
  if (g.temperature < 0) f.fail("temperature", "must not be negative");
  if (g.top_k < 0) f.fail("top_k", "must not be negative");
  if (!(g.top_p > 0 && g.top_p <= 1)) f.fail("top_p", "must lie in (0, 1]");
  if (!(g.repetition_penalty > 0)) f.fail("repetition_penalty", "must be positive");
  return g;
}

}  // namespace

GenerationConfig parseGenerationConfig(const std::string& text, const std::string& file) {
  return generationFromJson(io::parseJsonText(text, file), file);
}

std::optional<GenerationConfig> loadGenerationConfig(const std::string& dir) {
  const auto path = std::filesystem::path(dir) / "generation_config.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  return generationFromJson(io::readJsonFile(path.string()), path.string());
}

}  // namespace hae
