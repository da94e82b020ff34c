#pragma once
// Byte-pair encoding as HF tokenizers runs it: lowest-rank merge first (ties: leftmost), with
// SentencePiece-style byte fallback and unknown-token fusing, and Llama-3's ignore_merges.
#include <array>
#include <cstdint>
#include <mutex>

#include "tokenizer/model.h"

namespace hae::tok {

struct BpeOptions {
  std::optional<std::string> unkToken;
  std::optional<std::string> continuingSubwordPrefix;
  std::optional<std::string> endOfWordSuffix;
  bool fuseUnk = false;
  bool byteFallback = false;
  bool ignoreMerges = false;
};

class BpeModel : public Model {
 public:
  // `merges` are (left, right) token pairs in rank order; throws hae::Error through `reader`
  // (naming `mergesPath[i]`) when a pair or its concatenation is not in the vocab.
  BpeModel(std::unordered_map<std::string, int> vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
           const JsonReader& reader, const std::string& mergesPath);

  void tokenize(std::string_view word, std::vector<int>& ids) const override;
  std::optional<int> tokenToId(std::string_view token) const override;
  const std::string* idToToken(int id) const override;
  size_t vocabSize() const override { return vocab_.size(); }
  const std::unordered_map<std::string, int>& vocab() const override { return vocab_; }

 private:
  struct Merge {
    int rank;
    int newId;
  };
  static uint64_t pairKey(int a, int b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  std::vector<int> mergeWord(std::string_view word) const;
  int unkId() const;

  std::unordered_map<std::string, int> vocab_;
  std::unordered_map<int, std::string> reverse_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int, 256> byteIds_{};  // id of "<0xXX>" or -1
  BpeOptions options_;

  // Same policy as HF's cache: words under 256 bytes, stop inserting at 10k entries.
  static constexpr size_t kCacheCapacity = 10000;
  static constexpr size_t kCacheMaxWordBytes = 256;
  mutable std::mutex cacheMutex_;
  mutable std::unordered_map<std::string, std::vector<int>> cache_;
};

std::unique_ptr<Model> loadBpeModel(const Json& json, const JsonReader& reader,
                                    const std::string& path);

}  // namespace hae::tok
