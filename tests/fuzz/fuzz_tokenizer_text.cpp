// libFuzzer target: arbitrary text through real tokenizers (the files are copied next to the
// binary at configure time; HAE_FUZZ_TOKENIZER_DIR names the folder). Encoding may only throw
// hae::Error; every id must name a token; and what the pipelines promise must hold:
// - llama3 (byte-level BPE, no normalizer): decode(encode(x)) == x, with invalid UTF-8 read as
//   U+FFFD (one per maximal invalid subsequence, as Rust's from_utf8_lossy);
// - qwen3 (byte-level BPE behind NFC): the decoded text is canonically equivalent to x;
// - llama2 (SentencePiece-style BPE with byte fallback): decode(encode(x)) == x when x holds no
//   special token and no U+2581 (the normalizer's space mark, which decodes to a space), and the
//   post-processor adds exactly its BOS;
// - the demo model's WordLevel: encoding the decoded text gives the same ids again.
#include <utf8proc.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "hae/error.h"
#include "hae/tokenizer.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

struct Tokenizers {
  hae::Tokenizer llama3, qwen3, llama2, demo;
};

const Tokenizers& tokenizers() {
  static const Tokenizers t{
      hae::Tokenizer::fromFile(HAE_FUZZ_TOKENIZER_DIR "/llama3.json"),
      hae::Tokenizer::fromFile(HAE_FUZZ_TOKENIZER_DIR "/qwen3.json"),
      hae::Tokenizer::fromFile(HAE_FUZZ_TOKENIZER_DIR "/llama2.json"),
      hae::Tokenizer::fromFile(HAE_FUZZ_TOKENIZER_DIR "/demo_wordlevel.json"),
  };
  return t;
}

// Rust's String::from_utf8_lossy, written out independently of the tokenizer's own helper: each
// maximal prefix of a well-formed sequence that cannot be completed becomes one U+FFFD.
std::string lossyUtf8(const std::string& s) {
  static const char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < n) {
    const unsigned char b = byte(i);
    if (b < 0x80) {
      out += static_cast<char>(b);
      ++i;
      continue;
    }
    int need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      out += kReplacement;
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    bool ok = true;
    for (int k = 0; k < need; ++k, ++j) {
      const unsigned char c = j < n ? byte(j) : 0;
      const unsigned char min = k == 0 ? lo : 0x80, max = k == 0 ? hi : 0xBF;
      if (j >= n || c < min || c > max) {
        ok = false;
        break;
      }
    }
    if (ok) {
      out.append(s, i, j - i);
    } else {
      out += kReplacement;
    }
    i = j;
  }
  return out;
}

std::string nfc(const std::string& s) {
  utf8proc_uint8_t* mapped = nullptr;
  const auto len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                static_cast<utf8proc_ssize_t>(s.size()), &mapped,
                                static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  require(len >= 0);  // the input is valid UTF-8 here
  std::string out(reinterpret_cast<const char*>(mapped), static_cast<std::size_t>(len));
  std::free(mapped);
  return out;
}

void checkIds(const hae::Tokenizer& tok, const std::vector<int>& ids) {
  for (int id : ids) require(id >= 0 && id < tok.vocabSize() && !tok.idToToken(id).empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Tokenizers& t = tokenizers();
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string lossy = lossyUtf8(text);
  try {
    const auto ids = t.llama3.encode(text, false);
    checkIds(t.llama3, ids);
    require(t.llama3.decode(ids, false) == lossy);
    require(t.llama3.encode(text, true) == ids);  // its ByteLevel post-processor adds nothing
  } catch (const hae::Error&) {
  }
  try {
    const auto ids = t.qwen3.encode(text, false);
    checkIds(t.qwen3, ids);
    require(nfc(t.qwen3.decode(ids, false)) == nfc(lossy));
  } catch (const hae::Error&) {
  }
  try {
    const auto ids = t.llama2.encode(text, false);
    checkIds(t.llama2, ids);
    const std::string decoded = t.llama2.decode(ids, false);
    const bool plain =
        lossy.find("\xE2\x96\x81") == std::string::npos && lossy.find("<s>") == std::string::npos &&
        lossy.find("</s>") == std::string::npos && lossy.find("<unk>") == std::string::npos;
    if (plain) require(decoded == lossy);
    auto with_bos = t.llama2.encode(text, true);
    require(!with_bos.empty() && with_bos[0] == t.llama2.tokenToId("<s>"));
    with_bos.erase(with_bos.begin());
    require(with_bos == ids);
  } catch (const hae::Error&) {
  }
  try {
    const auto ids = t.demo.encode(text, false);
    checkIds(t.demo, ids);
    const std::string decoded = t.demo.decode(ids, false);
    require(t.demo.encode(decoded, false) == ids);
    t.demo.decode(ids, true);
  } catch (const hae::Error&) {
  }
  return 0;
}
