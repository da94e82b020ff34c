#pragma once
// Every input file is checked to be a regular file before it is opened: opening a FIFO blocks
// until some other process writes to it, so `hae` would wait forever on a mistyped path.
#include <string>

namespace hae {

// Throws hae::Error "<path>: <what> is a folder, not a file" (or "... is not a regular file
// (a FIFO, socket or device)", or "<path>: cannot open <what>: no such file") unless `path` is a regular file or a
// link to one.
void requireRegularFile(const std::string& path, const std::string& what);

}  // namespace hae
