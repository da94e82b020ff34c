#include "hae/file_check.h"

#include <filesystem>

#include "hae/error.h"

namespace hae {

void requireRegularFile(const std::string& path, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);  // follows links, as open() would
  if (!fs::exists(status)) throw Error(path + ": cannot open " + what + ": no such file");
  if (fs::is_directory(status)) throw Error(path + ": " + what + " is a folder, not a file");
  if (!fs::is_regular_file(status))
    throw Error(path + ": " + what + " is not a regular file (a FIFO, socket or device)");
}

}  // namespace hae
