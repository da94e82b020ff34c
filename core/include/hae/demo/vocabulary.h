#pragma once
// The demo model's closed word-level vocabulary and its Hugging Face tokenizer.json (Lowercase
// normalizer, WordLevel model, Whitespace pre-tokenizer), so "What color is the circle?" encodes
// like the generated "what color is the circle?". Ids are fixed by construction, never by hash
// order: the special tokens first, then every word sorted by bytes.
#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace hae::demo {

// Ids 0..4, in this order (pad = 0 as Hugging Face models expect).
inline constexpr std::array<std::string_view, 5> kSpecialTokens = {"<pad>", "<unk>", "<s>", "</s>",
                                                                   "<image>"};
// The LLaVA-1.5 chat template "USER: <image>\n{question} ASSISTANT: {answer}</s>" as the
// vocabulary holds it: after the Lowercase normalizer, so in lower case.
inline constexpr std::array<std::string_view, 3> kChatWords = {"user", ":", "assistant"};

// Every token in id order; the index of a token is its id.
const std::vector<std::string>& demoVocabulary();
// The id of a token, or -1 when it is not in the vocabulary.
int demoTokenId(std::string_view token);

// The tokenizer.json text (pretty-printed, stable byte for byte).
std::string demoTokenizerJson();

// Splits text the way the Whitespace pre-tokenizer does (\w+|[^\w\s]+): runs of word characters,
// and runs of other non-space characters ("what color?" -> "what" "color" "?"). Bytes >= 0x80 count
// as word characters, as most non-ASCII letters do.
std::vector<std::string> demoWords(std::string_view text);

// For exact-match scoring: special tokens dropped, lower-cased, one space between words, trailing
// punctuation removed ("Two." and "two" match; "a small red circle at the top ." keeps inner dots).
std::string normalizeAnswer(std::string_view text);
bool answersMatch(std::string_view predicted, std::string_view expected);

}  // namespace hae::demo
