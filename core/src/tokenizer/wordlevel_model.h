#pragma once
// WordLevel: each pre-tokenized word is one vocabulary entry or the unknown token. The embedded
// demo model uses it.
#include "tokenizer/model.h"

namespace hae::tok {

class WordLevelModel : public Model {
 public:
  WordLevelModel(std::unordered_map<std::string, int> vocab, std::string unkToken);
  void tokenize(std::string_view word, std::vector<int>& ids) const override;
  std::optional<int> tokenToId(std::string_view token) const override;
  const std::string* idToToken(int id) const override;
  size_t vocabSize() const override { return vocab_.size(); }
  const std::unordered_map<std::string, int>& vocab() const override { return vocab_; }

 private:
  std::unordered_map<std::string, int> vocab_;
  std::unordered_map<int, std::string> reverse_;
  std::string unkToken_;
};

std::unique_ptr<Model> loadWordLevelModel(const Json& json, const JsonReader& reader,
                                          const std::string& path);

}  // namespace hae::tok
