#pragma once
// The pieces a string is cut into before the model sees it, and the one splitting routine that
// every pre-tokenizer uses, mirroring NormalizedString::split of HF tokenizers.
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/json_reader.h"
#include "tokenizer/onig_regex.h"

namespace hae::tok {

struct Piece {
  std::string text;
  // True when the piece starts at byte 0 of the original input: Metaspace's prepend_scheme
  // "first" only adds the meta-space there.
  bool atInputStart = false;
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// A byte range of the text plus whether it is a match of the pattern.
struct Span {
  size_t begin;
  size_t end;
  bool isMatch;
};

// What a Split/Replace stage looks for: a literal string, a regex, or a character predicate.
class SplitPattern {
 public:
  static SplitPattern literal(std::string text);
  static SplitPattern regex(std::shared_ptr<const OnigRegex> re);
  static SplitPattern predicate(std::function<bool(char32_t)> pred);

  // Matches and the gaps between them, covering the whole text (HF's Pattern::find_matches).
  std::vector<Span> findMatches(std::string_view text) const;
  std::vector<std::pair<size_t, size_t>> matchRanges(std::string_view text) const;
  // Every match replaced by `content` (the Replace normalizer and decoder).
  std::string replaceAll(const std::string& text, const std::string& content) const;

 private:
  std::string literal_;
  std::shared_ptr<const OnigRegex> regex_;
  std::function<bool(char32_t)> predicate_;
};

// Cuts `piece` according to `pattern` and `behavior`; empty pieces are dropped.
void splitPiece(const Piece& piece, const SplitPattern& pattern, SplitBehavior behavior,
                bool invert, std::vector<Piece>& out);

// Reads {"String": "..."} or {"Regex": "..."} (the `pattern` field of Split and Replace).
SplitPattern loadPattern(const Json& json, const JsonReader& reader, const std::string& path);

}  // namespace hae::tok
