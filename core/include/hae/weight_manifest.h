#pragma once
// The tensors a config.json implies, known before any module is built: the loader checks a
// checkpoint's safetensors headers against them and the machine's memory against their size, so
// a wrong or hostile config is refused in milliseconds, naming the key, instead of failing inside
// LibTorch's allocator after building gigabytes of modules.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hae/idefics3_config.h"
#include "hae/model_config.h"
#include "hae/phi3_config.h"

namespace hae {

class SafetensorsArchive;

struct ExpectedTensor {
  std::string name;                 // as stored in the checkpoint
  std::vector<std::int64_t> shape;  // what the config implies
  std::string keys;                 // the config keys that set the shape, for messages
};

std::vector<ExpectedTensor> llavaManifest(const LlavaConfig& config);
std::vector<ExpectedTensor> phi3Manifest(const Phi3Config& config);
std::vector<ExpectedTensor> idefics3Manifest(const Idefics3Config& config);

// Every expected tensor is in the archive with that shape and a float dtype; otherwise an
// hae::Error naming the file, the tensor and the config keys behind the expected shape.
void checkCheckpointAgainstConfig(const std::vector<ExpectedTensor>& expected,
                                  const SafetensorsArchive& archive, const std::string& config_file);

// Refuses (hae::Error) a model whose weights at `bytes_per_element`, plus working memory for the
// cache and activations, exceed the memory this process can get. `what` names the source of the
// shapes (a config.json path).
void checkModelFitsMemory(const std::vector<ExpectedTensor>& expected, int bytes_per_element,
                          const std::string& dtype_name, const std::string& what);

// Bytes this process can still allocate: MemAvailable, lowered by a cgroup limit when one is
// set; nullopt where neither can be read.
std::optional<std::uint64_t> availableMemoryBytes();

}  // namespace hae
