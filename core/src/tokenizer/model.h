#pragma once
// The tokenizer.json "model": turns one pre-tokenized word into ids, and owns the base vocabulary.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_reader.h"

namespace hae::tok {

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of `word` (never empty). Throws hae::Error when the word needs an unknown
  // token the model does not have.
  virtual void tokenize(std::string_view word, std::vector<int>& ids) const = 0;
  virtual std::optional<int> tokenToId(std::string_view token) const = 0;
  virtual const std::string* idToToken(int id) const = 0;
  virtual size_t vocabSize() const = 0;
  virtual const std::unordered_map<std::string, int>& vocab() const = 0;
};

std::unique_ptr<Model> loadModel(const Json& json, const JsonReader& reader,
                                 const std::string& path);

// Reads a {token: id} object shared by BPE and WordLevel.
std::unordered_map<std::string, int> loadVocab(const Json& json, const JsonReader& reader,
                                               const std::string& path);
std::unordered_map<int, std::string> reverseVocab(
    const std::unordered_map<std::string, int>& vocab);

}  // namespace hae::tok
