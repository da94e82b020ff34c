#include "tokenizer/wordlevel_model.h"

#include "hae/error.h"

namespace hae::tok {

WordLevelModel::WordLevelModel(std::unordered_map<std::string, int> vocab, std::string unkToken)
    : vocab_(std::move(vocab)), reverse_(reverseVocab(vocab_)), unkToken_(std::move(unkToken)) {}

void WordLevelModel::tokenize(std::string_view word, std::vector<int>& ids) const {
  if (const auto it = vocab_.find(std::string(word)); it != vocab_.end()) {
    ids.push_back(it->second);
    return;
  }
  const auto unk = vocab_.find(unkToken_);
  if (unk == vocab_.end())
    throw Error("tokenizer: WordLevel model has no unknown token '" + unkToken_ + "' in its vocab");
  ids.push_back(unk->second);
}

std::optional<int> WordLevelModel::tokenToId(std::string_view token) const {
  const auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* WordLevelModel::idToToken(int id) const {
  const auto it = reverse_.find(id);
  return it == reverse_.end() ? nullptr : &it->second;
}

std::unique_ptr<Model> loadWordLevelModel(const Json& json, const JsonReader& reader,
                                          const std::string& path) {
  auto vocab = loadVocab(reader.required(json, "vocab", path), reader, childPath(path, "vocab"));
  std::string unk = reader.optString(json, "unk_token", path).value_or("<unk>");
  return std::make_unique<WordLevelModel>(std::move(vocab), std::move(unk));
}

}  // namespace hae::tok
