#pragma once
#include <memory>
#include <vector>
// Typed access to tokenizer.json fields. Every failure throws hae::Error naming the source file
// and the JSON path of the field, e.g. "tokenizer.json: model.merges[12]: expected a string".
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hae::tok {

using Json = nlohmann::json;

// Nested Sequence stages recurse; this bounds the stack a hostile file can make us use.
inline constexpr int kMaxNesting = 32;

std::string childPath(const std::string& path, std::string_view key);
std::string indexPath(const std::string& path, size_t index);

class JsonReader {
 public:
  explicit JsonReader(std::string source) : source_(std::move(source)) {}
  const std::string& source() const { return source_; }

  [[noreturn]] void fail(const std::string& path, const std::string& what) const;

  // `obj` must already be an object; these look up `key` and check its type.
  const Json& required(const Json& obj, std::string_view key, const std::string& path) const;
  // nullptr when absent or null.
  const Json* optional(const Json& obj, std::string_view key) const;
  std::string string(const Json& obj, std::string_view key, const std::string& path) const;
  std::optional<std::string> optString(const Json& obj, std::string_view key,
                                       const std::string& path) const;
  bool optBool(const Json& obj, std::string_view key, const std::string& path, bool fallback) const;
  int64_t optInt(const Json& obj, std::string_view key, const std::string& path,
                 int64_t fallback) const;
  // A token id: an integer in [0, 2^31).
  int id(const Json& value, const std::string& path) const;
  // A single Unicode character stored as a string (Rust's `char`).
  char32_t character(const Json& obj, std::string_view key, const std::string& path) const;

  void expectObject(const Json& value, const std::string& path) const;
  void expectArray(const Json& value, const std::string& path) const;
  const std::string& asString(const Json& value, const std::string& path) const;

 private:
  std::string source_;
};

// The parts of a "Sequence" node (normalizers, pre-tokenizers, decoders): each element of the
// list under `key` loaded with `load(element, path, depth + 1)`, none of them null.
template <class Part, class Load>
std::vector<std::unique_ptr<Part>> loadSequenceParts(const Json& json, const JsonReader& reader,
                                                     const std::string& path, std::string_view key,
                                                     const char* what, int depth, Load load) {
  const std::string listPath = childPath(path, key);
  const Json& list = reader.required(json, key, path);
  reader.expectArray(list, listPath);
  std::vector<std::unique_ptr<Part>> parts;
  for (size_t i = 0; i < list.size(); ++i) {
    auto part = load(list[i], indexPath(listPath, i), depth + 1);
    if (!part) reader.fail(indexPath(listPath, i), std::string("expected ") + what + " object");
    parts.push_back(std::move(part));
  }
  return parts;
}

}  // namespace hae::tok
