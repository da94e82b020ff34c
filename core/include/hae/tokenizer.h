#pragma once
// Hugging Face tokenizer.json tokenizers without Python or Rust: BPE (SentencePiece-style with
// byte fallback, and GPT-2 byte-level) and WordLevel models with the normalizers, pre-tokenizers,
// post-processors and decoders that current VLM checkpoints use. Ids match the Rust `tokenizers`
// library exactly (tests/data/tokenizers/cases.json is the reference).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hae {

class Tokenizer {
 public:
  // Both throw hae::Error naming the file and the JSON field at fault.
  static Tokenizer fromFile(const std::string& path);
  static Tokenizer fromJson(const std::string& json_text, const std::string& source_name);

  // Special tokens written in `text` are matched even when add_special_tokens is false (as HF
  // does); the flag only controls what the post-processor adds (BOS and the like). Invalid UTF-8
  // is read as U+FFFD. Throws hae::Error when the text needs an unknown token the model lacks.
  std::vector<int> encode(std::string_view text, bool add_special_tokens = true) const;
  // Unknown ids are skipped.
  std::string decode(const std::vector<int>& ids, bool skip_special_tokens = false) const;

  std::string idToToken(int id) const;          // "" when out of range
  int tokenToId(std::string_view token) const;  // -1 when absent
  int vocabSize() const;                        // distinct tokens, including added tokens
  bool isSpecial(int id) const;                 // an added token marked "special"
  const std::string& sourceName() const;

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  // Shared and immutable, so copies are cheap and encode/decode may run on several threads.
  std::shared_ptr<const Impl> impl_;
};

}  // namespace hae
