// Parses and validates a safetensors header. Every check a hostile or truncated file could fail
// is here, in one torch-free function the fuzzer drives, so the mmap and torch layers can trust
// the offsets they get.
#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "hae/error.h"
#include "hae/safetensors.h"

namespace hae {

namespace {

using nlohmann::json;

// A real header nests three levels deep. Rejecting deep nesting up front keeps a hostile header
// of 100 MB of '[' from costing time and memory in the JSON parser.
constexpr int kMaxJsonDepth = 16;

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw Error(file + ": " + what);
}

[[noreturn]] void failTensor(const std::string& file, const std::string& tensor,
                             const std::string& what) {
  throw Error(file + ": tensor '" + tensor + "': " + what);
}

bool nestingTooDeep(const char* begin, const char* end) {
  int depth = 0;
  bool inString = false;
  for (const char* p = begin; p < end; ++p) {
    char c = *p;
    if (inString) {
      if (c == '\\') {
        if (p + 1 < end) ++p;  // skip the escaped character, which may be a quote
      } else if (c == '"') {
        inString = false;
      }
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

std::string typeName(const json& j) {
  return j.type_name();
}

// Non-negative JSON integer as uint64, or nullopt for anything else (floats, negatives, strings).
std::optional<std::uint64_t> asUnsigned(const json& j) {
  if (j.is_number_unsigned()) return j.get<std::uint64_t>();
  if (j.is_number_integer()) {
    auto v = j.get<std::int64_t>();
    if (v >= 0) return static_cast<std::uint64_t>(v);
  }
  return std::nullopt;
}

std::string describe(const json& j) {
  if (j.is_number_integer() || j.is_number_float()) return j.dump();
  return typeName(j);
}

struct Entry {
  TensorView view;
  std::uint64_t begin = 0, end = 0;
};

Entry parseEntry(const std::string& file, const std::string& name, const json& entry,
                 std::uint64_t dataSize) {
  if (!entry.is_object()) failTensor(file, name, "expected an object, got " + typeName(entry));
  Entry out;
  out.view.name = name;
  out.view.file = file;

  auto dtypeIt = entry.find("dtype");
  if (dtypeIt == entry.end()) failTensor(file, name, "dtype: missing");
  if (!dtypeIt->is_string())
    failTensor(file, name, "dtype: expected a string, got " + typeName(*dtypeIt));
  auto dtype = dtypeFromName(dtypeIt->get_ref<const std::string&>());
  if (!dtype) failTensor(file, name, "dtype: unknown dtype '" + dtypeIt->get<std::string>() + "'");
  out.view.dtype = *dtype;

  auto shapeIt = entry.find("shape");
  if (shapeIt == entry.end()) failTensor(file, name, "shape: missing");
  if (!shapeIt->is_array())
    failTensor(file, name, "shape: expected an array, got " + typeName(*shapeIt));
  // Products are kept below 2^63 so numel() and every byte count fit int64 and size_t.
  constexpr std::uint64_t kLimit =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t numel = 1;
  for (std::size_t i = 0; i < shapeIt->size(); ++i) {
    auto dim = asUnsigned((*shapeIt)[i]);
    if (!dim)
      failTensor(file, name,
                 "shape[" + std::to_string(i) + "]: expected a non-negative integer, got " +
                     describe((*shapeIt)[i]));
    if (*dim > kLimit) failTensor(file, name, "shape[" + std::to_string(i) + "]: too large");
    if (numel != 0 && *dim != 0 && numel > kLimit / *dim)
      failTensor(file, name, "shape: element count overflows");
    numel *= *dim;
    out.view.shape.push_back(static_cast<std::int64_t>(*dim));
  }
  std::uint64_t elemSize = dtypeSize(out.view.dtype);
  if (numel > kLimit / elemSize) failTensor(file, name, "shape: byte count overflows");
  std::uint64_t expectedBytes = numel * elemSize;

  auto offIt = entry.find("data_offsets");
  if (offIt == entry.end()) failTensor(file, name, "data_offsets: missing");
  if (!offIt->is_array() || offIt->size() != 2)
    failTensor(file, name, "data_offsets: expected two integers [begin, end]");
  auto begin = asUnsigned((*offIt)[0]);
  auto end = asUnsigned((*offIt)[1]);
  if (!begin || !end)
    failTensor(file, name, "data_offsets: expected two non-negative integers [begin, end]");
  if (*begin > *end)
    failTensor(
        file, name,
        "data_offsets: begin " + std::to_string(*begin) + " is after end " + std::to_string(*end));
  if (*end > dataSize)
    failTensor(file, name,
               "data_offsets: end " + std::to_string(*end) + " is beyond the data section (" +
                   std::to_string(dataSize) + " bytes)");
  if (*end - *begin != expectedBytes)
    failTensor(file, name,
               "data_offsets: " + std::to_string(*end - *begin) +
                   " bytes, but shape x dtype size needs " + std::to_string(expectedBytes));
  out.begin = *begin;
  out.end = *end;
  out.view.nbytes = static_cast<std::size_t>(expectedBytes);
  return out;
}

void parseMetadata(const std::string& file, const json& meta,
                   std::map<std::string, std::string>* metadata) {
  if (!meta.is_object()) fail(file, "__metadata__: expected an object, got " + typeName(meta));
  for (const auto& [key, value] : meta.items()) {
    if (!value.is_string())
      fail(file, "__metadata__." + key + ": expected a string, got " + typeName(value));
    if (metadata) (*metadata)[key] = value.get<std::string>();
  }
}

}  // namespace

std::vector<TensorView> parseSafetensorsHeader(const std::byte* data, std::size_t size,
                                               const std::string& file,
                                               std::map<std::string, std::string>* metadata) {
  if (size < 8 || data == nullptr)
    fail(file, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  std::uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i)  // little-endian whatever the host
    headerLen = (headerLen << 8) | std::to_integer<std::uint64_t>(data[i]);
  if (headerLen > kMaxSafetensorsHeaderBytes)
    fail(file, "header length " + std::to_string(headerLen) + " exceeds the 100 MB limit");
  if (headerLen > size - 8)
    fail(file, "header length " + std::to_string(headerLen) + " is beyond the end of the file (" +
                   std::to_string(size) + " bytes)");

  const char* text = reinterpret_cast<const char*>(data + 8);
  if (nestingTooDeep(text, text + headerLen)) fail(file, "header: JSON nested too deeply");
  // nlohmann keeps the last of two equal keys; the reference parser refuses the file, and so
  // does this one: two tensors under one name means the file is corrupt or was tampered with.
  json root;
  std::set<std::string> names;
  std::string duplicate;
  const json::parser_callback_t noteDuplicate = [&](int depth, json::parse_event_t event,
                                                    json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && duplicate.empty() &&
        !names.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  try {
    root = json::parse(text, text + headerLen, noteDuplicate);
  } catch (const json::exception& e) {
    fail(file, std::string("header: invalid JSON: ") + e.what());
  }
  if (!duplicate.empty()) failTensor(file, duplicate, "listed twice in the header");
  if (!root.is_object()) fail(file, "header: expected a JSON object, got " + typeName(root));

  const std::uint64_t dataSize = size - 8 - headerLen;
  const std::byte* base = data + 8 + headerLen;
  std::vector<Entry> entries;
  entries.reserve(root.size());
  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") {
      parseMetadata(file, value, metadata);
      continue;
    }
    entries.push_back(parseEntry(file, name, value, dataSize));
  }

  // Overlap check on byte ranges sorted by start; empty tensors occupy nothing.
  std::vector<const Entry*> byOffset;
  for (const auto& e : entries)
    if (e.end > e.begin) byOffset.push_back(&e);
  std::sort(byOffset.begin(), byOffset.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < byOffset.size(); ++i)
    if (byOffset[i]->begin < byOffset[i - 1]->end)
      failTensor(file, byOffset[i]->view.name,
                 "data_offsets: overlaps tensor '" + byOffset[i - 1]->view.name + "'");

  std::vector<TensorView> views;
  views.reserve(entries.size());
  for (auto& e : entries) {
    e.view.data = base + e.begin;
    views.push_back(std::move(e.view));
  }
  return views;  // in name order: nlohmann's object is a sorted map
}

}  // namespace hae
