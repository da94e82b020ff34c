// Writes the standard safetensors layout. The file appears under its final name only once it is
// complete (temporary file + fsync + rename), so a crash or a full disk never leaves a truncated
// checkpoint that a later load would half-read.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "hae/error.h"
#include "hae/safetensors.h"

namespace hae {

namespace {

std::string errnoText() {
  return std::strerror(errno);
}

void writeAll(int fd, const void* data, std::size_t n, const std::string& path) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, std::min<std::size_t>(n, 1u << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(path + ": write failed: " + errnoText());
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void checkTensor(const std::string& path, const TensorToWrite& t) {
  if (t.name.empty()) throw Error(path + ": a tensor has an empty name");
  if (t.name == "__metadata__") throw Error(path + ": '__metadata__' is not a tensor name");
  constexpr auto kLimit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t numel = 1;
  for (auto d : t.shape) {
    if (d < 0) throw Error(path + ": tensor '" + t.name + "': shape: negative dimension");
    auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && numel > kLimit / ud)
      throw Error(path + ": tensor '" + t.name + "': shape: element count overflows");
    numel *= ud;
  }
  if (numel > kLimit / dtypeSize(t.dtype) || numel * dtypeSize(t.dtype) != t.nbytes)
    throw Error(path + ": tensor '" + t.name + "': nbytes " + std::to_string(t.nbytes) +
                " does not match shape x " + dtypeName(t.dtype) + " size");
  if (t.nbytes > 0 && t.data == nullptr)
    throw Error(path + ": tensor '" + t.name + "': data is null");
}

std::string buildHeader(const std::string& path, const std::vector<const TensorToWrite*>& sorted,
                        const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps the reference writer's key order (__metadata__ first; dtype, shape,
  // data_offsets), which makes our files byte-comparable with Python-written ones.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    auto& meta = header["__metadata__"];
    meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
  }
  std::uint64_t offset = 0;
  for (const auto* t : sorted) {
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = dtypeName(t->dtype);
    entry["shape"] = t->shape;
    entry["data_offsets"] = {offset, offset + t->nbytes};
    header[t->name] = std::move(entry);
    offset += t->nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw Error(path +
                ": cannot encode the header (names and metadata must be UTF-8): " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps every tensor 8-byte aligned
  return text;
}

}  // namespace

void writeSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> sorted;
  std::set<std::string> seen;
  for (const auto& t : tensors) {
    checkTensor(path, t);
    if (!seen.insert(t.name).second) throw Error(path + ": tensor '" + t.name + "' appears twice");
    sorted.push_back(&t);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorToWrite* a, const TensorToWrite* b) { return a->name < b->name; });
  const std::string header = buildHeader(path, sorted, metadata);

  const std::filesystem::path target(path);
  std::string tmpl =
      (target.parent_path() / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw Error(path + ": cannot create a temporary file: " + errnoText());
  try {
    std::uint64_t len = header.size();
    unsigned char lenBytes[8];
    for (int i = 0; i < 8; ++i) lenBytes[i] = static_cast<unsigned char>(len >> (8 * i));
    writeAll(fd, lenBytes, 8, path);
    writeAll(fd, header.data(), header.size(), path);
    for (const auto* t : sorted) writeAll(fd, t->data, t->nbytes, path);
    ::fchmod(fd, 0644);  // mkstemp creates 0600; checkpoints are ordinary shared files
    if (::fsync(fd) != 0) throw Error(path + ": fsync failed: " + errnoText());
    if (::close(fd) != 0) {
      fd = -1;
      throw Error(path + ": close failed: " + errnoText());
    }
    fd = -1;
    if (::rename(tmpl.c_str(), path.c_str()) != 0)
      throw Error(path + ": cannot rename the temporary file into place: " + errnoText());
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmpl.c_str());
    throw;
  }
}

}  // namespace hae
