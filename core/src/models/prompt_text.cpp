#include "prompt_text.h"

#include <algorithm>

namespace hae {

namespace {

// Tokens of left context for each token's text: enough for a decoder's spacing and for a
// character split over byte tokens, and it keeps long prompts linear.
constexpr std::size_t kContext = 8;

bool isText(const TokenInfo& t) {
  return t.modality == Modality::Prefix || t.modality == Modality::Text;
}

}  // namespace

void spaceTextRuns(std::vector<TokenInfo>& tokens, const Tokenizer& tokenizer) {
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (!isText(tokens[i])) continue;
    std::size_t first = i;
    while (first > 0 && i - first < kContext && isText(tokens[first - 1])) --first;
    std::vector<int> ids;
    for (std::size_t k = first; k < i; ++k) ids.push_back(tokens[k].id);
    const std::string before = tokenizer.decode(ids, false);
    ids.push_back(tokens[i].id);
    const std::string after = tokenizer.decode(ids, false);
    if (after.starts_with(before)) tokens[i].text = after.substr(before.size());
  }
}

}  // namespace hae
