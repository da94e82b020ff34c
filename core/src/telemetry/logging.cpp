#include "hae/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace hae {

void setupLogging(Verbosity v) {
  auto logger = spdlog::stderr_color_mt("hae");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%^[%l]%$ %v");
  switch (v) {
    case Verbosity::Quiet: spdlog::set_level(spdlog::level::err); break;
    case Verbosity::Normal: spdlog::set_level(spdlog::level::info); break;
    case Verbosity::Verbose: spdlog::set_level(spdlog::level::debug); break;
  }
}

}  // namespace hae
