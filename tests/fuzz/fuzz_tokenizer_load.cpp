// libFuzzer target: arbitrary bytes as a tokenizer.json. Loading must either succeed or throw
// hae::Error; a loaded tokenizer must encode and decode a short mixed-script string.
#include <cstddef>
#include <cstdint>
#include <string>

#include "hae/error.h"
#include "hae/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto tok = hae::Tokenizer::fromJson(text, "fuzz.json");
    const auto ids =
        tok.encode("Hello  w\xC3\xB6rld 123 <s>\xE6\x9D\xB1 \xF0\x9F\x99\x82\t!", true);
    tok.decode(ids, false);
    tok.decode(ids, true);
    tok.decode({0, 1, 2, 3, -1, 1 << 30}, false);
    tok.idToToken(0);
    tok.vocabSize();
  } catch (const hae::Error&) {
  }
  return 0;
}
