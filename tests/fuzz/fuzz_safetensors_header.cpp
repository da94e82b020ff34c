// libFuzzer target for the safetensors header parser: any byte string must either parse into
// views that lie inside the buffer or raise hae::Error. A crash, a sanitizer report or another
// exception type is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "hae/error.h"
#include "hae/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A heap copy of exactly `size` bytes, so AddressSanitizer flags any read past the end.
  std::vector<std::byte> buffer(size);
  if (size) std::memcpy(buffer.data(), data, size);
  const std::byte* begin = buffer.data();
  try {
    std::map<std::string, std::string> metadata;
    auto views = hae::parseSafetensorsHeader(begin, size, "fuzz.safetensors", &metadata);
    for (const auto& v : views) {
      if (v.nbytes != static_cast<std::size_t>(v.numel()) * hae::dtypeSize(v.dtype)) std::abort();
      if (v.nbytes == 0) continue;
      if (v.data < begin || v.data + v.nbytes > begin + size) std::abort();
      // Touch the first and last byte: ASan reports it if the bounds check above were wrong.
      volatile std::byte first = v.data[0], last = v.data[v.nbytes - 1];
      (void)first;
      (void)last;
    }
  } catch (const hae::Error&) {
    // Rejected input: the expected outcome for most fuzz cases.
  }
  return 0;
}
