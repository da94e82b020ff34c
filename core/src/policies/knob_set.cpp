#include "knob_set.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "hae/error.h"

namespace hae {

const char* knobTypeName(KnobType type) {
  switch (type) {
    case KnobType::Int:
      return "int";
    case KnobType::Float:
      return "float";
    case KnobType::Bool:
      return "bool";
    case KnobType::Choice:
      return "choice";
  }
  return "?";
}

std::string knobRange(const KnobSpec& spec) {
  switch (spec.type) {
    case KnobType::Int:
      return fmt::format("int in [{}, {}]", static_cast<long long>(spec.min),
                         static_cast<long long>(spec.max));
    case KnobType::Float:
      return fmt::format("float in [{}, {}]", spec.min, spec.max);
    case KnobType::Bool:
      return "bool (true|false)";
    case KnobType::Choice:
      return fmt::format("one of {}", fmt::join(spec.choices, "|"));
  }
  return "";
}

namespace {

bool parseInt(const std::string& text, long long& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

bool parseFloat(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isfinite(out);
}

bool parseBool(const std::string& text, bool& out) {
  if (text == "true" || text == "1" || text == "on" || text == "yes") return out = true, true;
  if (text == "false" || text == "0" || text == "off" || text == "no") return out = false, true;
  return false;
}

}  // namespace

KnobSet::KnobSet(const std::string& policy, const std::vector<KnobSpec>& specs,
                 const std::map<std::string, std::string>& given)
    : policy_(policy), specs_(specs), given_(given) {
  for (const auto& [name, value] : given) {
    bool known = false;
    for (const auto& s : specs_) known = known || s.name == name;
    if (known) continue;
    std::vector<std::string> names;
    for (const auto& s : specs_) names.push_back(s.name);
    throw Error(names.empty() ? fmt::format("policy '{}' has no knobs (got '{}')", policy_, name)
                              : fmt::format("policy '{}' has no knob '{}' (knobs: {})", policy_,
                                            name, fmt::join(names, ", ")));
  }
  for (const auto& s : specs_) {
    auto it = given.find(s.name);
    const std::string text = it == given.end() ? s.default_value : it->second;
    auto bad = [&](const char* what) {
      throw Error(fmt::format("policy '{}': knob '{}' = '{}' {}; valid: {}", policy_, s.name, text,
                              what, knobRange(s)));
    };
    switch (s.type) {
      case KnobType::Int: {
        long long v = 0;
        if (!parseInt(text, v)) bad("is not an integer");
        if (v < s.min || v > s.max) bad("is out of range");
        numbers_[s.name] = static_cast<double>(v);
        text_[s.name] = std::to_string(v);
        break;
      }
      case KnobType::Float: {
        double v = 0;
        if (!parseFloat(text, v)) bad("is not a number");
        if (v < s.min || v > s.max) bad("is out of range");
        numbers_[s.name] = v;
        text_[s.name] = fmt::format("{}", v);
        break;
      }
      case KnobType::Bool: {
        bool v = false;
        if (!parseBool(text, v)) bad("is not a bool");
        numbers_[s.name] = v ? 1 : 0;
        text_[s.name] = v ? "true" : "false";
        break;
      }
      case KnobType::Choice: {
        bool ok = false;
        for (const auto& c : s.choices) ok = ok || c == text;
        if (!ok) bad("is not a valid choice");
        text_[s.name] = text;
        break;
      }
    }
  }
}

const KnobSpec& KnobSet::spec(const std::string& name, KnobType type) const {
  for (const auto& s : specs_)
    if (s.name == name) {
      // A policy reading its own knob with the wrong type is a programming error, not user input.
      if (s.type != type)
        throw Error(fmt::format("policy '{}': knob '{}' is a {}, read as {}", policy_, name,
                                knobTypeName(s.type), knobTypeName(type)));
      return s;
    }
  throw Error(fmt::format("policy '{}' has no knob '{}'", policy_, name));
}

int KnobSet::getInt(const std::string& name) const {
  spec(name, KnobType::Int);
  return static_cast<int>(numbers_.at(name));
}
double KnobSet::getFloat(const std::string& name) const {
  spec(name, KnobType::Float);
  return numbers_.at(name);
}
bool KnobSet::getBool(const std::string& name) const {
  spec(name, KnobType::Bool);
  return numbers_.at(name) != 0;
}
const std::string& KnobSet::getChoice(const std::string& name) const {
  spec(name, KnobType::Choice);
  return text_.at(name);
}

void KnobSet::fail(const std::string& name, const std::string& why) const {
  for (const auto& s : specs_)
    if (s.name == name)
      throw Error(fmt::format("policy '{}': knob '{}' = '{}' {}; valid: {}", policy_, name,
                              text_.at(name), why, knobRange(s)));
  throw Error(fmt::format("policy '{}': knob '{}' {}", policy_, name, why));
}

}  // namespace hae
