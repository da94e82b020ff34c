#pragma once
// Typed access to the keys of a JSON config object. Absent keys leave the caller's default in
// place (that is how transformers' config classes behave); a present key of the wrong type is an
// hae::Error naming the file and the dotted key, e.g. "config.json: text_config.hidden_size:
// expected an integer, got string".
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hae::io {

// Reads and parses a JSON file; hae::Error names the file when it is missing or malformed.
nlohmann::json readJsonFile(const std::string& path);
nlohmann::json parseJsonText(const std::string& text, const std::string& file);

class JsonFields {
 public:
  // `prefix` is the dotted path of `object` inside the file ("" at the top, "text_config." below).
  // Keeps a reference to `object`, which must outlive this reader.
  JsonFields(const nlohmann::json& object, std::string file, std::string prefix = "");
  JsonFields(nlohmann::json&&, std::string, std::string = "") = delete;

  // Present and not null. transformers passes null as None, which means "use the default".
  bool has(const char* key) const;
  const nlohmann::json* find(const char* key) const;  // nullptr when absent or null
  std::string path(const char* key) const { return prefix_ + key; }
  const std::string& file() const { return file_; }

  // Overwrite `out` when the key is present and not null; throw when it has the wrong type.
  void read(const char* key, int& out) const;
  void read(const char* key, double& out) const;
  void read(const char* key, bool& out) const;
  void read(const char* key, std::string& out) const;
  void read(const char* key, std::vector<double>& out) const;
  // Optional targets: null resets to nullopt, because for these keys None is a real value.
  void read(const char* key, std::optional<int>& out) const;
  void read(const char* key, std::optional<double>& out) const;
  // An int or a list of ints (eos_token_id, vision_feature_layer).
  void readIntOrList(const char* key, std::vector<int>& out) const;

  // Nested object, or nullopt when absent or null; throws when present but not an object.
  std::optional<JsonFields> child(const char* key) const;

  [[noreturn]] void fail(const char* key, const std::string& what) const;
  [[noreturn]] void failType(const char* key, const char* expected,
                             const nlohmann::json& got) const;

 private:
  int toInt(const char* key, const nlohmann::json& v) const;
  const nlohmann::json& object_;
  std::string file_;
  std::string prefix_;
};

}  // namespace hae::io
