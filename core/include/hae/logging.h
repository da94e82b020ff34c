#pragma once
#include <string>

namespace hae {

enum class Verbosity { Quiet, Normal, Verbose };

// Routes spdlog to stderr with the chosen level (quiet: errors only; verbose: debug).
void setupLogging(Verbosity v);

}  // namespace hae
