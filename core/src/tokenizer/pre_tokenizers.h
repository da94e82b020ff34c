#pragma once
// tokenizer.json "pre_tokenizer" stages: they cut normalized text into the words the model
// encodes one at a time.
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_reader.h"
#include "tokenizer/split.h"

namespace hae::tok {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their sub-pieces.
  virtual void preTokenize(std::vector<Piece>& pieces) const = 0;
};

// nullptr for a JSON null pre-tokenizer.
std::unique_ptr<PreTokenizer> loadPreTokenizer(const Json& json, const JsonReader& reader,
                                               const std::string& path, int depth = 0);

}  // namespace hae::tok
