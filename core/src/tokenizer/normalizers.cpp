#include "tokenizer/normalizers.h"

#include <vector>

#include "tokenizer/split.h"
#include "tokenizer/unicode.h"

namespace hae::tok {
namespace {

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  void normalize(std::string& text) const override {
    for (const auto& p : parts_) p->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class AppendNormalizer : public Normalizer {
 public:
  explicit AppendNormalizer(std::string suffix) : suffix_(std::move(suffix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text += suffix_;
  }

 private:
  std::string suffix_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(SplitPattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override { text = pattern_.replaceAll(text, content_); }

 private:
  SplitPattern pattern_;
  std::string content_;
};

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalForm form) : form_(form) {}
  void normalize(std::string& text) const override { text = normalizeUnicode(text, form_); }

 private:
  NormalForm form_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = toLowerCase(text); }
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    const auto cps = toCodePoints(text);
    size_t b = 0, e = cps.size();
    if (left_)
      while (b < e && isWhitespace(cps[b])) ++b;
    if (right_)
      while (e > b && isWhitespace(cps[e - 1])) --e;
    std::string out;
    for (size_t i = b; i < e; ++i) appendUtf8(out, cps[i]);
    text = std::move(out);
  }

 private:
  bool left_, right_;
};

class StripAccentsNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    for (size_t pos = 0; pos < text.size();) {
      const char32_t cp = nextCodePoint(text, pos);
      if (!isCombiningMark(cp)) appendUtf8(out, cp);
    }
    text = std::move(out);
  }
};

class ByteLevelNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = byteLevelEncode(text); }
};

}  // namespace

std::unique_ptr<Normalizer> loadNormalizer(const Json& json, const JsonReader& reader,
                                           const std::string& path, int depth) {
  if (json.is_null()) return nullptr;
  reader.expectObject(json, path);
  if (depth > kMaxNesting) reader.fail(path, "nested too deeply");
  const std::string type = reader.string(json, "type", path);
  if (type == "Sequence")
    return std::make_unique<SequenceNormalizer>(loadSequenceParts<Normalizer>(
        json, reader, path, "normalizers", "a normalizer", depth,
        [&](const Json& part, const std::string& part_path, int d) { return loadNormalizer(part, reader, part_path, d); }));
  if (type == "Prepend")
    return std::make_unique<PrependNormalizer>(reader.string(json, "prepend", path));
  if (type == "Append")
    return std::make_unique<AppendNormalizer>(reader.string(json, "append", path));
  if (type == "Replace") {
    return std::make_unique<ReplaceNormalizer>(
        loadPattern(reader.required(json, "pattern", path), reader, childPath(path, "pattern")),
        reader.string(json, "content", path));
  }
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalForm::NFKD);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Strip")
    return std::make_unique<StripNormalizer>(reader.optBool(json, "strip_left", path, true),
                                             reader.optBool(json, "strip_right", path, true));
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  reader.fail(childPath(path, "type"), "unsupported normalizer type '" + type + "'");
}

}  // namespace hae::tok
