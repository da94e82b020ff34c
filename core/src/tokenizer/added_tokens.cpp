#include "tokenizer/added_tokens.h"

#include <algorithm>
#include <limits>

#include "hae/error.h"

#include "tokenizer/model.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/unicode.h"

namespace hae::tok {
namespace {

// regex-syntax's \w test that HF uses for single_word tokens.
bool isWordChar(char32_t cp) {
  return cp == '_' || isAlphanumeric(cp) || isCombiningMark(cp);
}

char32_t lastCodePoint(std::string_view s) {
  size_t start = s.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return nextCodePoint(s, start);
}

}  // namespace

void AddedVocabulary::Matcher::insert(std::string_view pattern, int tokenIndex) {
  int node = 0;
  for (unsigned char c : pattern) {
    const auto it = nodes[node].next.find(c);
    if (it != nodes[node].next.end()) {
      node = it->second;
    } else {
      nodes.emplace_back();
      const int created = static_cast<int>(nodes.size()) - 1;
      nodes[node].next.emplace(c, created);
      node = created;
    }
  }
  // A duplicate pattern keeps the first token, as the first pattern wins in Aho-Corasick.
  if (nodes[node].token < 0) nodes[node].token = tokenIndex;
}

bool AddedVocabulary::Matcher::find(std::string_view text, size_t from, size_t& begin, size_t& end,
                                    int& tokenIndex) const {
  if (nodes.size() == 1) return false;
  for (size_t start = from; start < text.size(); ++start) {
    int node = 0;
    int best = -1;
    size_t bestEnd = 0;
    for (size_t i = start; i < text.size(); ++i) {
      const auto it = nodes[node].next.find(static_cast<unsigned char>(text[i]));
      if (it == nodes[node].next.end()) break;
      node = it->second;
      if (nodes[node].token >= 0) {
        best = nodes[node].token;
        bestEnd = i + 1;
      }
    }
    if (best >= 0) {
      begin = start;
      end = bestEnd;
      tokenIndex = best;
      return true;
    }
  }
  return false;
}

AddedVocabulary::AddedVocabulary(const std::vector<AddedToken>& tokens, const Model& model,
                                 const Normalizer* normalizer) {
  for (const auto& t : tokens)
    if (t.special && !t.content.empty()) specialContents_.insert(t.content);
  const int modelSize = static_cast<int>(model.vocabSize());
  int maxId = -1;
  for (const auto& t : tokens) {
    if (t.content.empty() || byContent_.count(t.content)) continue;
    int id;
    if (const auto existing = model.tokenToId(t.content)) {
      id = *existing;
    } else if (byContent_.empty()) {
      id = modelSize;
    } else {
      if (maxId == std::numeric_limits<int>::max())
        throw Error("tokenizer: added token ids overflow");
      id = (maxId >= modelSize || modelSize == 0) ? maxId + 1 : modelSize;
    }
    maxId = std::max(maxId, id);
    byContent_.emplace(t.content, id);
    byId_[id] = t.content;
    tokens_.push_back(t);
    ids_.push_back(id);
  }
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const auto& t = tokens_[i];
    if (!t.normalized) {
      raw_.insert(t.content, static_cast<int>(i));
      continue;
    }
    std::string pattern = t.content;
    if (normalizer) normalizer->normalize(pattern);
    if (!pattern.empty()) normalized_.insert(pattern, static_cast<int>(i));
  }
}

std::vector<Segment> AddedVocabulary::split(const Matcher& matcher, std::string_view text) const {
  std::vector<Segment> out;
  size_t consumed = 0;
  size_t searchFrom = 0;
  size_t b = 0, e = 0;
  int index = -1;
  while (matcher.find(text, searchFrom, b, e, index)) {
    searchFrom = e;
    const AddedToken& t = tokens_[index];
    if (t.singleWord) {
      const bool wordBefore = b > 0 && isWordChar(lastCodePoint(text.substr(0, b)));
      size_t p = e;
      const bool wordAfter = e < text.size() && isWordChar(nextCodePoint(text, p));
      if (wordBefore || wordAfter) continue;
    }
    if (t.lstrip) {
      size_t s = b;
      while (s > 0) {
        size_t prev = s - 1;
        while (prev > 0 && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) --prev;
        size_t p = prev;
        if (!isWhitespace(nextCodePoint(text, p))) break;
        s = prev;
      }
      // Spaces already eaten by the previous token stay with it.
      b = std::max(s, consumed);
    }
    if (t.rstrip) {
      while (e < text.size()) {
        size_t p = e;
        if (!isWhitespace(nextCodePoint(text, p))) break;
        e = p;
      }
    }
    if (consumed < b) out.push_back({consumed, b, -1});
    out.push_back({b, e, ids_[index]});
    consumed = e;
  }
  if (consumed != text.size()) out.push_back({consumed, text.size(), -1});
  return out;
}

const std::string* AddedVocabulary::idToToken(int id) const {
  const auto it = byId_.find(id);
  return it == byId_.end() ? nullptr : &it->second;
}

std::optional<int> AddedVocabulary::tokenToId(std::string_view token) const {
  const auto it = byContent_.find(std::string(token));
  if (it == byContent_.end()) return std::nullopt;
  return it->second;
}

bool AddedVocabulary::isSpecial(int id) const {
  const std::string* content = idToToken(id);
  return content && specialContents_.count(*content) > 0;
}

std::vector<AddedToken> loadAddedTokens(const Json& json, const JsonReader& reader,
                                        const std::string& path) {
  std::vector<AddedToken> tokens;
  if (json.is_null()) return tokens;
  reader.expectArray(json, path);
  for (size_t i = 0; i < json.size(); ++i) {
    const std::string p = indexPath(path, i);
    const Json& t = json[i];
    reader.expectObject(t, p);
    AddedToken token;
    token.content = reader.string(t, "content", p);
    token.special = reader.optBool(t, "special", p, false);
    token.lstrip = reader.optBool(t, "lstrip", p, false);
    token.rstrip = reader.optBool(t, "rstrip", p, false);
    token.normalized = reader.optBool(t, "normalized", p, !token.special);
    token.singleWord = reader.optBool(t, "single_word", p, false);
    if (const Json* id = reader.optional(t, "id")) reader.id(*id, childPath(p, "id"));
    tokens.push_back(std::move(token));
  }
  return tokens;
}

}  // namespace hae::tok
