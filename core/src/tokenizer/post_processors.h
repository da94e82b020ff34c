#pragma once
// tokenizer.json "post_processor": adds the special tokens (BOS, CLS/SEP, ...) around an encoded
// single sequence when add_special_tokens is true.
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_reader.h"

namespace hae::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<int>& ids, bool addSpecialTokens) const = 0;
};

// nullptr for a JSON null post-processor.
std::unique_ptr<PostProcessor> loadPostProcessor(const Json& json, const JsonReader& reader,
                                                 const std::string& path, int depth = 0);

}  // namespace hae::tok
