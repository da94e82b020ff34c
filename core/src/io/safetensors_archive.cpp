// A model folder's weights as one name -> tensor map, whether saved as one file or as shards
// with model.safetensors.index.json (the layout of every multi-GB Hugging Face checkpoint).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "hae/error.h"
#include "hae/file_check.h"
#include "hae/safetensors.h"

namespace hae {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

json readIndex(const std::string& path) {
  requireRegularFile(path, "the shard index");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
}
}  // namespace

SafetensorsArchive SafetensorsArchive::openFile(const std::string& path) {
  SafetensorsArchive archive;
  archive.source_ = path;
  auto file = SafetensorsFile::open(path);
  for (const auto& t : file->tensors()) archive.tensors_.emplace(t.name, t);
  archive.metadata_ = file->metadata();
  archive.files_.push_back(std::move(file));
  return archive;
}

SafetensorsArchive SafetensorsArchive::openFolder(const std::string& dir) {
  const fs::path folder(dir);
  const fs::path indexPath = folder / kIndexFile;
  std::error_code ec;
  if (!fs::exists(indexPath, ec)) {
    if (fs::exists(folder / kSingleFile, ec)) {
      SafetensorsArchive archive = openFile((folder / kSingleFile).string());
      archive.source_ = dir;
      return archive;
    }
    if (!fs::is_directory(folder, ec)) throw Error(dir + ": not a folder");
    throw Error(dir + ": neither " + std::string(kSingleFile) + " nor " + kIndexFile + " found");
  }

  const std::string indexName = indexPath.string();
  json index = readIndex(indexName);
  if (!index.is_object()) throw Error(indexName + ": expected a JSON object");
  auto mapIt = index.find("weight_map");
  if (mapIt == index.end()) throw Error(indexName + ": weight_map: missing");
  if (!mapIt->is_object()) throw Error(indexName + ": weight_map: expected an object");

  SafetensorsArchive archive;
  archive.source_ = dir;
  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
  for (const auto& [tensor, shardJson] : mapIt->items()) {
    if (!shardJson.is_string())
      throw Error(indexName + ": weight_map." + tensor + ": expected a shard file name");
    const auto& shard = shardJson.get_ref<const std::string&>();
    // Shards live next to the index; a path that leaves the folder is not a shard.
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
      throw Error(indexName + ": weight_map." + tensor + ": '" + shard +
                  "' is not a file name in the folder");
    auto it = shards.find(shard);
    if (it == shards.end()) {
      const fs::path shardPath = folder / shard;
      if (!fs::exists(shardPath, ec))
        throw Error(indexName + ": weight_map." + tensor + ": shard '" + shard +
                    "' does not exist in " + dir);
      it = shards.emplace(shard, SafetensorsFile::open(shardPath.string())).first;
      archive.files_.push_back(it->second);
      for (const auto& [k, v] : it->second->metadata()) archive.metadata_.emplace(k, v);
    }
    const auto& tensors = it->second->tensors();
    // The parser returns tensors in name order, so a binary search finds them.
    auto found = std::lower_bound(
        tensors.begin(), tensors.end(), tensor,
        [](const TensorView& t, const std::string& name) { return t.name < name; });
    if (found == tensors.end() || found->name != tensor)
      throw Error(indexName + ": weight_map." + tensor + ": tensor '" + tensor +
                  "' is absent from its shard " + it->second->path());
    archive.tensors_.emplace(tensor, *found);
  }
  if (auto metaIt = index.find("metadata"); metaIt != index.end() && metaIt->is_object())
    for (const auto& [k, v] : metaIt->items())
      archive.metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return archive;
}

bool SafetensorsArchive::contains(const std::string& name) const {
  return tensors_.count(name) != 0;
}

const TensorView* SafetensorsArchive::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorView& SafetensorsArchive::get(const std::string& name) const {
  if (const auto* t = find(name)) return *t;
  throw Error(source_ + ": tensor '" + name + "' not found");
}

std::vector<std::string> SafetensorsArchive::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, _] : tensors_) out.push_back(name);
  return out;
}

}  // namespace hae
