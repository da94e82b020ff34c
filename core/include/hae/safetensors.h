#pragma once
// Reading and writing the safetensors format without LibTorch: the torch side wraps TensorView's
// bytes with from_blob and keeps the archive alive for as long as the tensors use the mapping.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hae {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };

std::size_t dtypeSize(DType dtype);
const char* dtypeName(DType dtype);  // the safetensors spelling: "F32", "BF16", "BOOL", ...
std::optional<DType> dtypeFromName(std::string_view name);

// One tensor inside a memory-mapped file. `data` stays valid while the SafetensorsFile (or the
// archive holding it) lives. It is not necessarily aligned to the element size: a header whose
// length is not a multiple of 8 shifts every tensor, so copy before using it as a typed array.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const std::byte* data = nullptr;
  std::size_t nbytes = 0;
  std::string file;  // the file it came from, for error messages

  std::int64_t numel() const;
};

// Largest header the reader accepts, as the reference implementation does: a bigger one is a
// corrupt or hostile file, not a model.
inline constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Parses and validates the header of a whole safetensors file held in [data, data + size). The
// views point into that buffer. `file` only names the source in error messages. Throws
// hae::Error for every malformed input; never reads outside the buffer.
std::vector<TensorView> parseSafetensorsHeader(
    const std::byte* data, std::size_t size, const std::string& file,
    std::map<std::string, std::string>* metadata = nullptr);

// One memory-mapped .safetensors file with its parsed header.
class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  std::size_t mapSize_ = 0;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// The weights of one model folder: `model.safetensors`, or the shards that
// `model.safetensors.index.json` names. Copies share the mapped files.
class SafetensorsArchive {
 public:
  // Prefers the index when both exist, as transformers does.
  static SafetensorsArchive openFolder(const std::string& dir);
  static SafetensorsArchive openFile(const std::string& path);

  bool contains(const std::string& name) const;
  // Throws hae::Error naming the tensor and the folder (or file) when absent.
  const TensorView& get(const std::string& name) const;
  const TensorView* find(const std::string& name) const;  // nullptr when absent
  std::vector<std::string> names() const;                 // sorted
  std::size_t size() const { return tensors_.size(); }
  // The files' __metadata__; for a sharded folder also the index's "metadata" (e.g. total_size),
  // non-string values written as JSON text.
  std::map<std::string, std::string> metadata() const { return metadata_; }
  const std::string& source() const { return source_; }  // folder or file, for messages

 private:
  std::string source_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;
  std::size_t nbytes = 0;
};

// Writes the standard format (tensors ordered by name, header padded with spaces to a multiple of
// 8, optional __metadata__) atomically: a temporary file in the same folder, then a rename, so an
// interrupted write never leaves a half file under the final name.
void writeSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace hae
