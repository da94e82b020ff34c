#include "tokenizer/model.h"

#include "tokenizer/bpe_model.h"
#include "tokenizer/wordlevel_model.h"

namespace hae::tok {

std::unordered_map<std::string, int> loadVocab(const Json& json, const JsonReader& reader,
                                               const std::string& path) {
  reader.expectObject(json, path);
  std::unordered_map<std::string, int> vocab;
  vocab.reserve(json.size());
  for (const auto& [token, id] : json.items())
    vocab.emplace(token, reader.id(id, childPath(path, token)));
  return vocab;
}

std::unordered_map<int, std::string> reverseVocab(
    const std::unordered_map<std::string, int>& vocab) {
  std::unordered_map<int, std::string> reverse;
  reverse.reserve(vocab.size());
  for (const auto& [token, id] : vocab) reverse.emplace(id, token);
  return reverse;
}

std::unique_ptr<Model> loadModel(const Json& json, const JsonReader& reader,
                                 const std::string& path) {
  reader.expectObject(json, path);
  std::string type;
  if (const auto t = reader.optString(json, "type", path)) {
    type = *t;
  } else {
    // Older files omit the type; HF then infers it from the fields present.
    type = json.contains("merges") ? "BPE" : "WordLevel";
    if (json.contains("vocab") && json["vocab"].is_array()) type = "Unigram";
    if (json.contains("max_input_chars_per_word")) type = "WordPiece";
  }
  if (type == "BPE") return loadBpeModel(json, reader, path);
  if (type == "WordLevel") return loadWordLevelModel(json, reader, path);
  reader.fail(childPath(path, "type"), "unsupported model type '" + type + "'");
}

}  // namespace hae::tok
