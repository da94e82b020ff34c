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
  explicit OnigRegex(std::string_view pattern);
  // Non-overlapping matches as byte ranges, in the order the Rust `onig` crate's find_iter yields
  // them (an empty match right after the previous match is skipped by one code point).
  std::vector<std::pair<size_t, size_t>> findAll(std::string_view text) const;

 private:
  struct Compiled;
  std::shared_ptr<Compiled> compiled_;
};

}  // namespace hae::tok
