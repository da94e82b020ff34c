#include "tokenizer/split.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace hae::tok {

SplitPattern SplitPattern::literal(std::string text) {
  SplitPattern p;
  p.literal_ = std::move(text);
  return p;
}

SplitPattern SplitPattern::regex(std::shared_ptr<const OnigRegex> re) {
  SplitPattern p;
  p.regex_ = std::move(re);
  return p;
}

SplitPattern SplitPattern::predicate(std::function<bool(char32_t)> pred) {
  SplitPattern p;
  p.predicate_ = std::move(pred);
  return p;
}

std::string SplitPattern::replaceAll(const std::string& text, const std::string& content) const {
  std::string out;
  size_t prev = 0;
  for (const auto& [s, e] : matchRanges(text)) {
    out.append(text, prev, s - prev);
    out += content;
    prev = e;
  }
  out.append(text, prev, std::string::npos);
  return out;
}

std::vector<std::pair<size_t, size_t>> SplitPattern::matchRanges(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  if (regex_) return regex_->findAll(text);
  if (predicate_) {
    for (size_t pos = 0; pos < text.size();) {
      const size_t start = pos;
      if (predicate_(nextCodePoint(text, pos))) out.emplace_back(start, pos);
    }
    return out;
  }
  // An empty literal matches nothing, as in HF.
  if (literal_.empty()) return out;
  for (size_t pos = text.find(literal_); pos != std::string_view::npos;
       pos = text.find(literal_, pos)) {
    out.emplace_back(pos, pos + literal_.size());
    pos += literal_.size();
  }
  return out;
}

std::vector<Span> SplitPattern::findMatches(std::string_view text) const {
  if (text.empty()) return {{0, 0, false}};
  std::vector<Span> spans;
  size_t prev = 0;
  for (const auto& [s, e] : matchRanges(text)) {
    if (prev != s) spans.push_back({prev, s, false});
    spans.push_back({s, e, true});
    prev = e;
  }
  if (prev != text.size()) spans.push_back({prev, text.size(), false});
  return spans;
}

void splitPiece(const Piece& piece, const SplitPattern& pattern, SplitBehavior behavior,
                bool invert, std::vector<Piece>& out) {
  std::vector<Span> matches = pattern.findMatches(piece.text);
  if (invert)
    for (auto& m : matches) m.isMatch = !m.isMatch;

  // `isMatch` is reused below as "remove this span".
  std::vector<Span> spans;
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (auto m : matches) spans.push_back({m.begin, m.end, false});
      break;
    case SplitBehavior::Removed:
      spans = matches;
      break;
    case SplitBehavior::Contiguous: {
      bool previous = false;
      for (const auto& m : matches) {
        if (m.isMatch == previous && !spans.empty())
          spans.back().end = m.end;
        else
          spans.push_back({m.begin, m.end, false});
        previous = m.isMatch;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous = false;
      for (const auto& m : matches) {
        if (m.isMatch && !previous && !spans.empty())
          spans.back().end = m.end;
        else
          spans.push_back({m.begin, m.end, false});
        previous = m.isMatch;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous = false;
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        if (it->isMatch && !previous && !spans.empty())
          spans.back().begin = it->begin;
        else
          spans.push_back({it->begin, it->end, false});
        previous = it->isMatch;
      }
      std::reverse(spans.begin(), spans.end());
      break;
    }
  }
  for (const auto& s : spans) {
    if (s.isMatch || s.end == s.begin) continue;
    out.push_back(
        {piece.text.substr(s.begin, s.end - s.begin), piece.atInputStart && s.begin == 0});
  }
}

SplitPattern loadPattern(const Json& json, const JsonReader& reader, const std::string& path) {
  reader.expectObject(json, path);
  if (const Json* lit = reader.optional(json, "String"))
    return SplitPattern::literal(reader.asString(*lit, childPath(path, "String")));
  if (const Json* re = reader.optional(json, "Regex")) {
    const std::string& pattern = reader.asString(*re, childPath(path, "Regex"));
    try {
      return SplitPattern::regex(
          std::make_shared<const OnigRegex>(pattern, childPath(path, "Regex")));
    } catch (const std::invalid_argument& e) {
      reader.fail(childPath(path, "Regex"), std::string("invalid regex: ") + e.what());
    }
  }
  reader.fail(path, "expected {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace hae::tok
