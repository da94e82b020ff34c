#include "hae/demo/vocabulary.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "hae/demo/questions.h"

namespace hae::demo {

namespace {

bool isSpace(unsigned char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}
bool isWordChar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c >= 0x80;
}

// Removes "{placeholder}" spans from a phrase template, leaving the words around them.
std::string withoutPlaceholders(const std::string& text) {
  std::string out;
  bool inside = false;
  for (char c : text) {
    if (c == '{') inside = true;
    if (!inside) out += c;
    if (c == '}') {
      inside = false;
      out += ' ';
    }
  }
  return out;
}

std::vector<std::string> buildVocabulary() {
  std::set<std::string> words;  // std::set: sorted by bytes, no duplicates
  for (const std::string& text : phraseTexts())
    for (std::string& w : demoWords(withoutPlaceholders(text))) words.insert(std::move(w));
  for (std::string_view w : kChatWords) words.emplace(w);
  std::vector<std::string> vocab(kSpecialTokens.begin(), kSpecialTokens.end());
  for (const std::string& w : words)
    if (std::find(vocab.begin(), vocab.end(), w) == vocab.end()) vocab.push_back(w);
  return vocab;
}

}  // namespace

const std::vector<std::string>& demoVocabulary() {
  static const std::vector<std::string> vocab = buildVocabulary();
  return vocab;
}

int demoTokenId(std::string_view token) {
  static const std::map<std::string, int, std::less<>> ids = [] {
    std::map<std::string, int, std::less<>> m;
    const auto& vocab = demoVocabulary();
    for (std::size_t i = 0; i < vocab.size(); ++i) m.emplace(vocab[i], static_cast<int>(i));
    return m;
  }();
  const auto it = ids.find(token);
  return it == ids.end() ? -1 : it->second;
}

std::string demoTokenizerJson() {
  using Json = nlohmann::ordered_json;  // keeps key order, so the file is stable byte for byte
  const auto& vocab = demoVocabulary();

  Json added = Json::array();
  for (std::size_t i = 0; i < kSpecialTokens.size(); ++i) {
    added.push_back({{"id", i},
                     {"content", kSpecialTokens[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  Json vocabMap = Json::object();
  for (std::size_t i = 0; i < vocab.size(); ++i) vocabMap[vocab[i]] = i;

  const Json bos = {{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}};
  const Json seqA = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
  const Json seqB = {{"Sequence", {{"id", "B"}, {"type_id", 1}}}};
  const Json postProcessor = {{"type", "TemplateProcessing"},
                              {"single", Json::array({bos, seqA})},
                              {"pair", Json::array({bos, seqA, bos, seqB})},
                              {"special_tokens",
                               {{"<s>",
                                 {{"id", "<s>"},
                                  {"ids", Json::array({demoTokenId("<s>")})},
                                  {"tokens", Json::array({"<s>"})}}}}}};

  const Json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      // Users type capitals; the vocabulary is lower case. Added tokens ("<image>", "</s>") are
      // matched before normalisation, so they keep their case.
      {"normalizer", {{"type", "Lowercase"}}},
      {"pre_tokenizer", {{"type", "Whitespace"}}},
      {"post_processor", postProcessor},
      {"decoder", nullptr},
      {"model", {{"type", "WordLevel"}, {"vocab", vocabMap}, {"unk_token", "<unk>"}}}};
  return tokenizer.dump(2) + "\n";
}

std::vector<std::string> demoWords(std::string_view text) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (isSpace(c)) {
      ++i;
      continue;
    }
    const bool word = isWordChar(c);
    std::size_t j = i + 1;
    while (j < text.size()) {
      const auto d = static_cast<unsigned char>(text[j]);
      if (isSpace(d) || isWordChar(d) != word) break;
      ++j;
    }
    words.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return words;
}

std::string normalizeAnswer(std::string_view text) {
  std::string cleaned(text);
  for (std::string_view special : kSpecialTokens) {
    for (std::size_t at = cleaned.find(special); at != std::string::npos;
         at = cleaned.find(special, at))
      cleaned.replace(at, special.size(), " ");
  }
  for (char& c : cleaned)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  std::vector<std::string> words = demoWords(cleaned);
  while (!words.empty() && std::all_of(words.back().begin(), words.back().end(), [](char c) {
    return c == '.' || c == '?' || c == '!' || c == ',';
  })) {
    words.pop_back();
  }
  std::string out;
  for (const std::string& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

bool answersMatch(std::string_view predicted, std::string_view expected) {
  return normalizeAnswer(predicted) == normalizeAnswer(expected);
}

}  // namespace hae::demo
