// Memory-maps one .safetensors file read-only: the weights are paged in on first touch and
// shared with the page cache, so a 14 GB checkpoint costs no copy until the torch side converts it.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "hae/error.h"
#include "hae/file_check.h"
#include "hae/safetensors.h"

namespace hae {

namespace {
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};
std::string errnoText() {
  return std::strerror(errno);
}
}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  requireRegularFile(path, "the weights file");  // before open(): a FIFO would block it
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + errnoText());
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(path + ": cannot stat: " + errnoText());
  if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file");

  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  auto size = static_cast<std::size_t>(st.st_size);
  if (size < 8)  // mmap of an empty file fails; let the parser give the usual message
    file->tensors_ = parseSafetensorsHeader(nullptr, size, path, &file->metadata_);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) throw Error(path + ": cannot map: " + errnoText());
  file->map_ = map;  // owned from here on: the destructor unmaps even if parsing throws
  file->mapSize_ = size;
  file->tensors_ =
      parseSafetensorsHeader(static_cast<const std::byte*>(map), size, path, &file->metadata_);
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, mapSize_);
}

}  // namespace hae
