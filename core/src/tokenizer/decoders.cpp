#include "tokenizer/decoders.h"

#include "tokenizer/split.h"
#include "tokenizer/unicode.h"

namespace hae::tok {
namespace {

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts)
      : parts_(std::move(parts)) {}
  void decodeChain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decodeChain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(SplitPattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decodeChain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) t = pattern_.replaceAll(t, content_);
  }

 private:
  SplitPattern pattern_;
  std::string content_;
};

// Collects "<0xXX>" tokens into bytes; a run that is not valid UTF-8 becomes one U+FFFD per byte.
class ByteFallbackDecoder : public Decoder {
 public:
  void decodeChain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t byteCount = 0;
    auto flush = [&] {
      if (byteCount == 0) return;
      if (isValidUtf8(bytes)) {
        out.push_back(bytes);
      } else {
        for (size_t i = 0; i < byteCount; ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      bytes.clear();
      byteCount = 0;
    };
    for (auto& t : tokens) {
      int value = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>')
        value = parseHexByte(t.substr(3, 2));
      if (value >= 0) {
        bytes += static_cast<char>(value);
        ++byteCount;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  // Rust's u8::from_str_radix(_, 16), which also accepts a leading '+'.
  static int parseHexByte(std::string_view s) {
    if (!s.empty() && s[0] == '+') s.remove_prefix(1);
    if (s.empty()) return -1;
    int v = 0;
    for (char c : s) {
      int d;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
      else
        return -1;
      v = v * 16 + d;
    }
    return v;
  }
};

class FuseDecoder : public Decoder {
 public:
  void decodeChain(std::vector<std::string>& tokens) const override {
    std::string joined;
    for (const auto& t : tokens) joined += t;
    tokens.assign(1, std::move(joined));
  }
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop)
      : content_(content), start_(start), stop_(stop) {}
  void decodeChain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      const auto cps = toCodePoints(t);
      size_t b = 0;
      while (b < start_ && b < cps.size() && cps[b] == content_) ++b;
      size_t e = cps.size();
      for (size_t i = 0; i < stop_ && e > b && cps[e - 1] == content_; ++i) --e;
      std::string out;
      for (size_t i = b; i < e; ++i) appendUtf8(out, cps[i]);
      t = std::move(out);
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

// Maps GPT-2's printable code points back to bytes; a token with any unmapped character keeps
// its own UTF-8 bytes. The joined bytes are read lossily, as Rust's from_utf8_lossy does.
class ByteLevelDecoder : public Decoder {
 public:
  void decodeChain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      std::string mapped;
      bool ok = true;
      for (size_t pos = 0; pos < t.size() && ok;) {
        const int b = unicodeToByte(nextCodePoint(t, pos));
        if (b < 0)
          ok = false;
        else
          mapped += static_cast<char>(b);
      }
      bytes += ok ? mapped : t;
    }
    tokens.assign(1, utf8Lossy(bytes));
  }
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool dropFirst)
      : replacement_(replacement), dropFirst_(dropFirst) {}
  void decodeChain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const auto& t = tokens[i];
      for (size_t pos = 0; pos < t.size();) {
        const char32_t cp = nextCodePoint(t, pos);
        if (cp != replacement_)
          appendUtf8(out, cp);
        else if (!(i == 0 && dropFirst_))
          out += ' ';
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  char32_t replacement_;
  bool dropFirst_;
};

// Classic BPE: the end-of-word suffix becomes a space except on the last token.
class BpeDecoder : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decodeChain(std::vector<std::string>& tokens) const override {
    if (suffix_.empty()) return;
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string with = i + 1 == tokens.size() ? "" : " ";
      std::string& t = tokens[i];
      std::string out;
      size_t prev = 0;
      for (size_t p = t.find(suffix_); p != std::string::npos; p = t.find(suffix_, prev)) {
        out.append(t, prev, p - prev);
        out += with;
        prev = p + suffix_.size();
      }
      out.append(t, prev, std::string::npos);
      t = std::move(out);
    }
  }

 private:
  std::string suffix_;
};

size_t nonNegative(const Json& json, const char* key, const JsonReader& reader,
                   const std::string& path) {
  const int64_t v = reader.optInt(json, key, path, 0);
  if (v < 0) reader.fail(childPath(path, key), "expected a non-negative integer");
  return static_cast<size_t>(v);
}

}  // namespace

std::unique_ptr<Decoder> loadDecoder(const Json& json, const JsonReader& reader,
                                     const std::string& path, int depth) {
  if (json.is_null()) return nullptr;
  reader.expectObject(json, path);
  if (depth > kMaxNesting) reader.fail(path, "nested too deeply");
  const std::string type = reader.string(json, "type", path);
  if (type == "Sequence")
    return std::make_unique<SequenceDecoder>(loadSequenceParts<Decoder>(
        json, reader, path, "decoders", "a decoder", depth,
        [&](const Json& part, const std::string& part_path, int d) { return loadDecoder(part, reader, part_path, d); }));
  if (type == "Replace")
    return std::make_unique<ReplaceDecoder>(
        loadPattern(reader.required(json, "pattern", path), reader, childPath(path, "pattern")),
        reader.string(json, "content", path));
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip")
    return std::make_unique<StripDecoder>(reader.character(json, "content", path),
                                          nonNegative(json, "start", reader, path),
                                          nonNegative(json, "stop", reader, path));
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    bool dropFirst;
    if (const auto scheme = reader.optString(json, "prepend_scheme", path)) {
      if (*scheme != "first" && *scheme != "always" && *scheme != "never")
        reader.fail(childPath(path, "prepend_scheme"), "expected first, always or never");
      dropFirst = *scheme != "never";
    } else {
      dropFirst = reader.optBool(json, "add_prefix_space", path, true);
    }
    return std::make_unique<MetaspaceDecoder>(reader.character(json, "replacement", path),
                                              dropFirst);
  }
  if (type == "BPEDecoder")
    return std::make_unique<BpeDecoder>(reader.optString(json, "suffix", path).value_or("</w>"));
  reader.fail(childPath(path, "type"), "unsupported decoder type '" + type + "'");
}

}  // namespace hae::tok
