#pragma once
// A compiled Oniguruma regex. HF tokenizers uses Oniguruma (Ruby syntax, UTF-8) for every
// pattern, so using the same engine keeps \p{L}, \s and lookaheads bit-identical.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hae::tok {

class OnigRegex {
 public:
  // Throws std::invalid_argument with Oniguruma's message when the pattern does not compile.
  // `where` (the JSON path of the pattern in tokenizer.json, if any) goes into search errors.
  explicit OnigRegex(std::string_view pattern, std::string where = {});
  // Non-overlapping matches as byte ranges, in the order the Rust `onig` crate's find_iter yields
  // them (an empty match right after the previous match is skipped by one code point). Throws
  // hae::Error naming the pattern (and where it came from) when Oniguruma gives up, e.g. at its
  // retry limit on a catastrophically backtracking pattern.
  std::vector<std::pair<size_t, size_t>> findAll(std::string_view text) const;

  // The pattern for messages: its first 60 bytes (cut at a character boundary) and "...".
  static std::string shortPattern(std::string_view pattern);

 private:
  struct Compiled;
  std::shared_ptr<Compiled> compiled_;
  std::string pattern_;
  std::string where_;
};

}  // namespace hae::tok
