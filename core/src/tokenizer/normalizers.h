#pragma once
// tokenizer.json "normalizer" stages. They rewrite each text segment between added tokens.
#include <memory>
#include <string>

#include "tokenizer/json_reader.h"

namespace hae::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// nullptr for a JSON null normalizer.
std::unique_ptr<Normalizer> loadNormalizer(const Json& json, const JsonReader& reader,
                                           const std::string& path, int depth = 0);

}  // namespace hae::tok
