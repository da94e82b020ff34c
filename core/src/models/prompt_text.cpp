#include "prompt_text.h"

namespace hae {

namespace {

// Tokens of left context for each token's text: enough for a decoder's spacing and for a
// character split over byte tokens, and it keeps long prompts linear.
constexpr std::size_t kContext = 8;

bool isText(const TokenInfo& t) {
  return t.modality == Modality::Prefix || t.modality == Modality::Text;
}

}  // namespace

std::string addedText(const Tokenizer& tokenizer, const std::vector<int>& context, int token) {
  const std::size_t first = context.size() > kContext ? context.size() - kContext : 0;
  std::vector<int> ids(context.begin() + static_cast<std::ptrdiff_t>(first), context.end());
  const std::string before = tokenizer.decode(ids, false);
  ids.push_back(token);
  const std::string after = tokenizer.decode(ids, false);
  return after.starts_with(before) ? after.substr(before.size()) : tokenizer.decode({token}, false);
}

void spaceTextRuns(std::vector<TokenInfo>& tokens, const Tokenizer& tokenizer) {
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (!isText(tokens[i])) continue;
    std::vector<int> context;
    for (std::size_t k = i; k > 0 && i - k < kContext && isText(tokens[k - 1]); --k)
      context.insert(context.begin(), tokens[k - 1].id);
    tokens[i].text = addedText(tokenizer, context, tokens[i].id);
  }
}

}  // namespace hae
