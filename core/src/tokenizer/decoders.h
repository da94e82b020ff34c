#pragma once
// tokenizer.json "decoder" stages: turn token strings back into text. Each stage maps the list
// of token strings to a new list; the result is their concatenation (HF's decode_chain).
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_reader.h"

namespace hae::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decodeChain(std::vector<std::string>& tokens) const = 0;
};

// nullptr for a JSON null decoder.
std::unique_ptr<Decoder> loadDecoder(const Json& json, const JsonReader& reader,
                                     const std::string& path, int depth = 0);

}  // namespace hae::tok
