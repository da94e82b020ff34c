// Typed config-key access; see json_fields.h for why absent keys keep defaults.
#include "io/json_fields.h"

#include <fstream>
#include <limits>
#include <sstream>

#include "hae/error.h"
#include "hae/file_check.h"

namespace hae::io {

using nlohmann::json;

nlohmann::json readJsonFile(const std::string& path) {
  requireRegularFile(path, "the JSON file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open (missing or unreadable)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parseJsonText(buffer.str(), path);
}

nlohmann::json parseJsonText(const std::string& text, const std::string& file) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(file + ": invalid JSON: " + e.what());
  }
}

JsonFields::JsonFields(const json& object, std::string file, std::string prefix)
    : object_(object), file_(std::move(file)), prefix_(std::move(prefix)) {
  if (!object_.is_object()) {
    std::string where = prefix_.empty() ? "top level" : prefix_.substr(0, prefix_.size() - 1);
    throw Error(file_ + ": " + where + ": expected an object, got " + object_.type_name());
  }
}

const json* JsonFields::find(const char* key) const {
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool JsonFields::has(const char* key) const {
  return find(key) != nullptr;
}

void JsonFields::fail(const char* key, const std::string& what) const {
  throw Error(file_ + ": " + path(key) + ": " + what);
}

void JsonFields::failType(const char* key, const char* expected, const json& got) const {
  // "number" alone would hide why 4096.0 is refused where an integer is expected.
  std::string gotName = got.is_number_float() ? "number " + got.dump() : got.type_name();
  fail(key, std::string("expected ") + expected + ", got " + gotName);
}

int JsonFields::toInt(const char* key, const json& v) const {
  if (!v.is_number_integer()) failType(key, "an integer", v);
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
      fail(key, "integer " + v.dump() + " is out of range");
    return static_cast<int>(u);
  }
  auto s = v.get<std::int64_t>();
  if (s < std::numeric_limits<int>::min() || s > std::numeric_limits<int>::max())
    fail(key, "integer " + v.dump() + " is out of range");
  return static_cast<int>(s);
}

void JsonFields::read(const char* key, int& out) const {
  const json* v = object_.contains(key) ? &object_.at(key) : nullptr;
  if (!v) return;
  if (v->is_null()) failType(key, "an integer", *v);
  out = toInt(key, *v);
}

void JsonFields::read(const char* key, double& out) const {
  const json* v = object_.contains(key) ? &object_.at(key) : nullptr;
  if (!v) return;
  if (!v->is_number()) failType(key, "a number", *v);
  out = v->get<double>();
}

void JsonFields::read(const char* key, bool& out) const {
  const json* v = object_.contains(key) ? &object_.at(key) : nullptr;
  if (!v) return;
  if (!v->is_boolean()) failType(key, "a boolean", *v);
  out = v->get<bool>();
}

void JsonFields::read(const char* key, std::string& out) const {
  const json* v = object_.contains(key) ? &object_.at(key) : nullptr;
  if (!v) return;
  if (!v->is_string()) failType(key, "a string", *v);
  out = v->get<std::string>();
}

void JsonFields::read(const char* key, std::vector<double>& out) const {
  const json* v = find(key);
  if (!v) return;
  if (!v->is_array()) failType(key, "a list of numbers", *v);
  std::vector<double> values;
  for (std::size_t i = 0; i < v->size(); ++i) {
    const json& e = (*v)[i];
    if (!e.is_number()) {
      std::string indexed = std::string(key) + "[" + std::to_string(i) + "]";
      failType(indexed.c_str(), "a number", e);
    }
    values.push_back(e.get<double>());
  }
  out = std::move(values);
}

void JsonFields::read(const char* key, std::optional<int>& out) const {
  if (!object_.contains(key)) return;
  const json& v = object_.at(key);
  out = v.is_null() ? std::nullopt : std::optional<int>(toInt(key, v));
}

void JsonFields::read(const char* key, std::optional<double>& out) const {
  if (!object_.contains(key)) return;
  const json& v = object_.at(key);
  if (v.is_null()) {
    out.reset();
    return;
  }
  if (!v.is_number()) failType(key, "a number", v);
  out = v.get<double>();
}

void JsonFields::readIntOrList(const char* key, std::vector<int>& out) const {
  if (!object_.contains(key)) return;
  const json& v = object_.at(key);
  if (v.is_null()) {
    out.clear();
    return;
  }
  if (v.is_number_integer()) {
    out = {toInt(key, v)};
    return;
  }
  if (!v.is_array()) failType(key, "an integer or a list of integers", v);
  std::vector<int> values;
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::string indexed = std::string(key) + "[" + std::to_string(i) + "]";
    values.push_back(toInt(indexed.c_str(), v[i]));
  }
  out = std::move(values);
}

std::optional<JsonFields> JsonFields::child(const char* key) const {
  const json* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_object()) failType(key, "an object", *v);
  return JsonFields(*v, file_, prefix_ + key + ".");
}

}  // namespace hae::io
