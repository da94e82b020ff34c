#pragma once
// SessionOptions' model fields as the loader takes them, shared by Session and `hae profile`.
#include <memory>

#include "../models/vlm_model.h"
#include "hae/session.h"

namespace hae {

// Throws hae::Error naming the flag for an unknown dtype or device, or fp16 without CUDA.
LoadOptions loadOptionsFor(const SessionOptions& options);

// The model the options name: a folder, the embedded demo model, or a random-init config.
std::shared_ptr<VlmModel> loadSessionModel(const SessionOptions& options);

}  // namespace hae
