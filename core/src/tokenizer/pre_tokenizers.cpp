#include "tokenizer/pre_tokenizers.h"

#include "tokenizer/unicode.h"

namespace hae::tok {
namespace {

// GPT-2's word pattern, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::shared_ptr<const OnigRegex> sharedRegex(const char* pattern) {
  return std::make_shared<const OnigRegex>(pattern);
}

class SplittingPreTokenizer : public PreTokenizer {
 public:
  SplittingPreTokenizer(SplitPattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void preTokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    for (const auto& p : pieces) splitPiece(p, pattern_, behavior_, invert_, out);
    pieces = std::move(out);
  }

 private:
  SplitPattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void preTokenize(std::vector<Piece>& pieces) const override {
    for (const auto& p : parts_) p->preTokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

enum class PrependScheme { First, Always, Never };

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(char32_t replacement, PrependScheme scheme, bool split)
      : scheme_(scheme),
        split_(split),
        splitter_(SplitPattern::predicate([replacement](char32_t c) { return c == replacement; })) {
    appendUtf8(replacement_, replacement);
  }
  void preTokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    for (auto p : pieces) {
      std::string replaced;
      for (char c : p.text) {
        if (c == ' ')
          replaced += replacement_;
        else
          replaced += c;
      }
      const bool startsWithReplacement =
          replaced.compare(0, replacement_.size(), replacement_) == 0;
      if (!startsWithReplacement &&
          (scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && p.atInputStart)))
        replaced.insert(0, replacement_);
      p.text = std::move(replaced);
      if (split_)
        splitPiece(p, splitter_, SplitBehavior::MergedWithNext, false, out);
      else if (!p.text.empty())
        out.push_back(std::move(p));
    }
    pieces = std::move(out);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
  SplitPattern splitter_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex)
      : addPrefixSpace_(addPrefixSpace), useRegex_(useRegex) {
    if (useRegex_) pattern_ = SplitPattern::regex(sharedRegex(kGpt2Pattern));
  }
  void preTokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> split;
    for (auto p : pieces) {
      if (addPrefixSpace_ && (p.text.empty() || p.text[0] != ' ')) p.text.insert(0, " ");
      if (useRegex_)
        splitPiece(p, pattern_, SplitBehavior::Isolated, false, split);
      else if (!p.text.empty())
        split.push_back(std::move(p));
    }
    for (auto& p : split) p.text = byteLevelEncode(p.text);
    pieces = std::move(split);
  }

 private:
  bool addPrefixSpace_;
  bool useRegex_;
  SplitPattern pattern_ = SplitPattern::literal("");
};

// Bert: whitespace removed, punctuation isolated.
class BertPreTokenizer : public PreTokenizer {
 public:
  void preTokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> words, out;
    for (const auto& p : pieces)
      splitPiece(p, SplitPattern::predicate(isWhitespace), SplitBehavior::Removed, false, words);
    for (const auto& p : words)
      splitPiece(p, SplitPattern::predicate(isPunctuation), SplitBehavior::Isolated, false, out);
    pieces = std::move(out);
  }
};

SplitBehavior loadBehavior(const Json& json, const JsonReader& reader, const std::string& path,
                           SplitBehavior fallback) {
  const auto name = reader.optString(json, "behavior", path);
  if (!name) return fallback;
  if (*name == "Removed") return SplitBehavior::Removed;
  if (*name == "Isolated") return SplitBehavior::Isolated;
  if (*name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (*name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (*name == "Contiguous") return SplitBehavior::Contiguous;
  reader.fail(childPath(path, "behavior"), "unknown split behavior '" + *name + "'");
}

PrependScheme loadPrependScheme(const Json& json, const JsonReader& reader,
                                const std::string& path) {
  if (const auto scheme = reader.optString(json, "prepend_scheme", path)) {
    if (*scheme == "first") return PrependScheme::First;
    if (*scheme == "always") return PrependScheme::Always;
    if (*scheme == "never") return PrependScheme::Never;
    reader.fail(childPath(path, "prepend_scheme"), "expected first, always or never");
  }
  // Files written before prepend_scheme existed carry add_prefix_space instead.
  return reader.optBool(json, "add_prefix_space", path, true) ? PrependScheme::Always
                                                              : PrependScheme::Never;
}

}  // namespace

std::unique_ptr<PreTokenizer> loadPreTokenizer(const Json& json, const JsonReader& reader,
                                               const std::string& path, int depth) {
  if (json.is_null()) return nullptr;
  reader.expectObject(json, path);
  if (depth > kMaxNesting) reader.fail(path, "nested too deeply");
  const std::string type = reader.string(json, "type", path);
  if (type == "Sequence")
    return std::make_unique<SequencePreTokenizer>(loadSequenceParts<PreTokenizer>(
        json, reader, path, "pretokenizers", "a pre-tokenizer", depth,
        [&](const Json& part, const std::string& part_path, int d) { return loadPreTokenizer(part, reader, part_path, d); }));
  if (type == "Metaspace")
    return std::make_unique<MetaspacePreTokenizer>(reader.character(json, "replacement", path),
                                                   loadPrependScheme(json, reader, path),
                                                   reader.optBool(json, "split", path, true));
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPreTokenizer>(
        reader.optBool(json, "add_prefix_space", path, true),
        reader.optBool(json, "use_regex", path, true));
  if (type == "Split")
    return std::make_unique<SplittingPreTokenizer>(
        loadPattern(reader.required(json, "pattern", path), reader, childPath(path, "pattern")),
        loadBehavior(json, reader, path, SplitBehavior::Removed),
        reader.optBool(json, "invert", path, false));
  if (type == "Digits") {
    const bool individual = reader.optBool(json, "individual_digits", path, false);
    return std::make_unique<SplittingPreTokenizer>(
        SplitPattern::predicate(isNumeric),
        individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous, false);
  }
  if (type == "Whitespace")
    return std::make_unique<SplittingPreTokenizer>(
        SplitPattern::regex(sharedRegex(R"(\w+|[^\w\s]+)")), SplitBehavior::Removed, true);
  if (type == "WhitespaceSplit")
    return std::make_unique<SplittingPreTokenizer>(SplitPattern::predicate(isWhitespace),
                                                   SplitBehavior::Removed, false);
  if (type == "Punctuation")
    return std::make_unique<SplittingPreTokenizer>(
        SplitPattern::predicate(isPunctuation),
        loadBehavior(json, reader, path, SplitBehavior::Isolated), false);
  if (type == "CharDelimiterSplit") {
    const char32_t delimiter = reader.character(json, "delimiter", path);
    return std::make_unique<SplittingPreTokenizer>(
        SplitPattern::predicate([delimiter](char32_t c) { return c == delimiter; }),
        SplitBehavior::Removed, false);
  }
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  reader.fail(childPath(path, "type"), "unsupported pre-tokenizer type '" + type + "'");
}

}  // namespace hae::tok
