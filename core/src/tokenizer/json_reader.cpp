#include "tokenizer/json_reader.h"

#include <limits>

#include "hae/error.h"
#include "tokenizer/unicode.h"

namespace hae::tok {

std::string childPath(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string indexPath(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

void JsonReader::fail(const std::string& path, const std::string& what) const {
  throw Error(source_ + ": " + (path.empty() ? std::string() : path + ": ") + what);
}

void JsonReader::expectObject(const Json& value, const std::string& path) const {
  if (!value.is_object()) fail(path, "expected an object");
}

void JsonReader::expectArray(const Json& value, const std::string& path) const {
  if (!value.is_array()) fail(path, "expected an array");
}

const std::string& JsonReader::asString(const Json& value, const std::string& path) const {
  if (!value.is_string()) fail(path, "expected a string");
  return value.get_ref<const std::string&>();
}

const Json& JsonReader::required(const Json& obj, std::string_view key,
                                 const std::string& path) const {
  const auto it = obj.find(key);
  if (it == obj.end()) fail(childPath(path, key), "missing field");
  return *it;
}

const Json* JsonReader::optional(const Json& obj, std::string_view key) const {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string JsonReader::string(const Json& obj, std::string_view key,
                               const std::string& path) const {
  return asString(required(obj, key, path), childPath(path, key));
}

std::optional<std::string> JsonReader::optString(const Json& obj, std::string_view key,
                                                 const std::string& path) const {
  const Json* v = optional(obj, key);
  if (!v) return std::nullopt;
  return asString(*v, childPath(path, key));
}

bool JsonReader::optBool(const Json& obj, std::string_view key, const std::string& path,
                         bool fallback) const {
  const Json* v = optional(obj, key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(childPath(path, key), "expected true or false");
  return v->get<bool>();
}

int64_t JsonReader::optInt(const Json& obj, std::string_view key, const std::string& path,
                           int64_t fallback) const {
  const Json* v = optional(obj, key);
  if (!v) return fallback;
  if (!v->is_number_integer()) fail(childPath(path, key), "expected an integer");
  if (v->is_number_unsigned()) {
    const auto u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(childPath(path, key), "integer too large");
    return static_cast<int64_t>(u);
  }
  return v->get<int64_t>();
}

int JsonReader::id(const Json& value, const std::string& path) const {
  if (!value.is_number_integer()) fail(path, "expected an integer token id");
  if (value.is_number_unsigned()) {
    if (value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int>::max()))
      fail(path, "token id out of range");
    return static_cast<int>(value.get<uint64_t>());
  }
  const auto v = value.get<int64_t>();
  if (v < 0 || v > std::numeric_limits<int>::max()) fail(path, "token id out of range");
  return static_cast<int>(v);
}

char32_t JsonReader::character(const Json& obj, std::string_view key,
                               const std::string& path) const {
  const std::string s = string(obj, key, path);
  if (s.empty() || codePointCount(s) != 1)
    fail(childPath(path, key), "expected a single character");
  size_t pos = 0;
  return nextCodePoint(s, pos);
}

}  // namespace hae::tok
